"""Canary audit in one training run: the worst case a DP guarantee must cover.

m canaries — mislabeled copies of population records, so no other record explains them — are each
put into the training set independently with probability ½. After training, the auditor scores every
canary and tries to tell which were in. For a correct (ε, δ)-DP run the empirical ε lower bound from
these guesses must stay ≤ ε; a violation is a bug in training or accounting.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .metrics import epsilon_lower_bound, summarise  # noqa: F401  (epsilon_lower_bound is API here)
from .scores import logit_confidence


@dataclass
class Canaries:
    x: np.ndarray
    y: np.ndarray  # the wrong labels they are trained with
    included: np.ndarray  # bool per canary
    source_index: np.ndarray  # population rows they were copied from, in the same order

    def training_set(self, x_train: np.ndarray, y_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.concatenate([x_train, self.x[self.included]]),
                np.concatenate([y_train, self.y[self.included]]))


def plant(x_pop: np.ndarray, y_pop: np.ndarray, num_classes: int, m: int, seed: int) -> Canaries:
    """Mislabeled copies of the first m population rows of a seeded permutation; each in w.p. ½."""
    if m > len(y_pop):
        from ..errors import ExplorerError

        raise ExplorerError(f"{m} canaries need {m} population records; this dataset has {len(y_pop)}")
    rng = np.random.default_rng([seed, 7])
    src = rng.permutation(len(y_pop))[:m]
    wrong = (y_pop[src] + rng.integers(1, num_classes, size=m)) % num_classes
    return Canaries(x_pop[src].copy(), wrong.astype(np.int64), rng.random(m) < 0.5, src)


def audit(model, canaries: Canaries, delta: float, confidence: float = 0.95) -> dict:
    """Score each canary by the logit-scaled confidence in its (wrong) training label,
    log p_y − log Σ_{j≠y} p_j (rank-equivalent to −loss), and summarise the guesses."""
    scores = logit_confidence(model, canaries.x, canaries.y)
    members, nonmembers = scores[canaries.included], scores[~canaries.included]
    block = summarise(members, nonmembers)
    block.update({
        "canaries": int(len(canaries.y)), "included": int(canaries.included.sum()),
        "kind": "mislabeled population records", "score": "logit-scaled confidence (≡ −loss in rank)",
        "epsilon_lower_bound": epsilon_lower_bound(members, nonmembers, delta, confidence),
        "confidence": confidence, "delta": delta,
        "scores": {"members": [round(float(s), 4) for s in members],
                   "nonmembers": [round(float(s), 4) for s in nonmembers]},
    })
    return block
