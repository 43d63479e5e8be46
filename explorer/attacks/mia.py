"""Membership inference on real records: LOSS (Yeom et al. 2018) and RMIA (Zarifzadeh et al., ICML 2024).

Members are training records, non-members held-out population records, in equal numbers. RMIA runs
offline, as published: K reference models, trained by the target's own recipe on random halves of a
pool that holds no evaluated record and no z record, so every evaluated record and every z is OUT for
every reference model.

    Pr(x)      = ½((1 + a)·mean_ref Pr(x | θ_ref) + (1 − a))     (the paper's offline approximation)
    LR(x, z)   = (Pr(x | θ)/Pr(x)) / (Pr(z | θ)/Pr(z))
    score(x)   = share of z in the z population with LR(x, z) ≥ γ

a is chosen as the paper does: one reference model plays the target, the others are its references,
and the a in A_GRID with the best AUC on that proxy wins. The proxy's members and non-members are pool
records (OUT for every proxy reference), its z the same z population: no evaluated record is touched.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .metrics import DIGITS, summarise
from .scores import loss, true_class_prob

A_GRID = tuple(round(0.1 * i, 1) for i in range(11))
DEFAULT_A = 0.3  # only when a cannot be chosen (one reference model: none left to be the proxy's)
MAX_EVAL = 1000  # evaluated members (and as many non-members)
MAX_Z = 1000


@dataclass
class MembershipSplit:
    member_index: np.ndarray  # training rows evaluated as members
    nonmember_index: np.ndarray  # population rows evaluated as non-members
    z_index: np.ndarray  # population rows forming RMIA's z population
    ref_train_index: np.ndarray  # training rows in the reference pool
    ref_pop_index: np.ndarray  # population rows in the reference pool

    def check(self, reserved_pop=()) -> None:
        """Disjointness the attacks rely on; fails loudly rather than report a leaky figure."""
        pop = [self.nonmember_index, self.z_index, self.ref_pop_index, np.asarray(reserved_pop, int)]
        for i, a in enumerate(pop):
            for b in pop[i + 1:]:
                assert not np.intersect1d(a, b).size, "population roles overlap"
        assert not np.intersect1d(self.member_index, self.ref_train_index).size, "members in the reference pool"


def split(n_train: int, n_pop: int, reserved_pop: np.ndarray, seed: int) -> MembershipSplit:
    """Evaluated members and non-members (equal numbers), a z population, and the reference pool
    (every other training and population row). `reserved_pop` rows (canary sources) play no role."""
    rng = np.random.default_rng([seed, 11])
    free_pop = rng.permutation(np.setdiff1d(np.arange(n_pop), reserved_pop))
    k = min(len(free_pop) // 3, MAX_EVAL, n_train // 2)
    nz = min(len(free_pop) // 3, MAX_Z)
    train_perm = rng.permutation(n_train)
    sp = MembershipSplit(np.sort(train_perm[:k]), np.sort(free_pop[:k]), np.sort(free_pop[k:k + nz]),
                         np.sort(train_perm[k:]), np.sort(free_pop[k + nz:]))
    sp.check(reserved_pop)
    return sp


@dataclass
class References:
    """RMIA's reference models and what each was trained on. Pool row i is training row
    train_rows[i] for i < len(train_rows), else population row pop_rows[i − len(train_rows)]."""
    models: list
    pool_x: np.ndarray
    pool_y: np.ndarray
    train_rows: np.ndarray
    pop_rows: np.ndarray
    trained_on: np.ndarray  # bool (K, pool size): pool row i in reference model k's training half

    def rows(self, pool_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(training rows, population rows) of the dataset behind these pool indices."""
        pool_index = np.asarray(pool_index)
        nt = len(self.train_rows)
        return self.train_rows[pool_index[pool_index < nt]], self.pop_rows[pool_index[pool_index >= nt] - nt]


