"""The detector's selection protocol (docs/detector.md, "Selection protocol"), resumable.

For every arm and every fold of ``forensics.detect.recipe.FOLDS``: train without the fold (checkpointed;
rerunning the script resumes), score the held-out fold's genuine fakes and real photos under the
acceptance protocol (centre crop 512, JPEG q90, scored like verify), write ``<out>/<arm>-<fold>/heldout.json``.
``--final ARM`` then trains ARM on every fold and calibrates it. ``--baseline`` scores the shipped model
on the same held-out folds.

    OMP_NUM_THREADS=1 nice -n 5 python scripts/detector_protocol.py --arms a,b --out runs/detector/protocol
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ARMS = {
    "a": {"genuine": 1.0},  # genuine outputs only
    "b": {"genuine": 0.5, "recon": 0.35, "sim": 0.15},  # + aligned reconstructions and simulators
    "r": {"genuine": 0.0, "recon": 0.7, "sim": 0.3},  # reconstructions and simulators only (no genuine outputs)
}


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def heldout_samples(fold: str, photos: str, ai_train: str):
    from forensics.datasets import load_dataset
    from forensics.detect.recipe import fold_of

    reals = [s for s in load_dataset(photos) if s.label == 0 and fold_of(s) == fold]
    fakes = [s for s in load_dataset(ai_train) if s.label == 1 and fold_of(s) == fold]
    return reals, fakes


def score_heldout(det, reals, fakes, crop: int = 256) -> dict:
    from forensics.datasets.augment import equalise
    from forensics.datasets.builders import read_rgb
    from forensics.detect.metrics import binary_metrics

    rows = []
    for s in reals + fakes:
        try:
            z = det.score(equalise(read_rgb(s.path), crop, 90)).logit
        except Exception as exc:  # unreadable: skip, count
            log(f"skip {s.path}: {exc}")
            continue
        rows.append({"path": str(s.path), "label": s.label, "generator": s.source if s.label else "real",
                     "source": s.group.split("/")[1], "logit": float(z)})
    y = np.array([r["label"] for r in rows])
    z = np.array([r["logit"] for r in rows])
    m = binary_metrics(y, z, float("inf"))
    per_source = {}
    for src in sorted({r["source"] for r in rows if r["label"] == 1}):
        k = np.array([(r["label"] == 0) or (r["source"] == src) for r in rows])
        mm = binary_metrics(y[k], z[k], float("inf"))
        per_source[src] = {"n_fake": mm["n_fake"], "auc": mm["auc"], "tpr_at_1pct_fpr": mm["tpr_at_1pct_fpr"]}
    return {"n_real": m["n_real"], "n_fake": m["n_fake"], "auc": m["auc"], "ap": m["ap"],
            "tpr_at_1pct_fpr": m["tpr_at_1pct_fpr"], "per_source": per_source, "rows": rows}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arms", default="a,b")
    ap.add_argument("--folds", default="")
    ap.add_argument("--photos", default="/work/shared/data/photos")
    ap.add_argument("--ai-train", default="/work/shared/data/ai-train")
    ap.add_argument("--ae-dir", action="append", default=None)
    ap.add_argument("--out", default="runs/detector/protocol")
    ap.add_argument("--steps", type=int, default=700)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--final", default="")
    ap.add_argument("--final-steps", type=int, default=2000)
    ap.add_argument("--baseline", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--ensemble", default="", help="ARM: its fold models as one calibrated ensemble")
    ap.add_argument("--max-patches", type=int, default=32, help="tiles scored per image by the ensemble")
    ap.add_argument("--summary", action="store_true", help="print the table of every scored run")
    ap.add_argument("--target-fpr", type=float, default=0.01, help="false-positive rate the threshold is read at")
    ap.add_argument("--version", default="3", help="version written into the model card")
    args = ap.parse_args(argv)

    import torch

    from forensics.detect.inference import Detector
    from forensics.detect.recipe import FOLDS
    from forensics.detect.train import STATE_FILE, TrainConfig, train

    torch.set_num_threads(args.threads)
    ae_dirs = args.ae_dir or ["/work/shared/models/taesd-family", "/work/shared/models/taesd"]
    out = Path(args.out)
    folds = [f for f in args.folds.split(",") if f] or list(FOLDS)

    def cfg_for(arm: str, fold: str | None, steps: int, dest: Path) -> TrainConfig:
        return TrainConfig(data=[args.photos], fakes_data=[args.ai_train], ae_dirs=ae_dirs, out=str(dest),
                           mix=ARMS[arm], holdout_fold=fold, calibrate=fold is None, steps=steps,
                           batch=args.batch, threads=args.threads, region=160, patch=128, max_minutes=600,
                           cache_dir="runs/detector/cache", name="forensics-highpass-resnet-tiny", version=args.version,
                           target_fpr=args.target_fpr)

    if args.baseline:
        det = Detector.from_pretrained(None, threads=args.threads)
        for fold in folds:
            dest = out / f"shipped-{fold}"
            if (dest / "heldout.json").is_file():
                continue
            dest.mkdir(parents=True, exist_ok=True)
            res = score_heldout(det, *heldout_samples(fold, args.photos, args.ai_train))
            (dest / "heldout.json").write_text(json.dumps(res))
            log(f"shipped {fold}: AUC {res['auc']:.3f} TPR@1% {res['tpr_at_1pct_fpr']:.3f} "
                f"({res['n_fake']} fakes, {res['n_real']} reals)")

    for arm in [a for a in args.arms.split(",") if a]:
        for fold in folds:
            dest = out / f"{arm}-{fold}"
            if (dest / "heldout.json").is_file():
                continue
            dest.mkdir(parents=True, exist_ok=True)
            t = time.time()
            if not (dest / "model.onnx").is_file():
                train(cfg_for(arm, fold, args.steps, dest), progress=log, resume=(dest / STATE_FILE).is_file())
            res = score_heldout(Detector(dest, threads=args.threads), *heldout_samples(fold, args.photos, args.ai_train))
            res["seconds"] = round(time.time() - t, 1)
            (dest / "heldout.json").write_text(json.dumps(res))
            log(f"arm {arm} fold {fold}: AUC {res['auc']:.3f} TPR@1% {res['tpr_at_1pct_fpr']:.3f} "
                f"({res['n_fake']} fakes, {res['n_real']} reals)")

    if args.ensemble:
        from forensics.detect.train import train_ensemble

        dest = out / f"ens-{args.ensemble}"
        members = [out / f"{args.ensemble}-{f}" for f in FOLDS]
        cfg = cfg_for(args.ensemble, None, args.steps, dest)
        cfg.max_patches = args.max_patches
        cfg.name = f"forensics-highpass-resnet-tiny-x{len(members)}"
        train_ensemble(members, cfg, progress=log)
        log(f"ensemble of {', '.join(map(str, members))} written to {dest}")

    if args.summary:
        runs = sorted({p.parent.name.rsplit("-", 1)[0] for p in out.glob("*-*/heldout.json")})
        print("| run | " + " | ".join(f"{f} AUC (n fake/real) | {f} TPR@1%" for f in FOLDS) + " | mean AUC | mean TPR@1% |")
        print("|---" * (2 * len(FOLDS) + 3) + "|")
        for r in runs:
            cells, aucs, tprs = [], [], []
            for f in FOLDS:
                p = out / f"{r}-{f}" / "heldout.json"
                if not p.is_file():
                    cells += ["–", "–"]
                    continue
                h = json.loads(p.read_text())
                cells += [f"{h['auc']:.3f} ({h['n_fake']}/{h['n_real']})", f"{h['tpr_at_1pct_fpr']:.3f}"]
                aucs.append(h["auc"]), tprs.append(h["tpr_at_1pct_fpr"])
            mean = f"{np.mean(aucs):.3f}" if len(aucs) == len(FOLDS) else "–"
            mt = f"{np.mean(tprs):.3f}" if len(tprs) == len(FOLDS) else "–"
            print(f"| {r} | " + " | ".join(cells) + f" | {mean} | {mt} |")

    if args.final:
        dest = out / f"final-{args.final}"
        if not (dest / "model.onnx").is_file() or not json.loads((dest / "model.json").read_text()).get("training"):
            dest.mkdir(parents=True, exist_ok=True)
            train(cfg_for(args.final, None, args.final_steps, dest), progress=log,
                  resume=(dest / STATE_FILE).is_file())
        log(f"final {args.final} written to {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
