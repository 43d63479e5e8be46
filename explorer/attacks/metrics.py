"""Scores → ROC, AUC, TPR at fixed FPR, compact summaries. Pure numpy (sklearn for the ROC).

The audit's ε lower bounds are not here: jax-privacy computes them (audit.py)."""
from __future__ import annotations

import numpy as np

FPR_LEVELS = (0.0, 0.001, 0.01, 0.1)
ROC_POINTS = 200
DIGITS = 4  # records keep 4 decimals: enough for any figure, small on disk


def roc(member_scores, nonmember_scores) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) for "member if score ≥ t", over every distinct t, from (0,0) to (1,1)."""
    from sklearn.metrics import roc_curve

    y = np.r_[np.ones(len(member_scores)), np.zeros(len(nonmember_scores))]
    fpr, tpr, _ = roc_curve(y, np.r_[member_scores, nonmember_scores], drop_intermediate=False)
    return fpr, tpr


def auc(member_scores, nonmember_scores) -> float:
    from sklearn.metrics import roc_auc_score

    y = np.r_[np.ones(len(member_scores)), np.zeros(len(nonmember_scores))]
    return float(roc_auc_score(y, np.r_[member_scores, nonmember_scores]))


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, levels=FPR_LEVELS) -> dict[str, float]:
    """Largest TPR among thresholds whose FPR is at most each level (no interpolation)."""
    return {str(level): round(float(tpr[fpr <= level].max(initial=0.0)), DIGITS) for level in levels}


def downsample(fpr: np.ndarray, tpr: np.ndarray, points: int = ROC_POINTS) -> dict[str, list[float]]:
    """At most `points` ROC points, log-spaced in FPR so the low-FPR region a log-log plot shows
    keeps its detail; the upper envelope at each kept FPR."""
    if len(fpr) > points:
        grid = np.unique(np.r_[0.0, np.geomspace(max(fpr[fpr > 0].min(), 1e-5), 1.0, points - 1)])
        idx = np.searchsorted(fpr, grid, side="right") - 1
        fpr, tpr = fpr[idx], tpr[idx]
    return {"fpr": [round(float(v), DIGITS + 1) for v in fpr], "tpr": [round(float(v), DIGITS) for v in tpr]}


def summarise(member_scores, nonmember_scores) -> dict:
    """The block every attack reports: AUC, TPR at 0/0.1/1/10 % FPR, advantage, balanced accuracy, ROC."""
    fpr, tpr = roc(member_scores, nonmember_scores)
    advantage = float(np.max(tpr - fpr))
    return {"auc": round(auc(member_scores, nonmember_scores), DIGITS), "tpr_at_fpr": tpr_at_fpr(fpr, tpr),
            "advantage": round(advantage, DIGITS), "balanced_accuracy": round((1 + advantage) / 2, DIGITS),
            "members": len(member_scores), "nonmembers": len(nonmember_scores),
            "roc": downsample(fpr, tpr)}
