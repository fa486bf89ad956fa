"""Arm (c) of the ablation: a real-only score, autoencoder reconstruction distance (AEROBLADE's idea, ZED/SPAI's
spirit: model what real photos look like, flag what departs). Images a latent-diffusion decoder made are
reconstructed by that family's autoencoder with a smaller error than camera photos. No fakes are used to
fit it, so every fold is held out by construction.

Each held-out image of each fold (at most --per-class per class, hash order) goes through the protocol
(centre crop 256, JPEG q90); its centre 128² tile is reconstructed by each tiny autoencoder; the distances
(mean squared error of the pixels and of the 3×3 high-pass residual) are written per image, with the
per-fold AUC of minus the smallest distance.

    OMP_NUM_THREADS=1 nice -n 10 python scripts/detector_real_only.py --out runs/detector/protocol/c-real-only.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", default="/work/shared/data/photos")
    ap.add_argument("--ai-train", default="/work/shared/data/ai-train")
    ap.add_argument("--ae", action="append", default=None, help="DIR:NAME (repeatable)")
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    import cv2
    import torch
    from sklearn.metrics import roc_auc_score

    from forensics.datasets import load_dataset
    from forensics.datasets.augment import equalise
    from forensics.datasets.builders import read_rgb
    from forensics.detect.recipe import FOLDS, fold_of, load_autoencoder, stable_seed

    torch.set_num_threads(1)
    specs = args.ae or ["/work/shared/models/taesd-family:taesd", "/work/shared/models/taesd-family:taef1"]
    aes = {name: load_autoencoder(d, name) for d, name in (s.rsplit(":", 1) for s in specs)}
    samples = [s for s in load_dataset(args.photos) if s.label == 0] + \
              [s for s in load_dataset(args.ai_train) if s.label == 1]

    def hp(x):
        x = x.astype(np.float32)
        return x - cv2.blur(x, (3, 3))

    rows = []
    for fold in FOLDS:
        for label in (0, 1):
            pick = sorted((s for s in samples if fold_of(s) == fold and s.label == label),
                          key=lambda s: stable_seed("c", s.group))[: args.per_class]
            for s in pick:
                x = equalise(read_rgb(s.path), 256, 90)
                h, w = x.shape[:2]
                t = np.ascontiguousarray(x[(h - 128) // 2:(h - 128) // 2 + 128, (w - 128) // 2:(w - 128) // 2 + 128])
                row = {"path": str(s.path), "label": label, "fold": fold, "generator": s.source if label else "real"}
                for name, ae in aes.items():
                    r = ae(t)
                    row[f"mse:{name}"] = float(((t.astype(np.float32) - r) ** 2).mean())
                    row[f"hp_mse:{name}"] = float(((hp(t) - hp(r)) ** 2).mean())
                rows.append(row)
        print(fold, len(rows), flush=True)
    res = {"rows": rows, "per_fold": {}}
    keys = [k for k in rows[0] if ":" in k]
    for fold in FOLDS:
        rr = [r for r in rows if r["fold"] == fold]
        y = np.array([r["label"] for r in rr])
        res["per_fold"][fold] = {"n_real": int((y == 0).sum()), "n_fake": int((y == 1).sum())}
        for k in keys + ["min_mse", "min_hp_mse"]:
            if k.startswith("min_"):
                v = np.min([[r[kk] for kk in keys if kk.startswith(k[4:] + ":")] for r in rr], axis=1)
            else:
                v = np.array([r[k] for r in rr])
            res["per_fold"][fold][k] = float(roc_auc_score(y, -v))  # smaller distance = more likely generated
    res["mean_auc"] = {k: float(np.mean([res["per_fold"][f][k] for f in FOLDS])) for k in keys + ["min_mse", "min_hp_mse"]}
    Path(args.out).write_text(json.dumps(res, indent=2))
    print(json.dumps(res["mean_auc"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
