"""The format control of the genuine-output recipe: can container / size / grid cues alone tell the classes apart?

Three sets, each scored with leave-one-fold-out (the selection folds) by a logistic regression and a
gradient-boosted tree model on ``forensics.detect.recipe.format_cue_features`` only:

* ``raw``      — the source files as they are (what the recipe must neutralise; expected to separate);
* ``training`` — patches exactly as the network gets them (the recipe's pipeline), each written to the file
                 it would be (JPEG at its last quality, else PNG);
* ``protocol`` — the held-out evaluation images after the protocol (centre crop 256, JPEG q90).

    OMP_NUM_THREADS=1 nice -n 5 python scripts/detector_format_control.py --out runs/detector/control.json
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np


def loso_auc(X, y, folds) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out = {}
    for name, make in (("logreg", lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))),
                       ("boosted_trees", lambda: HistGradientBoostingClassifier(max_iter=200, random_state=0))):
        per = {}
        for f in sorted(set(folds)):
            tr, te = folds != f, folds == f
            if len(set(y[te])) < 2 or len(set(y[tr])) < 2:
                continue
            m = make().fit(X[tr], y[tr])
            per[f] = {"auc": float(roc_auc_score(y[te], m.predict_proba(X[te])[:, 1])),
                      "n_real": int((y[te] == 0).sum()), "n_fake": int((y[te] == 1).sum())}
        out[name] = {"mean_auc": float(np.mean([v["auc"] for v in per.values()])), "per_fold": per}
    return out


def raw_features(path) -> np.ndarray:
    from PIL import Image

    data = Path(path).read_bytes()
    with Image.open(io.BytesIO(data)) as im:
        w, h = im.size
        is_jpeg = im.format == "JPEG"
        q = np.array(im.quantization[0], float) if is_jpeg else np.zeros(64)
    return np.array([is_jpeg, q.mean(), q.max(), 8 * len(data) / (w * h), h, w], float)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", default="/work/shared/data/photos")
    ap.add_argument("--ai-train", default="/work/shared/data/ai-train")
    ap.add_argument("--cache", required=True, help="the recipe's train cache (.npz)")
    ap.add_argument("--n", type=int, default=1500, help="patch pairs drawn for the training set")
    ap.add_argument("--out", default="runs/detector/control.json")
    args = ap.parse_args(argv)

    from forensics.datasets import load_dataset
    from forensics.datasets.augment import AugmentConfig, equalise
    from forensics.datasets.builders import read_rgb
    from forensics.detect.cache import load_cache
    from forensics.detect.recipe import FORMAT_CUE_NAMES, fold_of, format_cue_features, sample_recipe_batch

    result = {"features": FORMAT_CUE_NAMES}
    samples = [s for s in load_dataset(args.photos) if s.label == 0] + \
              [s for s in load_dataset(args.ai_train) if s.label == 1]
    samples = [s for s in samples if fold_of(s)]

    X, y, f = [], [], []
    for s in samples:
        X.append(raw_features(s.path)), y.append(s.label), f.append(fold_of(s))
    result["raw"] = loso_auc(np.array(X), np.array(y), np.array(f))
    result["raw"]["features"] = ["is_jpeg", "qtable_luma_mean", "qtable_luma_max", "bits_per_pixel", "height", "width"]
    print("raw", {k: v["mean_auc"] for k, v in result["raw"].items() if isinstance(v, dict)}, flush=True)

    cache = load_cache(args.cache)
    rng = np.random.default_rng(123)
    meta: list = []
    pairs = [k for k in cache if k.startswith("pair:")]
    recon = [k for k in pairs if k.endswith("-recon")]
    mix = {"genuine": 0.5, **{k: 0.35 / len(recon) for k in recon},
           **{k: 0.15 / (len(pairs) - len(recon)) for k in pairs if k not in recon}}  # arm (b), as trained
    x, lab = sample_recipe_batch(cache, args.n, 128, rng, AugmentConfig(), mix, meta)
    tiles = (x.transpose(0, 2, 3, 1) * 255 + 0.5).astype(np.uint8)
    X = np.stack([format_cue_features(t, "jpeg" if m["jpeg_q"] else "png", m["jpeg_q"]) for t, m in zip(tiles, meta)])
    folds = np.array([m["fold"] for m in meta])
    result["training"] = loso_auc(X, lab.astype(int), folds)
    result["training"]["n"] = int(len(lab))
    print("training", {k: v["mean_auc"] for k, v in result["training"].items() if isinstance(v, dict)}, flush=True)

    X, y, f = [], [], []
    for s in samples:
        t = equalise(read_rgb(s.path), 256, 90)
        X.append(format_cue_features(t, "jpeg", 90)), y.append(s.label), f.append(fold_of(s))
    result["protocol"] = loso_auc(np.array(X), np.array(y), np.array(f))
    print("protocol", {k: v["mean_auc"] for k, v in result["protocol"].items() if isinstance(v, dict)}, flush=True)
    Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
