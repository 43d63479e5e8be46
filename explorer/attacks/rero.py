"""The ReRo bound: how often ANY reconstruction attack can succeed against a DP-SGD run.

Hayes, Mahloujifar & Balle (NeurIPS 2023), after Balle, Cherubin & Hayes (S&P 2022): an informed
adversary who knows every record but the target, the target drawn from a prior under which a blind
guess succeeds with probability κ, succeeds with probability at most the blow-up of κ under the
run's trade-off curve. From the privacy profile δ(ε′) (add/remove; the run with the target against
the run without it) that is

    success ≤ min(1, inf over ε′ ≥ 0 of e^ε′·κ + δ(ε′)),

since any event E satisfies P(E) ≤ e^ε′·Q(E) + δ(ε′) for every ε′ and Q(E) ≤ κ without the target.
δ(ε′) comes from dp-accounting's PLD of the Poisson-subsampled Gaussian, composed over the run's
steps, with pessimistic rounding, so the bound errs on the safe side.
"""
from __future__ import annotations

import numpy as np

# the minimum over a grid is ≥ the infimum, so a coarser grid only loosens the bound
EPS_GRID = np.r_[np.linspace(0.0, 2.0, 201), np.linspace(2.0, 40.0, 381)[1:]]


def privacy_profile(sigma: float, sample_rate: float, steps: int, eps=EPS_GRID) -> np.ndarray:
    """δ(ε′) for each ε′ in `eps`, by dp-accounting's PLD accountant."""
    import dp_accounting
    from dp_accounting.pld import pld_privacy_accountant

    acc = pld_privacy_accountant.PLDAccountant()
    acc.compose(dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(sample_rate, dp_accounting.GaussianDpEvent(sigma)), steps))
    return np.asarray(acc.get_delta(np.asarray(eps, float)), float)  # vectorised inside the PLD


def bound(sigma: float | None, sample_rate: float | None, steps: int, kappa: float) -> float:
    """Largest success probability any reconstruction attack can have (1 without noise)."""
    if not sigma or not sample_rate or steps <= 0:
        return 1.0
    deltas = privacy_profile(sigma, sample_rate, steps)
    return float(min(1.0, np.min(np.exp(EPS_GRID) * kappa + deltas)))
