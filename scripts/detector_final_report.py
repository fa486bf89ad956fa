"""Measurements of a final detector candidate (docs/detector.md, third round), written to --out:

* ``heldout_fpr``: the model's test-split real photos scored whole (as verify does), as sent and after JPEG
  95/90/75/50, ×0.5 resize and blur σ=1: the share labelled ``synthetic`` per condition and per photo folder;
* ``protocol``: test-split reals vs test-split ai-train fakes at the protocol (centre crop 256, JPEG q90) and
  under the robustness conditions, per source and per generator;
* ``ai_dev`` (only with --ai-dev; reported once per final candidate, never used to choose): ai-dev vs the
  test-split reals, centre crop 512 + JPEG q90 as in earlier rounds;
* ``videos``: every MP4/MOV given with --video, through the verify analyser;
* ``calibration.png``: predicted probability against the observed share of fakes (protocol set).

    OMP_NUM_THREADS=1 python scripts/detector_final_report.py --model DIR --out DIR [--ai-dev ../shared/data/ai-dev]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--photos", default="/work/shared/data/photos")
    ap.add_argument("--ai-train", default="/work/shared/data/ai-train")
    ap.add_argument("--ai-dev", default=None)
    ap.add_argument("--video", action="append", default=[])
    ap.add_argument("--out", required=True)
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: heldout_fpr,protocol,videos")
    args = ap.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))

    from forensics.datasets import load_dataset
    from forensics.datasets.builders import read_rgb
    from forensics.detect.evaluate import evaluate, model_split, to_markdown
    from forensics.detect.inference import Detector
    from forensics.detect.train import real_conditions

    det = Detector(args.model, threads=1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    res = {"model": det.name, "model_sha256": det.sha256, "threshold": det.threshold}

    if "heldout_fpr" not in skip:
        conds = real_conditions()
        test = [s for s in load_dataset(args.photos) if s.label == 0 and model_split(det.card, s) == "test"]
        per_cond = {c: [] for c in conds}
        per_folder: dict[str, list] = {}
        probs = []
        for s in test:
            rgb = read_rgb(s.path)
            folder = s.group.split("/")[1]
            for c, fn in conds.items():
                p = det.score(fn(rgb)).probability_synthetic
                flagged = det.label_for(p) == "synthetic"
                probs.append({"path": str(s.path), "folder": folder, "condition": c, "p": p})
                per_cond[c].append(flagged)
                per_folder.setdefault(folder, []).append(flagged)
        res["heldout_scores"] = probs
        allf = [f for v in per_cond.values() for f in v]
        res["heldout_fpr"] = {"n_photos": len(test), "n_scores": len(allf), "synthetic_share": float(np.mean(allf)),
                              "per_condition": {c: {"n": len(v), "synthetic_share": float(np.mean(v))} for c, v in per_cond.items()},
                              "per_folder": {f: {"n_scores": len(v), "synthetic_share": float(np.mean(v))} for f, v in per_folder.items()}}
        print("heldout_fpr", res["heldout_fpr"]["synthetic_share"], res["heldout_fpr"]["per_folder"], flush=True)

    if "protocol" not in skip:
        r = evaluate(det, [args.photos, args.ai_train], robustness=True, crop=256)
        (out / "protocol.md").write_text(to_markdown(r))
        res["protocol"] = {k: v for k, v in r.items() if k != "_scores"}
        sc = r["_scores"]
        y, p = np.array(sc["labels"]), np.array(sc["scores"]["jpeg90"])
        gens = {}
        for g, lab, pp in zip(sc["sources"], y, p):
            gens.setdefault(g, []).append(pp)
        res["protocol_scores"] = sc
        print("protocol", r["conditions"]["jpeg90"]["overall"], flush=True)
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt

            bins = np.linspace(0, 1, 11)
            idx = np.clip(np.digitize(p, bins) - 1, 0, 9)
            xs, ys, ns = [], [], []
            for b in range(10):
                m = idx == b
                if m.sum():
                    xs.append(p[m].mean()), ys.append(y[m].mean()), ns.append(int(m.sum()))
            fig, ax = plt.subplots(figsize=(4.2, 4.0), dpi=90)
            ax.plot([0, 1], [0, 1], "k:", lw=0.8)
            ax.plot(xs, ys, "o-")
            for x_, y_, n_ in zip(xs, ys, ns):
                ax.annotate(str(n_), (x_, y_), fontsize=6, xytext=(3, -8), textcoords="offset points")
            ax.axvline(det.threshold, color="r", lw=0.8, ls="--")
            ax.set_xlabel("probability_synthetic (bin mean)")
            ax.set_ylabel("share of synthetic images")
            ax.set_title(f"{det.name}: {int((y == 0).sum())} real / {int((y == 1).sum())} synthetic (test split)", fontsize=7)
            fig.tight_layout()
            fig.savefig(out / "calibration.png")
            plt.close(fig)
        except Exception as exc:  # the plot is a courtesy; the numbers are in the JSON
            print("no calibration plot:", exc)

    if args.ai_dev:
        r = evaluate(det, [args.photos, args.ai_dev], robustness=False, crop=512)
        res["ai_dev"] = {k: v for k, v in r.items() if k != "_scores"}
        (out / "ai_dev.md").write_text(to_markdown(r))
        print("ai_dev", r["conditions"]["jpeg90"]["overall"], flush=True)

    if args.video and "videos" not in skip:
        from forensics.detect.analyser import DetectorAnalyser
        from forensics.media import Media

        an = DetectorAnalyser(args.model)
        vids = {}
        for v in args.video:
            try:
                d, frames = an.analyse_video(Media.open(v), 16)
                vids[v] = {"aggregate": d.to_json(), "frames": [f["probability_synthetic"] for f in frames.timeline],
                           "frame_labels": [f["label"] for f in frames.timeline]}
            except Exception as exc:  # a fixture without decodable frames
                vids[v] = {"error": f"{type(exc).__name__}: {exc}"}
        res["videos"] = vids
        print("videos", {k: (v.get("aggregate") or v).get("label", v.get("error")) for k, v in vids.items()}, flush=True)

    (out / "report.json").write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
