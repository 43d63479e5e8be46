"""Scores → ROC, AUC, TPR at fixed FPR, and the empirical ε lower bound. Pure numpy/scipy."""
from __future__ import annotations

import math

import numpy as np
from scipy.special import betaincinv  # beta.ppf without scipy.stats' 0.3 s import on the app's path

FPR_LEVELS = (0.001, 0.01, 0.1)
# Candidate thresholds for the ε lower bound: fixed quantiles of the pooled scores. Fixing their
# number lets the confidence be split honestly (Bonferroni) over everything that is maximised.
N_THRESHOLDS = 20


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
    return {str(level): float(tpr[fpr <= level].max(initial=0.0)) for level in levels}


def downsample(fpr: np.ndarray, tpr: np.ndarray, points: int = 200) -> dict[str, list[float]]:
    """At most `points` ROC points, log-spaced in FPR so the low-FPR region a log-log plot shows
    keeps its detail; the upper envelope at each kept FPR."""
    if len(fpr) <= points:
        return {"fpr": [float(v) for v in fpr], "tpr": [float(v) for v in tpr]}
    grid = np.unique(np.r_[0.0, np.geomspace(max(fpr[fpr > 0].min(), 1e-5), 1.0, points - 1)])
    idx = np.searchsorted(fpr, grid, side="right") - 1
    return {"fpr": [float(v) for v in fpr[idx]], "tpr": [float(v) for v in tpr[idx]]}


def clopper_pearson_upper(failures: int, n: int, alpha: float) -> float:
    """One-sided (1 − α) Clopper–Pearson upper bound on a rate seen `failures` times in n trials."""
    if failures >= n:
        return 1.0
    return float(betaincinv(failures + 1, n - failures, 1 - alpha))


def epsilon_lower_bound(member_scores, nonmember_scores, delta: float = 1e-5,
                        confidence: float = 0.95, thresholds: int = N_THRESHOLDS) -> float:
    """Empirical ε lower bound (Jagielski et al. 2020) at the given confidence.

    For a threshold test "member if score ≥ t", any (ε, δ)-DP training gives
    FPR ≥ e^−ε(1 − δ − FNR) and FNR ≥ e^−ε(1 − δ − FPR), so
    ε ≥ max(ln((1 − δ − FPR)/FNR), ln((1 − δ − FNR)/FPR)). Observed rates are replaced by
    Clopper–Pearson upper bounds; we maximise over `thresholds` fixed quantile thresholds and both
    directions, and each of the 2·thresholds bounds is taken at α / (2·thresholds) (Bonferroni), so
    the result holds with the stated confidence for the maximum as a whole.
    """
    m = np.asarray(member_scores, dtype=float)
    nm = np.asarray(nonmember_scores, dtype=float)
    if len(m) == 0 or len(nm) == 0:
        return 0.0
    alpha = (1 - confidence) / (2 * thresholds)
    pooled = np.r_[m, nm]
    # thresholds between order statistics: quantiles of the pooled scores, nudged to the midpoints
    qs = np.quantile(pooled, np.linspace(0, 1, thresholds + 2)[1:-1], method="nearest")
    best = 0.0
    for t in np.unique(qs):
        above = pooled[pooled > t]
        cut = (t + above.min()) / 2 if len(above) else t + 1.0
        fp = int((nm >= cut).sum())
        fn = int((m < cut).sum())
        fpr_ub = clopper_pearson_upper(fp, len(nm), alpha)
        fnr_ub = clopper_pearson_upper(fn, len(m), alpha)
        for num, den in ((1 - delta - fpr_ub, fnr_ub), (1 - delta - fnr_ub, fpr_ub)):
            if num > 0 and den > 0:
                best = max(best, math.log(num / den))
    return float(best)


def summarise(member_scores, nonmember_scores) -> dict:
    """The block every attack reports: AUC, TPR at 0.1/1/10 % FPR, advantage, balanced accuracy, ROC."""
    fpr, tpr = roc(member_scores, nonmember_scores)
    advantage = float(np.max(tpr - fpr))
    return {"auc": auc(member_scores, nonmember_scores), "tpr_at_fpr": tpr_at_fpr(fpr, tpr),
            "advantage": advantage, "balanced_accuracy": (1 + advantage) / 2,
            "members": int(len(member_scores)), "nonmembers": int(len(nonmember_scores)),
            "roc": downsample(fpr, tpr)}