def loss_attack(model, x_mem, y_mem, x_non, y_non) -> dict:
    """Yeom et al.: lower loss ⇒ member. No reference models."""
    block = summarise(-loss(model, x_mem, y_mem), -loss(model, x_non, y_non))
    return {"method": "loss", **block}


def _scores(p_target: np.ndarray, p_ref: np.ndarray, pz_target: np.ndarray, pz_ref: np.ndarray,
            a: float, gamma: float) -> np.ndarray:
    """RMIA scores of the records behind p_target, given z's probabilities (p_ref: mean over OUT refs)."""
    ratio_x = p_target / (0.5 * ((1 + a) * p_ref + (1 - a)))
    ratio_z = np.sort(pz_target / (0.5 * ((1 + a) * pz_ref + (1 - a))))
    # LR(x, z) ≥ γ  ⇔  ratio_z ≤ ratio_x / γ
    return np.searchsorted(ratio_z, ratio_x / gamma, side="right") / len(ratio_z)


def choose_a(refs: References, x_z, y_z, gamma: float = 1.0, seed: int = 0, max_points: int = 2 * MAX_EVAL):
    """(a, AUC per a in A_GRID, the pool indices the proxy evaluated): reference model 0 plays the
    target, the others are its references. None of the AUCs when fewer than two reference models."""
    if len(refs.models) < 2:
        return DEFAULT_A, None, np.zeros(0, int)
    from .metrics import auc

    out_of_others = ~refs.trained_on[1:].any(axis=0)
    candidates = np.flatnonzero(out_of_others)
    rng = np.random.default_rng([seed, 19])
    if len(candidates) > max_points:
        candidates = np.sort(rng.choice(candidates, max_points, replace=False))
    is_member = refs.trained_on[0, candidates]
    if is_member.all() or not is_member.any():
        return DEFAULT_A, None, candidates
    xs, ys = refs.pool_x[candidates], refs.pool_y[candidates]
    p_proxy = true_class_prob(refs.models[0], xs, ys)
    p_others = np.mean([true_class_prob(r, xs, ys) for r in refs.models[1:]], axis=0)
    pz_proxy = true_class_prob(refs.models[0], x_z, y_z)
    pz_others = np.mean([true_class_prob(r, x_z, y_z) for r in refs.models[1:]], axis=0)
    aucs = []
    for a in A_GRID:
        s = _scores(p_proxy, p_others, pz_proxy, pz_others, a, gamma)
        aucs.append(auc(s[is_member], s[~is_member]))
    return A_GRID[int(np.argmax(aucs))], [round(v, DIGITS) for v in aucs], candidates


def rmia(target, refs: References, x_mem, y_mem, x_non, y_non, x_z, y_z, gamma: float = 1.0,
         seed: int = 0) -> dict:
    """RMIA, offline, with a chosen on the reference models (choose_a) and z from its own population."""
    a, aucs, used = choose_a(refs, x_z, y_z, gamma, seed)
    x, y = np.concatenate([x_mem, x_non]), np.concatenate([y_mem, y_non])
    p_target = true_class_prob(target, x, y)
    p_ref = np.mean([true_class_prob(r, x, y) for r in refs.models], axis=0)
    pz_target = true_class_prob(target, x_z, y_z)
    pz_ref = np.mean([true_class_prob(r, x_z, y_z) for r in refs.models], axis=0)
    score = _scores(p_target, p_ref, pz_target, pz_ref, a, gamma)
    block = summarise(score[:len(y_mem)], score[len(y_mem):])
    return {"method": "rmia", "setting": "offline", "reference_models": len(refs.models), "gamma": gamma,
            "a": a, "a_selection": ({"grid": list(A_GRID), "proxy_auc": aucs, "proxy_records": len(used),
                                     "how": "reference model 1 as target, the others as its references, "
                                            "on pool records none of them trained on"}
                                    if aucs is not None else
                                    {"how": f"default a = {DEFAULT_A}: one reference model leaves none to tune on"}),
            "z_population": len(y_z), **block}
