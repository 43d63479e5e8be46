"""Canary audit in ONE training run: an empirical ε lower bound that the guarantee must cover.

m canaries (canaries.py) are each put into training independently with probability ½. After
training the auditor scores every canary from the released model and guesses "included" for the
canaries a fixed rule picks (the rules below), abstaining on the rest. Steinke, Nasr & Jagielski
(NeurIPS 2023) show that for an (ε, δ)-DP training run the number of correct guesses is
stochastically dominated by a binomial with success probability e^ε/(1 + e^ε) (plus a δ term), so many
correct guesses reject every ε below some value: that value is the lower bound, at the stated
confidence, from this one run.

The bounds come from jax-privacy's `auditing.CanaryScoreAuditor` (Google DeepMind):
- one_run: `epsilon_one_run` (Steinke et al. 2023), the headline; it assumes nothing about the
  mechanism beyond (ε, δ)-DP.
- one_run_fdp: `epsilon_one_run_fdp` (Mahloujifar et al. 2024), which audits the Gaussian trade-off
  curve through (ε, δ): tighter, but an ε lower bound only if the mechanism's trade-off curve is
  Gaussian, which DP-SGD's is approximately.
Both with one-sided guesses (the library supports no others). The threshold: the library's default
`Bonferroni()` divides the significance by the number of thresholds on the ROC's convex frontier, a
count that depends on the data; with pure-noise scores and 500 canaries it rejected a true ε = 0 in
6.1 % of 5,000 trials at a nominal 5 %. So we fix a small family of guess rules in advance, give
each to the library as an `Explicit` threshold and split the significance equally over them
(Bonferroni over a fixed family: valid; 1.5 % false rejections in the same simulation). Each rule is a
function of the released model only, as the theorem requires.
"""
from __future__ import annotations

import numpy as np

from .metrics import DIGITS, summarise
from .scores import logit_confidence

SIGNIFICANCE = 0.05  # 95 % confidence
# The guess rules, fixed before any score is seen; the significance is split equally over them.
# (a) "included" when the model gives the canary's own label probability ≥ p: a cut on the score
#     log p_y − log(1 − p_y) at log(p/(1 − p)), natural for a model that fits its canaries;
# (b) "included" for the k highest scores, k = m·f: the few most suspicious canaries, where a DP model's
#     weak leakage shows first.
PROBABILITY_CUTS = (0.5, 0.9, 0.99)
GUESS_FRACTIONS = (0.25, 0.1, 0.05, 0.02)
SCORE = "logit-scaled confidence in the canary's label, log p_y − log Σ_{j≠y} p_j (black-box)"
METHOD = ("one-run audit (Steinke, Nasr & Jagielski 2023) by jax-privacy's CanaryScoreAuditor; "
          "one-sided guesses (\"included\") by fixed rules, abstaining on the rest")


def guess_counts(m: int) -> list[int]:
    """The top-k rules' k for m canaries (they depend on m only)."""
    return sorted({max(1, int(round(f * m))) for f in GUESS_FRACTIONS})


def rules(scores: np.ndarray) -> list[tuple[str, float]]:
    """(name, score threshold) of every guess rule: "included" when score ≥ threshold."""
    ranked = np.sort(scores)[::-1]
    cuts = [(f"p_y ≥ {p}", float(np.log(p / (1 - p)))) for p in PROBABILITY_CUTS]
    return cuts + [(f"top {k}", float(ranked[k - 1])) for k in guess_counts(len(scores))]


def bounds(in_scores, out_scores, delta: float, significance: float = SIGNIFICANCE, fdp: bool = True) -> dict:
    """ε lower bounds from one run's canary scores (logit-scaled confidence: higher = more likely in)."""
    from jax_privacy import auditing  # jax loads here, where an audit runs, never on the app's first render

    in_scores, out_scores = np.asarray(in_scores, float), np.asarray(out_scores, float)
    out = {"one_run": 0.0, "one_run_fdp": 0.0, "rule": None}
    if len(in_scores) == 0 or len(out_scores) == 0:  # every canary in (or out): nothing to tell apart
        return out
    auditor = auditing.CanaryScoreAuditor(in_scores, out_scores)
    family = rules(np.r_[in_scores, out_scores])
    alpha = significance / len(family)
    for name, threshold in family:
        rule = auditing.Explicit(threshold)
        one_run = float(auditor.epsilon_one_run(alpha, delta, threshold_strategy=rule))
        if one_run > out["one_run"]:
            out["one_run"], out["rule"] = one_run, name
        if fdp:
            out["one_run_fdp"] = max(out["one_run_fdp"],
                                     float(auditor.epsilon_one_run_fdp(alpha, delta, threshold_strategy=rule)))
    out["one_run"], out["one_run_fdp"] = round(out["one_run"], DIGITS), round(out["one_run_fdp"], DIGITS)
    return out


def ceiling(n_in: int, n_out: int, delta: float, significance: float = SIGNIFICANCE) -> float:
    """The largest one-run bound these canary counts can show: every guess right."""
    return bounds(np.full(n_in, 10.0), np.full(n_out, -10.0), delta, significance, fdp=False)["one_run"]


def audit(model, canaries, delta: float, significance: float = SIGNIFICANCE) -> dict:
    """Score every canary on the released model and summarise: bounds, AUC, TPR at low FPR, ROC."""
    scores = logit_confidence(model, canaries.x, canaries.y)
    members, nonmembers = scores[canaries.included], scores[~canaries.included]
    b = bounds(members, nonmembers, delta, significance)
    n_in, n_out = int(canaries.included.sum()), int((~canaries.included).sum())
    block = {
        "method": METHOD, "kind": canaries.kind, "canary_description": canaries.description,
        "canaries": len(canaries.y), "included": n_in, "score": SCORE,
        "delta": delta, "significance": significance, "confidence": 1 - significance,
        "threshold_strategy": ("fixed rules, each a jax-privacy Explicit threshold, significance split "
                               "equally over them (Bonferroni): " + ", ".join(n for n, _ in rules(scores))),
        "bounds": {"one_run": b["one_run"], "one_run_fdp": b["one_run_fdp"]},
        "best_rule": b["rule"],
        "epsilon_lower_bound": b["one_run"],
        "ceiling": ceiling(n_in, n_out, delta, significance),
        **(summarise(members, nonmembers) if n_in and n_out else {}),
        "scores": {"members": [round(float(s), 3) for s in members],
                   "nonmembers": [round(float(s), 3) for s in nonmembers]},
    }
    return block
