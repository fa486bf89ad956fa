"""Detection metrics (scikit-learn): AUC, AP, accuracy at the threshold, TPR at fixed FPRs."""
from __future__ import annotations

import numpy as np


def tpr_at_fpr(labels: np.ndarray, scores: np.ndarray, fpr_target: float) -> float:
    """Highest TPR whose FPR is ≤ ``fpr_target`` (with n reals, FPR resolution is 1/n)."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(labels, scores)
    ok = fpr <= fpr_target + 1e-12
    return float(tpr[ok].max()) if ok.any() else 0.0


def binary_metrics(labels, scores, threshold: float) -> dict:
    from sklearn.metrics import average_precision_score, roc_auc_score

    labels, scores = np.asarray(labels), np.asarray(scores, dtype=float)
    both = len(set(labels.tolist())) == 2
    pred = scores >= threshold
    real, fake = labels == 0, labels == 1
    return {
        "n_real": int(real.sum()), "n_fake": int(fake.sum()),
        "auc": float(roc_auc_score(labels, scores)) if both else None,
        "ap": float(average_precision_score(labels, scores)) if both else None,
        "accuracy": float((pred == (labels == 1)).mean()),
        "balanced_accuracy": float(((pred[fake]).mean() + (~pred[real]).mean()) / 2) if both else None,
        "tpr_at_threshold": float(pred[fake].mean()) if fake.any() else None,
        "fpr_at_threshold": float(pred[real].mean()) if real.any() else None,
        "tpr_at_1pct_fpr": tpr_at_fpr(labels, scores, 0.01) if both else None,
        "tpr_at_0.1pct_fpr": tpr_at_fpr(labels, scores, 0.001) if both else None,
    }
