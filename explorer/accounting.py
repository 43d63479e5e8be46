"""Privacy accounting for DP-SGD: ε ⇄ σ, ε per epoch, GDP μ, trade-off curves, attacker odds.

Pure functions of (σ, sample rate q, steps T, δ). Reported figures come from the library accountants
— Opacus' RDP and PRV, dp-accounting's PLD — looked up in `ACCOUNTANTS`. Searching for σ, and the
ε-per-epoch curves, use the vectorised twins in `numeric.py` (tens of times faster; tests pin them to
the libraries). Importing this module does not import torch; the first library call does.
"""
from __future__ import annotations

import functools
import math
import warnings
from typing import Callable

import numpy as np
# scipy.special, not scipy.stats: the same Φ and Φ⁻¹ without 0.7 s of import on the app's first render
from scipy.special import ndtr, ndtri

from . import numeric
from .errors import ExplorerError

DEFAULT_ACCOUNTANT = "prv"
MAX_NOISE_MULTIPLIER = 200.0
# σ is returned with this much room below the target by the fast search, which agrees with the
# libraries to ≤ 0.2 % (tests/test_accounting.py measures it); see noise_for_epsilon.
_SEARCH_MARGIN = 0.004


def _rdp(sigma: float, q: float, steps: int, delta: float) -> float:
    from opacus.accountants import RDPAccountant

    acc = RDPAccountant()
    acc.history = [(sigma, q, steps)]
    return float(acc.get_epsilon(delta))


def _prv(sigma: float, q: float, steps: int, delta: float) -> float:
    from opacus.accountants import PRVAccountant

    acc = PRVAccountant()
    acc.history = [(sigma, q, steps)]
    return float(acc.get_epsilon(delta))


def _pld(sigma: float, q: float, steps: int, delta: float) -> float:
    import dp_accounting
    from dp_accounting.pld import pld_privacy_accountant

    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps)
    acc = pld_privacy_accountant.PLDAccountant()
    acc.compose(event)
    return float(acc.get_epsilon(delta))


ACCOUNTANTS: dict[str, Callable[[float, float, int, float], float]] = {
    "rdp": _rdp, "prv": _prv, "pld": _pld,
}

# Opacus' own orders, computed by the vectorised twins of its formulas.
_ORDERS = np.array([1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)), dtype=float)
_FRAC, _INT = _ORDERS[_ORDERS < 11], _ORDERS[_ORDERS >= 11]


def _fast_rdp(sigma, q, steps, delta):
    rdp = np.concatenate([numeric.rdp_fractional_orders(sigma, q, _FRAC),
                          numeric.rdp_integer_orders(sigma, q, _INT)])
    return numeric.rdp_to_epsilon(rdp * steps, _ORDERS, delta)


def _fast_prv(sigma, q, steps, delta, size=2**15):
    return numeric.prv_epsilon(sigma, q, steps, delta, size=size)


def _fast_pld(sigma, q, steps, delta, size=2**15):
    # dp-accounting's PLD equals the PRV estimate without Opacus' eps_error padding (tests check it).
    return numeric.prv_epsilon(sigma, q, steps, delta, size=size, eps_error=0.0)


FAST_ACCOUNTANTS = {"rdp": _fast_rdp, "prv": _fast_prv, "pld": _fast_pld}


def _check(noise_multiplier=None, sample_rate=None, steps=None, delta=None, accountant=None):
    if noise_multiplier is not None and not noise_multiplier > 0:
        raise ExplorerError(f"noise_multiplier must be > 0, got {noise_multiplier}")
    if sample_rate is not None and not 0 < sample_rate < 1:
        raise ExplorerError(f"sample_rate must be in (0, 1) — a batch smaller than the data — "
                            f"got {sample_rate}")
    if steps is not None and (int(steps) != steps or steps < 1):
        raise ExplorerError(f"steps must be a positive integer, got {steps}")
    if delta is not None and not 0 < delta < 1:
        raise ExplorerError(f"delta must be in (0, 1), got {delta}")
    if accountant is not None and accountant not in ACCOUNTANTS:
        raise ExplorerError(f"accountant must be one of {sorted(ACCOUNTANTS)}, got {accountant!r}")


def epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float,
            accountant: str = DEFAULT_ACCOUNTANT) -> float:
    """ε spent by `steps` Poisson-sampled Gaussian steps, by the named library accountant."""
    _check(noise_multiplier, sample_rate, steps, delta, accountant)
    return _library_epsilon(accountant, float(noise_multiplier), float(sample_rate), int(steps), float(delta))


# Memoised: a run asks for the same (σ, q, T, δ) more than once (σ's verification, the record's privacy
# block, the report), and pipeline.run computes the record's values ahead on an idle core
# (evidence.warm_up) so that the privacy block finds them. The same library call, so the same value.
@functools.lru_cache(maxsize=256)
def _library_epsilon(accountant: str, sigma: float, q: float, steps: int, delta: float) -> float:
    with warnings.catch_warnings():
        # Opacus says "optimal order is the largest alpha" (also inside PRV's domain sizing): a note
        # that RDP could be tighter with more orders, not an error; the value returned is still valid.
        warnings.simplefilter("ignore")
        return ACCOUNTANTS[accountant](sigma, q, steps, delta)


def epsilon_so_far(noise_multiplier: float, sample_rate: float, steps: int, delta: float,
                   accountant: str = DEFAULT_ACCOUNTANT) -> float:
    """ε after `steps` by the fast twin of `accountant` (~10 ms): the training history's figure after
    each epoch, for whoever watches a run. Memoised, and epsilon_by_epoch draws its PRV and PLD
    columns from here, so a run computes each of those points once."""
    return _twin_epsilon(accountant, float(noise_multiplier), float(sample_rate), int(steps), float(delta))


@functools.lru_cache(maxsize=1024)
def _twin_epsilon(accountant: str, sigma: float, q: float, steps: int, delta: float) -> float:
    return FAST_ACCOUNTANTS[accountant](sigma, q, steps, delta)


