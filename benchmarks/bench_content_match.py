"""Derived copies vs transplanted watermarks: does the content check keep the first and refuse the second?

    .venv/bin/python benchmarks/bench_content_match.py --images ../shared/data/photos --limit 60

For each photo (long side <= 1024, the size verify reads the watermark at) the bench does what generation
does: embed a random fsw-v1 payload, store the content descriptor of the marked image
(``forensics.provenance.content_match.describe``). Then, for every attack of the watermark bench
(``forensics.provenance.watermark.attacks``) plus harsher ones (rotation 5-15 degrees, aspect 1.2x, 70 % crops,
a sticker, greyscale, a hue shift):

- derived copy: the attacked marked photo. *Recovered* = the watermark is detected with its payload AND the
  content check says ``true`` (what verify needs to present the manifest);
- transplanted mark: the next photo's payload embedded (the key is public) into this photo, then the same
  attack. *Flagged* = the content check against the next photo's descriptor says ``false``, among the
  forgeries whose mark was detected (an undetected forgery borrows nothing).

Prints the table (per attack and overall), the descriptor size and the check's time; ``--out`` also writes
JSON. Never asserts.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def extra_attacks() -> dict:
    import cv2
    import numpy as np

    from forensics.provenance.watermark.attacks import crop, rotate

    def aspect(a):
        h, w = a.shape[:2]
        return cv2.resize(a, (round(w * 1.2), h), interpolation=cv2.INTER_AREA)

    def sticker(a):  # an opaque block over ~11 % of the frame
        a = a.copy()
        h, w = a.shape[:2]
        a[h // 3:h // 3 + h // 3, w // 3:w // 3 + w // 3] = (230, 40, 40)
        return a

    def grey(a):
        return np.repeat(a.mean(2, keepdims=True).astype(np.uint8), 3, 2)

    def hue(a):
        hsv = cv2.cvtColor(a, cv2.COLOR_RGB2HSV)
        hsv[..., 0] = (hsv[..., 0].astype(np.int16) + 30) % 180
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)

    return {"rotate5": rotate(5), "rotate10": rotate(10), "rotate15": rotate(15), "aspect1.2": aspect,
            "crop70-corner": crop(0.70, "corner"), "crop70-centre": crop(0.70, "centre"), "sticker": sticker,
            "grey": grey, "hue+60deg": hue}


def run(images: list[Path], max_side: int, progress=None, seed: int = 0) -> dict:
    import numpy as np

    from forensics.provenance import content_match as cm
    from forensics.provenance import watermark as wm
    from forensics.provenance.watermark.attacks import ATTACKS
    from forensics.provenance.watermark.bench import load_rgb

    attacks = {**ATTACKS, **extra_attacks()}
    photos = [load_rgb(p, max_side) for p in images]
    rng = np.random.default_rng(seed)  # payloads as random as generation's, but the same on every run
    payloads = [rng.bytes(wm.PAYLOAD_BYTES) for _ in photos]
    marked = [wm.embed(a, p) for a, p in zip(photos, payloads)]
    t_desc, descs = [], []
    for m in marked:
        t = time.process_time()
        descs.append(cm.describe(m))
        t_desc.append(time.process_time() - t)
    rows = {name: {"n": 0, "wm_detected": 0, "recovered": 0, "content_true_when_detected": 0,
                   "forged_detected": 0, "forged_flagged": 0, "forged_borrowed": 0,
                   "content_true_any": 0, "other_false_any": 0} for name in attacks}
    t_check: list[tuple[float, float]] = []  # (wall, CPU) seconds per check

    def check(desc, rgb):
        t, c = time.perf_counter(), time.process_time()
        m = cm.compare(desc, rgb).match
        t_check.append((time.perf_counter() - t, time.process_time() - c))
        return m

    n = len(photos)
    for i in range(n):
        j = (i + 1) % n
        forged = wm.embed(photos[i], payloads[j])  # photo i carrying photo j's manifest ID
        for name, attack in attacks.items():
            r = rows[name]
            r["n"] += 1
            copy = attack(marked[i])
            d = wm.detect(copy, [wm.DEFAULT_SCHEME])[0]
            same = check(descs[i], copy) is True  # the content check alone, mark found or not
            r["content_true_any"] += same
            if d.detected and d.payload == payloads[i].hex():
                r["wm_detected"] += 1
                if same:
                    r["recovered"] += 1
                    r["content_true_when_detected"] += 1
            fake = attack(forged)
            d = wm.detect(fake, [wm.DEFAULT_SCHEME])[0]
            other = check(descs[j], fake) is False
            r["other_false_any"] += other
            if d.detected and d.payload == payloads[j].hex():
                r["forged_detected"] += 1
                if other:
                    r["forged_flagged"] += 1
                else:
                    r["forged_borrowed"] += 1
        if progress:
            progress(f"{i + 1}/{n} photos")
    keys = list(next(iter(rows.values())))
    total = {k: sum(r[k] for r in rows.values()) for k in keys}
    issue3 = {k: sum(r[k] for name, r in rows.items() if name in ATTACKS) for k in keys}
    # the issue's budget is stated at 1024x1024: a copy (one ORB pass) and another photo (two: direct, mirrored)
    import cv2

    t_copy, t_other = [], []
    for i in range(min(n, 10)):
        a = cv2.resize(marked[i], (1024, 1024), interpolation=cv2.INTER_AREA)
        b = cv2.resize(photos[(i + 1) % n], (1024, 1024), interpolation=cv2.INTER_AREA)
        d0 = cm.describe(a)
        for x, acc in ((jpeg_q(a, 85), t_copy), (b, t_other)):
            c = time.process_time()
            cm.compare(d0, x)
            acc.append(time.process_time() - c)

    def ms(values, q=None):
        if not values:
            return None
        v = sorted(values)
        return round(1000 * (statistics.median(v) if q is None else v[int(q * (len(v) - 1))]), 1)

    return {"photos": n, "max_side": max_side, "attacks": rows, "total": total, "issue3_attacks": issue3,
            "descriptor_bytes_max": max(map(len, descs)),
            "describe_cpu_ms_median": ms(t_desc),
            "check_wall_ms_median": ms([w for w, _ in t_check]), "check_wall_ms_p95": ms([w for w, _ in t_check], 0.95),
            "check_cpu_ms_median": ms([c for _, c in t_check]), "check_cpu_ms_p95": ms([c for _, c in t_check], 0.95),
            "check_1024_cpu_ms_copy_median": ms(t_copy), "check_1024_cpu_ms_other_median": ms(t_other),
            "load_average": os.getloadavg()[0]}


def jpeg_q(rgb, q):
    from forensics.provenance.watermark.attacks import jpeg

    return jpeg(q)(rgb)


def _pct(a: int, b: int) -> str:
    return f"{a / b:.3f}" if b else "—"


def to_markdown(res: dict) -> str:
    lines = ["| attack | watermark detected | recovered (mark + content true) | content true when detected "
             "| forgeries detected | forgeries flagged false | content check alone: copy true / other photo false |",
             "|---|---|---|---|---|---|---|"]
    rows = list(res["attacks"].items()) + [("**issue 3 attacks (first 22)**", res["issue3_attacks"]),
                                           ("**all**", res["total"])]
    for name, r in rows:
        lines.append(f"| {name} | {_pct(r['wm_detected'], r['n'])} | {_pct(r['recovered'], r['n'])} | "
                     f"{_pct(r['content_true_when_detected'], r['wm_detected'])} | "
                     f"{r['forged_detected']}/{r['n']} | {_pct(r['forged_flagged'], r['forged_detected'])} | "
                     f"{_pct(r['content_true_any'], r['n'])} / {_pct(r['other_false_any'], r['n'])} |")
    lines.append("")
    lines.append(f"{res['photos']} photos (long side <= {res['max_side']}); descriptor at most "
                 f"{res['descriptor_bytes_max']} bytes; describe {res['describe_cpu_ms_median']} ms CPU median; "
                 f"check {res['check_cpu_ms_median']} ms CPU median ({res['check_cpu_ms_p95']} p95), wall "
                 f"{res['check_wall_ms_median']} ms median ({res['check_wall_ms_p95']} p95) at load average "
                 f"{res['load_average']:.1f}; at 1024x1024: {res['check_1024_cpu_ms_copy_median']} ms CPU for a copy, "
                 f"{res['check_1024_cpu_ms_other_median']} ms for another photo (median)")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", default=str(REPO.parent / "shared" / "data" / "photos"))
    ap.add_argument("--limit", type=int, default=60, help="photos, spread over the folder")
    ap.add_argument("--max-side", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0, help="seed of the payloads")
    ap.add_argument("--out", help="write content_match.json here (a folder)")
    args = ap.parse_args()
    from forensics.provenance.watermark.bench import list_images

    images = list_images(args.images, args.limit)
    res = run(images, args.max_side, progress=lambda m: print(m, file=sys.stderr, flush=True), seed=args.seed)
    print(to_markdown(res))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "content_match.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
