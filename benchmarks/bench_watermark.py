"""Watermark speed and robustness benchmark (prints its figures; never asserts on time).

    .venv/bin/python benchmarks/bench_watermark.py                      # speed on 1024x1024 photos
    .venv/bin/python benchmarks/bench_watermark.py --robustness --limit 100 --fp-all --out /tmp/wm

Speed: embed and detect (default scheme alone, and the default detect set verify runs) on 1024x1024
photos from ../shared/data/photos, marked and unmarked, plus the cold import time of the detect path.
Robustness: ``forensics.provenance.watermark.bench.run_bench`` (the same as ``forensics watermark bench``).
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
sys.path.insert(0, str(REPO))


def _photos_1024(n: int):
    import numpy as np
    from PIL import Image

    out = []
    for p in sorted((SHARED / "photos").rglob("*.jpg")):
        img = Image.open(p)
        if img.size == (1024, 1024):
            out.append((p, np.asarray(img.convert("RGB"))))
        if len(out) >= n:
            break
    return out


def speed(n: int) -> None:
    from forensics.provenance import watermark as wm

    photos = _photos_1024(n)
    if not photos:
        print("no 1024x1024 photos found under", SHARED / "photos")
        return
    scheme = wm.get_scheme()
    payload = bytes.fromhex("0123456789ab")
    wm.detect(wm.embed(photos[0][1], payload))  # warm-up (layout, imports)
    emb, det_m, det_u, det_cheap_u, det_all_u, det_verify_u, ok = [], [], [], [], [], [], 0
    for _, rgb in photos:
        t = time.perf_counter()
        marked = wm.embed(rgb, payload)
        emb.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        d = scheme.detect_rgb(marked)
        det_m.append((time.perf_counter() - t) * 1000)
        ok += d.detected and d.payload == payload.hex()
        t = time.perf_counter()
        scheme.detect_rgb(rgb)
        det_u.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        scheme.detect_rgb(rgb, exhaustive=False)
        det_cheap_u.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        wm.detect(rgb)  # default set, full searches: fsw-v2, fsw-v1, SD and SDXL marks (watermark detect)
        det_all_u.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        wm.detect(rgb, exhaustive=False)  # the same with the cheap searches (what verify runs)
        det_verify_u.append((time.perf_counter() - t) * 1000)

    def f(v):
        return f"median {statistics.median(v):6.1f} ms  mean {statistics.mean(v):6.1f} ms  max {max(v):6.1f} ms"

    print(f"{len(photos)} photos 1024x1024, {wm.DEFAULT_SCHEME}, detected {ok}/{len(photos)}")
    print(f"  embed                        {f(emb)}")
    print(f"  detect, marked               {f(det_m)}")
    print(f"  detect, unmarked             {f(det_u)}")
    print(f"  detect, unmarked, cheap      {f(det_cheap_u)}")
    print(f"  embed + detect (marked)      {f([a + b for a, b in zip(emb, det_m)])}")
    print(f"  default detect set, unmarked {f(det_all_u)}")
    print(f"  verify's set (cheap), unmark {f(det_verify_u)}")
    code = ("import time; t=time.perf_counter(); from forensics.provenance import watermark as wm; "
            "import numpy as np; wm.detect(np.zeros((64,64,3),np.uint8)); import sys; "
            "print(round((time.perf_counter()-t)*1000,1), 'torch' in sys.modules)")
    cold = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO).stdout.split()
    print(f"  cold import + first detect   {cold[0]} ms (torch imported: {cold[1]})")


def robustness(args) -> None:
    from forensics.provenance.watermark import bench

    images = bench.list_images(args.images, args.limit)
    fp = None
    if args.fp_all:
        fp = bench.list_images(SHARED / "photos") + bench.list_images(SHARED / "ai-dev")
    res = bench.run_bench(images, args.schemes.split(","), args.attacks.split(",") if args.attacks else None,
                          fp_images=fp, progress=None if args.quiet else (lambda m: print(m, file=sys.stderr)))
    paths = bench.write_outputs(res, Path(args.out))
    bench.print_table(res)
    print(bench.to_markdown(res))
    print(paths)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10, help="1024x1024 photos for the speed figures")
    ap.add_argument("--robustness", action="store_true", help="also run the robustness benchmark")
    ap.add_argument("--images", default=str(SHARED / "photos"))
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--schemes", default="fsw-v2,fsw-v1,dwtDct,dwtDctSvd")
    ap.add_argument("--attacks", default=None)
    ap.add_argument("--fp-all", action="store_true", help="false positives on every photo and AI image")
    ap.add_argument("--out", default="/tmp/watermark-bench")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    speed(args.n)
    if args.robustness:
        robustness(args)


if __name__ == "__main__":
    main()
