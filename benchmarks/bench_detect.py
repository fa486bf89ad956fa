"""Detector speed: ONNX inference per 1024² image (2 intra-op threads) and cold `forensics verify` wall time.

Prints its figures; no assertions. Run: `.venv/bin/python benchmarks/bench_detect.py [--model DIR] [--image F]`.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None)
    ap.add_argument("--image", default=None, help="a photo for the cold-verify run (default: synthetic 1024² JPEG)")
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()

    t0 = time.perf_counter()
    from forensics.detect.inference import Detector

    det = Detector.from_pretrained(args.model)
    load_ms = (time.perf_counter() - t0) * 1000
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (1024, 1024, 3), dtype=np.uint8)
    det.score(img)  # warm-up
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        s = det.score(img)
        times.append((time.perf_counter() - t) * 1000)
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}")
    print(f"model {det.name}: patch {det.patch}, {s.patches} patches per 1024² image")
    print(f"import + load ONNX session: {load_ms:.0f} ms")
    print(f"score 1024x1024: median {statistics.median(times):.1f} ms, min {min(times):.1f} ms, "
          f"max {max(times):.1f} ms over {args.repeats} runs")

    with tempfile.TemporaryDirectory() as td:
        path = args.image
        if path is None:
            import cv2

            path = str(Path(td) / "photo.jpg")
            cv2.imwrite(path, cv2.GaussianBlur(img, (0, 0), 1.5), [cv2.IMWRITE_JPEG_QUALITY, 90])
        walls = []
        for _ in range(3):
            t = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "forensics", "verify", path, "--json"], cwd=REPO,
                               capture_output=True, text=True, env={"FORENSICS_HOME": td, "PATH": "/usr/bin:/bin"})
            walls.append(time.perf_counter() - t)
        print(f"cold `forensics verify --json` (new process, detector on, exit {r.returncode}): "
              f"median {statistics.median(walls):.2f} s over 3 runs (all analysers installed at this commit)")
        t = time.perf_counter()
        code = ("import time,sys; t=time.perf_counter(); from forensics.verify import Verifier; "
                "from forensics.analysers import VerifyOptions; from forensics.detect.analyser import DetectorAnalyser; "
                f"r=Verifier(VerifyOptions(), analysers=[DetectorAnalyser()]).verify({path!r}); "
                "print(round(time.perf_counter()-t,3), r.detector.probability_synthetic, 'torch' in sys.modules)")
        out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True).stdout.strip()
        print(f"cold detector-only verify in a fresh interpreter (s, p, torch imported?): {out}")


if __name__ == "__main__":
    main()
