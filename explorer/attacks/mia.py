"""Membership inference on real records: LOSS (Yeom et al. 2018) and RMIA (Zarifzadeh et al. 2024).

Members are training records, non-members held-out population records, in equal numbers. RMIA's
reference models are trained by the target's own recipe (DP for a DP target) on random halves of a
pool that holds no evaluated record, so every evaluated record is OUT for every reference model
(the paper's offline setting).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .metrics import summarise
from .scores import loss, true_class_prob

OFFLINE_A = 0.3  # the paper's offline scaling: Pr(x) ≈ ½((1+a)·Pr_OUT(x) + (1−a))
MAX_EVAL = 1000


@dataclass
class MembershipSplit:
    member_index: np.ndarray  # rows of the (real) training set that are evaluated as members
    nonmember_index: np.ndarray  # rows of the population split evaluated as non-members
    ref_train_index: np.ndarray  # training rows free for reference models
    ref_pop_index: np.ndarray  # population rows free for reference models


def split(n_train: int, n_pop: int, reserved_pop: np.ndarray, seed: int) -> MembershipSplit:
    """Balanced evaluation sets; everything else (minus canary sources) feeds reference models."""
    rng = np.random.default_rng([seed, 11])
    free_pop = np.setdiff1d(np.arange(n_pop), reserved_pop)
    free_pop = rng.permutation(free_pop)
    k = min(len(free_pop) // 2, MAX_EVAL, n_train // 2)
    train_perm = rng.permutation(n_train)
    return MembershipSplit(np.sort(train_perm[:k]), np.sort(free_pop[:k]), np.sort(train_perm[k:]),
                           np.sort(free_pop[k:]))


def loss_attack(model, x_mem, y_mem, x_non, y_non) -> dict:
    """Yeom et al.: lower loss ⇒ member. No reference models."""
    block = summarise(-loss(model, x_mem, y_mem), -loss(model, x_non, y_non))
    return {"method": "loss", **block}


def rmia(target, references: list, x_mem, y_mem, x_non, y_non, gamma: float = 1.0) -> dict:
    """RMIA, offline: score(x) = Pr_z[ (Pr(x|θ)/Pr(x)) / (Pr(z|θ)/Pr(z)) ≥ γ ] with z drawn from the
    non-member population (each x compared with the others, never itself)."""
    x = np.concatenate([x_mem, x_non])
    y = np.concatenate([y_mem, y_non])
    p_target = true_class_prob(target, x, y)
    p_out = np.mean([true_class_prob(r, x, y) for r in references], axis=0)
    p_x = 0.5 * ((1 + OFFLINE_A) * p_out + (1 - OFFLINE_A))
    ratio = p_target / p_x
    z = ratio[len(y_mem):]  # population non-members as the z sample
    # fraction of z with ratio_x / ratio_z ≥ γ, excluding x itself when x is one of the z
    counts = np.searchsorted(np.sort(z), ratio / gamma, side="right").astype(float)
    self_in_z = np.r_[np.zeros(len(y_mem), bool), np.ones(len(y_non), bool)]
    counts[self_in_z] -= 1.0
    denom = np.where(self_in_z, len(z) - 1, len(z))
    score = counts / np.maximum(denom, 1)
    block = summarise(score[:len(y_mem)], score[len(y_mem):])
    return {"method": "rmia", "reference_models": len(references), "gamma": gamma,
            "offline_a": OFFLINE_A, **block}