def epsilons(noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> dict[str, float]:
    """ε by every accountant, as the record stores it."""
    return {name: epsilon(noise_multiplier, sample_rate, steps, delta, name) for name in ACCOUNTANTS}


def _gdp_guess(target_epsilon: float, delta: float, q: float, steps: int) -> float:
    """σ from the CLT approximation (μ-GDP, Dong et al.): a starting point, not an answer."""
    def delta_of_mu(mu):
        return ndtr(-target_epsilon / mu + mu / 2) - math.exp(target_epsilon) * ndtr(
            -target_epsilon / mu - mu / 2)

    lo, hi = 1e-6, 50.0
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if delta_of_mu(mid) < delta else (lo, mid)
    mu = lo
    return 1.0 / math.sqrt(math.log1p(mu * mu / (q * q * steps)))


def noise_for_epsilon(target_epsilon: float, delta: float, sample_rate: float, steps: int,
                      accountant: str = DEFAULT_ACCOUNTANT, verify: bool = False) -> float:
    """The σ whose ε (by `accountant`) is at most `target_epsilon`, and within 1 % of it.

    A secant search in log–log space on the fast twin of the accountant, started from the GDP
    approximation and guarded by bisection, aims at target·(1 − 0.4 %); a few ms per step. The twins
    agree with the libraries to ≤ 0.2 % (tested over a grid), so the margin keeps the library's ε under
    the target. `verify=True` also asks the library accountant and raises σ until it agrees — used
    before training, where a few hundred ms do not matter.
    """
    _check(None, sample_rate, steps, delta, accountant)
    if not target_epsilon > 0 or not math.isfinite(target_epsilon):
        raise ExplorerError(f"target_epsilon must be a positive finite number, got {target_epsilon}")
    fast = FAST_ACCOUNTANTS[accountant]
    q, steps = float(sample_rate), int(steps)
    aim = target_epsilon * (1 - _SEARCH_MARGIN)
    f = lambda log_s: math.log(max(fast(math.exp(log_s), q, steps, delta), 1e-12)) - math.log(aim)  # noqa: E731

    x0 = math.log(min(max(_gdp_guess(target_epsilon, delta, q, steps), 0.3), MAX_NOISE_MULTIPLIER))
    lo, hi = None, None  # f decreases with σ: f(lo) > 0 > f(hi)
    x, fx = x0, f(x0)
    step = 0.15
    while lo is None or hi is None:  # bracket around the guess
        if fx > 0:
            lo = (x, fx)
            if hi is None:
                x = x + step
        else:
            hi = (x, fx)
            if lo is None:
                x = x - step
        if lo is None or hi is None:
            if x > math.log(MAX_NOISE_MULTIPLIER):
                raise ExplorerError(
                    f"budget ε={target_epsilon:g} is infeasible: it needs a noise multiplier above "
                    f"{MAX_NOISE_MULTIPLIER:g} for {steps} steps at sample rate {q:.3g}; "
                    "raise ε, train fewer epochs or use a smaller batch")
            if x < math.log(0.05):
                return math.exp(hi[0])  # a budget this loose is met by almost no noise
            fx = f(x)
            step *= 2
    # Illinois regula falsi on the bracket; stop once ε(σ_hi) lies in [aim·e^−0.003, aim].
    wl = wh = 1.0  # Illinois weights: halve the end that stays put, so both ends converge
    for _ in range(50):
        (xl, fl), (xh, fh) = lo, hi
        if fh > -3e-3 or xh - xl < 1e-7:
            break
        x = xh - wh * fh * (xh - xl) / (wh * fh - wl * fl)
        fx = f(x)
        if fx > 0:
            lo, wl, wh = (x, fx), 1.0, wh / 2
        else:
            hi, wh, wl = (x, fx), 1.0, wl / 2
    sigma = math.exp(hi[0])
    if verify:
        while epsilon(sigma, q, steps, delta, accountant) > target_epsilon:
            sigma *= 1.002
    return sigma


def epsilon_by_epoch(noise_multiplier: float, sample_rate: float, steps_per_epoch: int, epochs: int,
                     delta: float) -> list[dict]:
    """ε after each epoch for every accountant: RDP exactly (it is linear in steps), PRV and PLD by
    the fast twins (a library PLD per epoch would cost seconds). The record's final ε comes from the
    libraries; this curve is for drawing."""
    rows = _curve(float(noise_multiplier), float(sample_rate), int(steps_per_epoch), int(epochs), float(delta))
    return [{"epoch": e, "rdp": rdp, "prv": prv, "pld": pld} for e, rdp, prv, pld in rows]


@functools.lru_cache(maxsize=64)  # memoised as _library_epsilon is, for the same reason
def _curve(sigma: float, q: float, steps_per_epoch: int, epochs: int, delta: float) -> tuple:
    from opacus.accountants.analysis import rdp as rdp_analysis

    orders = list(_ORDERS)  # Opacus' default orders
    rdp_one = np.asarray(rdp_analysis.compute_rdp(q=q, noise_multiplier=sigma, steps=1, orders=orders))
    rows = []
    for e in range(1, epochs + 1):
        t = e * steps_per_epoch
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rdp_eps, _ = rdp_analysis.get_privacy_spent(orders=orders, rdp=rdp_one * t, delta=delta)
        rows.append((e, float(rdp_eps), _twin_epsilon("prv", sigma, q, t, delta),
                     _twin_epsilon("pld", sigma, q, t, delta)))
    return tuple(rows)


def gdp_mu(noise_multiplier: float, sample_rate: float, steps: int) -> float:
    """μ of the CLT μ-GDP approximation: μ = q·sqrt(T·(e^{1/σ²} − 1)) (Bu et al. 2020)."""
    return float(sample_rate * math.sqrt(steps * math.expm1(1.0 / noise_multiplier**2)))


def tradeoff_tpr(fpr, eps: float, delta: float) -> np.ndarray:
    """Highest TPR any membership test can reach at each FPR under (ε, δ)-DP (Kairouz et al. 2015)."""
    fpr = np.asarray(fpr, dtype=float)
    tpr = np.minimum(np.exp(eps) * fpr + delta, 1 - np.exp(-eps) * (1 - delta - fpr))
    return np.clip(tpr, 0.0, 1.0)


def gdp_tpr(fpr, mu: float) -> np.ndarray:
    """Highest TPR at each FPR under μ-GDP: Φ(Φ⁻¹(FPR) + μ)."""
    fpr = np.clip(np.asarray(fpr, dtype=float), 0.0, 1.0)
    return ndtr(ndtri(fpr) + mu)


def max_balanced_accuracy(eps: float, delta: float) -> float:
    """The best balanced accuracy (TPR + TNR)/2 any attacker reaches under (ε, δ)-DP."""
    fpr = np.linspace(0, 1, 20001)
    return float(np.max((tradeoff_tpr(fpr, eps, delta) + 1 - fpr) / 2))


def posterior(prior: float, eps: float, delta: float = 0.0) -> float:
    """Upper bound on an attacker's belief that a person was in the data after seeing the model,
    from a prior `prior`: odds grow by at most e^ε (δ adds at most δ to the probability)."""
    if not 0 < prior < 1:
        raise ExplorerError(f"prior must be in (0, 1), got {prior}")
    odds = prior / (1 - prior) * math.exp(eps)
    return min(1.0, odds / (1 + odds) + delta)


def delta_warning(delta: float, n: int) -> str | None:
    """δ should be well below 1/n: at δ ≥ 1/n a mechanism may publish a random record outright."""
    if delta >= 1.0 / n:
        return (f"δ = {delta:g} is not below 1/n = {1.0 / n:.2g} for n = {n} training records: "
                "such a δ allows publishing whole records; use δ ≪ 1/n")
    return None


# Plain-language tiers, in the spirit of OpenDP's DP Wizard and the deployments it cites: ε ≤ 1 is the
# textbook "strong" range; single-digit ε is what most industrial ML deployments use; beyond 10 the
# worst-case guarantee says little about a single person. Upper limits are inclusive.
TIERS = [(1.0, "strong"), (5.0, "moderate"), (10.0, "weak"), (math.inf, "very weak")]
_TIER_TEXT = {
    "strong": "Strong protection: {odds}.",
    "moderate": "Moderate protection: {odds}; typical of careful deployments, yet the worst case allows "
                "noticeable inference.",
    "weak": "Weak protection: {odds}; common in published ML results, but the worst-case bound is loose.",
    "very weak": "Very weak protection: {odds}; a bound this loose says little.",
}


def odds_factor(eps: float) -> str:
    """e^ε in words a reader can take in: two significant figures, thousands separated, powers of ten
    beyond a million."""
    f = math.exp(eps)
    if f < 10:
        return f"{f:.2g}" if f < 9.95 else f"{f:.0f}"
    if f < 1e6:
        return f"{float(f'{f:.2g}'):,.0f}"
    mantissa, exponent = f"{f:.1e}".split("e")
    return f"{mantissa} × 10^{int(exponent)}"


def tier(eps: float | None) -> tuple[str, str]:
    """(tier name, one plain sentence) for a run's ε; None means no differential privacy. The sentence
    carries the run's own odds factor e^ε, computed from ε."""
    if eps is None:
        return "none", ("No protection: without differential privacy nothing bounds what the model reveals "
                        "about one person.")
    if not eps >= 0:
        raise ExplorerError(f"ε must be a number ≥ 0, got {eps}")
    name = next(n for limit, n in TIERS if eps <= limit)
    odds = f"an attacker's odds about any one person grow at most e^ε ≈ {odds_factor(eps)}-fold"
    return name, _TIER_TEXT[name].format(odds=odds)
