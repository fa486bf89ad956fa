"""Evaluation: AUC, AP, accuracy, TPR at 1% / 0.1% FPR, per source, under perturbations; JSON, markdown, ROC.

Protocol (the issue's target): both classes centre-cropped to 512 and re-encoded as JPEG q90, so neither
class can be told apart by format. ``--robustness`` adds JPEG 75/50, resize 0.5 and Gaussian blur σ=1.
Needs only numpy/OpenCV/onnxruntime (+ scikit-learn for metrics, matplotlib for the plot).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from ..datasets import load_dataset, split_of
from ..datasets.augment import center_crop, robustness_conditions
from ..datasets.builders import read_rgb
from .inference import Detector
from .metrics import binary_metrics

log = logging.getLogger(__name__)


def model_split(card: dict, sample) -> str | None:
    """The split ('train', 'calib', 'test') the model's own split rule put this sample in, or None when
    the sample's folder was not part of its training data."""
    training = card.get("training", {})
    top = sample.group.split("/", 1)[0]
    split = training.get("split", {})
    if sample.label == 1 and top in {Path(d).name for d in training.get("fakes_data") or []}:
        from .recipe import prompt_group  # genuine fakes of the training pool: split by prompt, as trained

        return split_of(prompt_group(sample).group, split.get("seed", 0), split.get("fractions"))
    if top not in {Path(d).name for d in training.get("data", [])}:
        return None
    return split_of(sample.group, split.get("seed", 0), split.get("fractions"))


def evaluate(detector: Detector, data: list[str], *, robustness: bool = False, heldout_only: bool = True,
             crop: int = 512, progress=None) -> dict:
    samples = [s for d in data for s in load_dataset(d)]
    skipped_train = 0
    if heldout_only:
        # an image from a training folder (real photos, or genuine fakes of the recipe's pool) counts only
        # if the split rule put it in the held-out test split
        kept = []
        for s in samples:
            if model_split(detector.card, s) not in (None, "test"):
                skipped_train += 1
                continue
            kept.append(s)
        samples = kept
    conds = robustness_conditions()
    if not robustness:
        conds = {"jpeg90": conds["jpeg90"]}
    scores = {c: [] for c in conds}
    labels, sources, paths, errors = [], [], [], []
    for i, s in enumerate(samples):
        try:
            base = center_crop(read_rgb(s.path), crop)
        except Exception as exc:
            errors.append({"path": str(s.path), "error": f"{type(exc).__name__}: {exc}"})
            continue
        for c, fn in conds.items():
            scores[c].append(detector.score(fn(base)).probability_synthetic)
        labels.append(s.label)
        sources.append(s.source if s.label == 1 else "real")
        paths.append(str(s.path))
        if progress and (i + 1) % 25 == 0:
            progress(f"{i + 1}/{len(samples)} images")
    labels = np.array(labels)
    src = np.array(sources)
    result = {"model": detector.name, "protocol": f"centre crop {crop}, then the condition (jpeg90 = target)",
              "n_real": int((labels == 0).sum()), "n_fake": int((labels == 1).sum()),
              "skipped_training_photos": skipped_train, "errors": errors, "threshold": detector.threshold,
              "conditions": {}}
    for c in conds:
        sc = np.array(scores[c])
        per = {}
        for g in sorted(set(sources) - {"real"}):
            m = (src == g) | (labels == 0)
            per[g] = binary_metrics(labels[m], sc[m], detector.threshold)
        result["conditions"][c] = {"overall": binary_metrics(labels, sc, detector.threshold), "per_source": per}
    result["_scores"] = {"labels": labels.tolist(), "sources": sources, "paths": paths,
                         "scores": {c: list(map(float, v)) for c, v in scores.items()}}
    return result


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.3f}"


def to_markdown(result: dict) -> str:
    cols = ["auc", "ap", "accuracy", "tpr_at_1pct_fpr", "tpr_at_0.1pct_fpr", "fpr_at_threshold"]
    lines = [f"Model `{result['model']}`; {result['n_real']} real vs {result['n_fake']} synthetic images; "
             f"{result['protocol']}; threshold {result['threshold']:.3f}.", "",
             "| condition | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for c, r in result["conditions"].items():
        lines.append(f"| {c} | " + " | ".join(_fmt(r["overall"][k]) for k in cols) + " |")
    first = next(iter(result["conditions"]))
    lines += ["", f"Per source ({first}; each source's fakes vs all reals):", "",
              "| source | n | auc | tpr_at_threshold | tpr_at_1pct_fpr |", "|---|---|---|---|---|"]
    for g, m in result["conditions"][first]["per_source"].items():
        lines.append(f"| {g} | {m['n_fake']} | {_fmt(m['auc'])} | {_fmt(m['tpr_at_threshold'])} | "
                     f"{_fmt(m['tpr_at_1pct_fpr'])} |")
    return "\n".join(lines) + "\n"


def plot_roc(result: dict, path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    y = np.array(result["_scores"]["labels"])
    fig, ax = plt.subplots(figsize=(4.5, 4.2), dpi=100)
    for c, sc in result["_scores"]["scores"].items():
        fpr, tpr, _ = roc_curve(y, sc)
        ax.plot(fpr, tpr, label=f"{c} (AUC {result['conditions'][c]['overall']['auc']:.3f})")
    diag = np.linspace(0, 1, 201)
    ax.plot(diag, diag, "k:", lw=0.8)  # chance (curved on the symlog axis)
    ax.set_xscale("symlog", linthresh=0.01)
    ax.set_xlabel("false-positive rate (symlog)")
    ax.set_ylabel("true-positive rate")
    ax.set_title(result["model"], fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_outputs(result: dict, out: str | Path) -> dict[str, Path]:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "eval.json", "markdown": out / "eval.md", "roc": out / "roc.png"}
    paths["json"].write_text(json.dumps(result, indent=2))
    paths["markdown"].write_text(to_markdown(result))
    try:
        plot_roc(result, paths["roc"])
    except ValueError as exc:  # one class only: no ROC
        log.warning("no ROC plot: %s", exc)
        paths.pop("roc")
    return paths
