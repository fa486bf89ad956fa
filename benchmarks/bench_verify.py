"""Cold wall time of `forensics verify --no-detector` on a 12-megapixel signed JPEG.

Each run is a fresh `python -m forensics` process (what a user typing the command pays: interpreter
start, imports, c2pa, metadata, watermark detection, rendering). Prints every run and the median, and the
ratio to a bare Pillow-decode process on the same file (`Image.open(path).load()`), taken pair by pair
(the two alternate, so the ratio holds while the machine's speed drifts).

    .venv/bin/python benchmarks/bench_verify.py [--runs 9] [--json] [--detector] [--marked] [--file F.jpg]

``--detector`` times the full command (detector on); ``--marked`` embeds an fsw-v1 mark before signing;
``--file`` times an existing file instead (e.g. an unsigned camera JPEG).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_photo(path: Path, size=(4000, 3000)) -> None:
    """A photo-like 12 MP JPEG: smooth gradients plus mild noise (not pure noise, which no camera makes)."""
    import numpy as np
    from PIL import Image

    w, h = size
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 128 + 100 * np.sin(x / 350.0) * np.cos(y / 420.0)
    g = 128 + 90 * np.sin((x + y) / 600.0)
    b = 128 + 80 * np.cos(x / 250.0 - y / 500.0)
    img = np.stack([r, g, b], axis=-1) + rng.normal(0, 6, (h, w, 3))
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path, "JPEG", quality=90)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--json", action="store_true", help="time `--json` output instead of the terminal report")
    ap.add_argument("--detector", action="store_true", help="time the full command, detector on")
    ap.add_argument("--marked", action="store_true", help="embed an fsw-v1 watermark before signing")
    ap.add_argument("--file", type=Path, help="time this existing file (not signed, not checked for Trusted)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, FORENSICS_HOME=str(tmp / "home"))
        env.pop("FORENSICS_TRUST_ANCHORS", None)
        os.environ.update(FORENSICS_HOME=env["FORENSICS_HOME"])
        from forensics.provenance.keys import init_pki
        from forensics.provenance.signing import SigningIdentity, sign_file

        src, signed = tmp / "photo.jpg", tmp / "signed.jpg"
        sign_ms = 0.0
        if args.file:
            signed = args.file.resolve()
        else:
            make_photo(src)
            if args.marked:
                import forensics

                forensics.watermark.embed(str(src)).image.save(src, "JPEG", quality=92)
            init_pki()
            t = time.perf_counter()
            sign_file(src, signed, identity=SigningIdentity.default(),
                      digital_source_type="http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture")
            sign_ms = (time.perf_counter() - t) * 1000
        cmd = [sys.executable, "-m", "forensics", "verify", str(signed)]
        if not args.detector:
            cmd.insert(4, "--no-detector")
        if args.json:
            cmd.insert(4, "--json")
        pillow = [sys.executable, "-c", f"from PIL import Image; Image.open({str(signed)!r}).load()"]
        # The same command restricted to the credentials + metadata analysers (this benchmark's own path),
        # so a slow analyser elsewhere in the pipeline is visible as the difference between the two.
        light = [sys.executable, "-c",
                 "import sys, forensics.analysers as a; a.DEFAULT_ANALYSERS[:] = a.DEFAULT_ANALYSERS[:2]; "
                 "from forensics.cli import main; sys.argv = ['forensics'] + sys.argv[1:]; main()",
                 *cmd[3:]]
        subprocess.run(cmd, env=env, capture_output=True, check=True)  # warm the OS file cache (and caches)
        print(f"file: {signed.name}, {signed.stat().st_size / 1e6:.1f} MB; signing took {sign_ms:.0f} ms")

        def timed(command: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            p = subprocess.run(command, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            return wall, r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime, p

        results, ratios = {}, {}
        for name, command in (("full pipeline", cmd), ("credentials + metadata only", light)):
            times, cpu, rw, rc = [], [], [], []
            for i in range(args.runs):
                wall, c, p = timed(command)
                if p.returncode != 0 or (not args.file and "Trusted" not in p.stdout):
                    sys.exit(f"verify failed (rc={p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
                times.append(wall)
                cpu.append(c)
                pw, pc, _ = timed(pillow)  # the yardstick, right after: one pair
                rw.append(wall / pw)
                rc.append(c / pc)
            results[name], ratios[name] = (times, cpu), (rw, rc)
            print(f"{name:28s} wall: " + " ".join(f"{x:.3f}" for x in times)
                  + "   cpu: " + " ".join(f"{x:.3f}" for x in cpu))
        # where the time goes inside one process (analyser timings from the JSON report)
        j = subprocess.run([*cmd[:4], "--json", *cmd[4:]] if not args.json else cmd, env=env,
                           capture_output=True, text=True)
        timings = json.loads(j.stdout)[0].get("timings_ms", {})
        print("analyser timings (ms, one run): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()))
        print(f"load average before timing: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs "
              "(a shared machine inflates wall time; CPU time is the steadier figure)")
        shown = " ".join(cmd[3:-1])
        for name, (times, cpu) in results.items():
            rw, rc = ratios[name]
            print(f"median cold `forensics {shown}` [{name}]: "
                  f"wall {statistics.median(times):.3f} s (min {min(times):.3f}, max {max(times):.3f}), "
                  f"CPU {statistics.median(cpu):.3f} s, over {args.runs} runs; "
                  f"÷ a Pillow-decode process: wall {statistics.median(rw):.2f}× (pairwise median), "
                  f"CPU {statistics.median(rc):.2f}×")


if __name__ == "__main__":
    main()
