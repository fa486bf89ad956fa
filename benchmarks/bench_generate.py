"""Provenance overhead of generation per image (watermark + sign + store), beside the sampling time.

For each image: the sampler runs (builtin:tiny by default, offline), then the provenance stage that every
image goes through — fresh payload + watermark embed, encode, C2PA sign (and read-back), repository store
(signing-time finding, pHash, SQLite insert). Stage wall times come from ``GeneratedImage.timings_ms``; the
provenance stage's process CPU time is measured around it. A second pass runs the same provenance stage on
photo-like pixels (the tiny model draws noise, which encodes unlike real pictures). Prints Markdown.

    .venv/bin/python benchmarks/bench_generate.py [--images 12] [--size 512] [--model builtin:tiny] [--steps 2]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _photo_pixels(side: int, i: int):
    """A photo from the shared data set if present, else a smooth synthetic picture; side x side uint8."""
    import numpy as np
    from PIL import Image

    shared = Path(os.environ.get("FORENSICS_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    photos = sorted((shared / "data" / "photos").rglob("*.jpg"))
    if photos:
        img = Image.open(photos[i % len(photos)]).convert("RGB")
        w, h = img.size
        s = min(w, h)
        img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)).resize((side, side))
        return np.asarray(img)
    rng = np.random.default_rng(i)
    small = rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((side, side), Image.BICUBIC))


def _q(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=12)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--model", default="builtin:tiny")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--formats", default="png,jpeg,webp")
    args = ap.parse_args()

    os.environ["FORENSICS_HOME"] = tempfile.mkdtemp(prefix="bench-generate-")
    os.environ.pop("FORENSICS_REGISTRY", None)
    from forensics.generate import GenerationRequest, load_generator
    from forensics.generate.pipeline import _watermark_api, encode
    from forensics.provenance.keys import init_pki
    from forensics.provenance.signing import SigningIdentity

    init_pki()
    t = time.perf_counter()
    gen = load_generator(args.model, device="cpu")
    load_s = time.perf_counter() - t
    wm, identity, repo = _watermark_api(), SigningIdentity.default(), gen._repository()
    side = (args.size, args.size)
    gen.generate(GenerationRequest("warm-up", seed=0, size=side, steps=args.steps))  # first-call costs

    print(f"# bench_generate: {args.model}, {args.size}x{args.size}, {args.steps} steps, {args.images} images "
          f"per format")
    print(f"\nmachine: {platform.machine()} {os.cpu_count()} CPUs, torch CPU, load average "
          f"{os.getloadavg()[0]:.1f} at start; model load {load_s:.2f} s\n")
    stages = ("watermark", "encode", "sign", "store")
    print("| pixels | format | sampling wall ms (median) | " + " | ".join(f"{s} ms" for s in stages)
          + " | overhead wall ms median (p90) | overhead CPU ms median | overhead excl. encode: wall ms | CPU ms |")
    print("|---" * (8 + len(stages)) + "|")
    for fmt in args.formats.split(","):
        for source in ("tiny model output", "photo"):
            rows, cpu, cpu_enc = [], [], []
            for i in range(args.images):
                req = GenerationRequest("a lighthouse at dusk", seed=100 + i, size=side, steps=args.steps,
                                        format=fmt)
                if source == "photo":
                    settings = {"mode": "text-to-image", "steps": args.steps, "guidance": None,
                                "width": args.size, "height": args.size, "strength": None, "sample_ms": 0.0}
                    pixels = _photo_pixels(args.size, i)
                    c0 = time.process_time()
                    img = gen._finish(req, 100 + i, pixels, settings, wm, identity, repo)
                    cpu.append((time.process_time() - c0) * 1000)
                else:
                    [(seed, pixels, settings)] = gen._sample(req)  # the stages are timed one by one
                    c0 = time.process_time()
                    img = gen._finish(req, seed, pixels, settings, wm, identity, repo)
                    cpu.append((time.process_time() - c0) * 1000)
                rows.append(img.timings_ms)
                c0 = time.process_time()
                encode(pixels, fmt)  # the encode's own CPU cost, to report the overhead without it
                cpu_enc.append((time.process_time() - c0) * 1000)
            med = {s: statistics.median(r[s] for r in rows) for s in ("sample", *stages)}
            total = [sum(r[s] for s in stages) for r in rows]
            excl = [sum(r[s] for s in stages if s != "encode") for r in rows]
            sample = f"{med['sample']:.0f}" if source != "photo" else "–"
            print(f"| {source} | {fmt} | {sample} | " + " | ".join(f"{med[s]:.1f}" for s in stages)
                  + f" | {statistics.median(total):.1f} ({_q(total, 0.9):.1f}) | {statistics.median(cpu):.1f} | "
                  f"{statistics.median(excl):.1f} | "
                  f"{statistics.median(c - e for c, e in zip(cpu, cpu_enc)):.1f} |")
    print(f"\nload average at end {os.getloadavg()[0]:.1f}; repository rows {repo.count()}")


if __name__ == "__main__":
    main()
