"""Fast privacy accounting for the Poisson-subsampled Gaussian mechanism (pure numpy).

The library accountants (Opacus RDP/PRV, dp-accounting PLD) take 20 ms to 1 s per ε here, too slow for
a slider that calibrates σ on every move or for an ε-per-epoch curve. This module holds a vectorised
twin of Opacus' PRV accountant (Gopi et al. 2021: discretise the privacy-loss random variable, compose
with one FFT) and closed-form integer-order RDP. `accounting.py` uses them to *search*; the figures a
record reports still come from the library accountants, and tests pin the two together.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.special import binom, erfc, gammaln, log_ndtr

_SQRT2 = math.sqrt(2.0)
INT_ORDERS = np.arange(2, 257, dtype=float)


def rdp_integer_orders(sigma: float, q: float, orders=INT_ORDERS) -> np.ndarray:
    """Rényi DP of one step at integer orders α (Mironov et al. 2019, the binomial expansion).

    log A_α = logsumexp_k [log C(α,k) + (α−k) log(1−q) + k log q + (k²−k)/(2σ²)], RDP = log A_α/(α−1).
    Exact for integer α, so ε from these orders is never below the bound over a superset of orders.
    """
    a = np.asarray(orders, dtype=float)[:, None]
    if q >= 1.0:
        return a[:, 0] / (2 * sigma**2)
    k = np.arange(a.max() + 1)[None, :]
    valid = k <= a
    kk = np.where(valid, k, 0.0)
    terms = (gammaln(a + 1) - gammaln(kk + 1) - gammaln(np.where(valid, a - kk, 0.0) + 1)
             + (a - kk) * math.log1p(-q) + kk * math.log(q) + (kk * kk - kk) / (2 * sigma**2))
    terms = np.where(valid, terms, -np.inf)
    top = terms.max(axis=1, keepdims=True)
    log_a = top[:, 0] + np.log(np.exp(terms - top).sum(axis=1))
    return log_a / (a[:, 0] - 1)


def rdp_fractional_orders(sigma: float, q: float, orders: np.ndarray, terms: int = 400) -> np.ndarray:
    """Rényi DP of one step at any order α > 1 (Mironov et al. 2019, §3.3), vectorised.

    The two series A₀ (x ≤ z₀) and A₁ (x ≥ z₀) summed over a fixed number of terms with their signs;
    Opacus sums the same terms one at a time until they fall below e⁻³⁰.
    """
    a = np.asarray(orders, dtype=float)[:, None]
    if q >= 1.0:
        return a[:, 0] / (2 * sigma**2)
    i = np.arange(terms, dtype=float)[None, :]
    j = a - i
    coef = binom(a, i)
    with np.errstate(divide="ignore"):
        log_coef = np.log(np.abs(coef))
    z0 = sigma**2 * math.log(1 / q - 1) + 0.5
    log_t0 = log_coef + i * math.log(q) + j * math.log1p(-q)
    log_t1 = log_coef + j * math.log(q) + i * math.log1p(-q)
    log_s0 = log_t0 + (i * i - i) / (2 * sigma**2) + log_ndtr((z0 - i) / sigma)
    log_s1 = log_t1 + (j * j - j) / (2 * sigma**2) + log_ndtr((j - z0) / sigma)
    log_s = np.concatenate([log_s0, log_s1], axis=1)
    sign = np.concatenate([np.sign(coef), np.sign(coef)], axis=1)
    top = np.max(np.where(sign != 0, log_s, -np.inf), axis=1, keepdims=True)
    total = np.sum(np.where(sign != 0, sign * np.exp(log_s - top), 0.0), axis=1)
    return (top[:, 0] + np.log(total)) / (a[:, 0] - 1)


def rdp_to_epsilon(rdp: np.ndarray, orders: np.ndarray, delta: float) -> float:
    """The conversion Opacus uses (Balle et al. 2020, Prop. 12), minimised over orders."""
    eps = rdp - (math.log(delta) + np.log(orders)) / (orders - 1) + np.log((orders - 1) / orders)
    eps = np.where(np.isnan(eps), np.inf, eps)
    return float(max(np.min(eps), 0.0))


def _prv_cdf(t: np.ndarray, sigma: float, q: float) -> np.ndarray:
    """CDF of the privacy loss log(P/Q)(X), X ~ P = (1−q)N(0,σ²) + qN(1,σ²), Q = N(0,σ²)."""
    lo = math.log1p(-q) if q < 1 else -np.inf
    inside = t > lo
    z = np.log(np.where(inside, (np.expm1(t) + q) / q, 1.0))
    c = 2 * _SQRT2 * sigma
    cdf = 1.0 - q * erfc((2 * z * sigma**2 - 1) / c) / 2 - (1 - q) * erfc((2 * z * sigma**2 + 1) / c) / 2
    return np.where(inside, cdf, 0.0)


_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(200)


def _prv_mean(sigma: float, q: float) -> float:
    """E[log(P/Q)(X)] under P, by Gauss–Hermite quadrature on each mixture component (smooth integrand)."""
    def loss(x):
        return np.logaddexp(math.log1p(-q), math.log(q) + (2 * x - 1) / (2 * sigma**2))

    w = _GH_W / _GH_W.sum()
    return float((1 - q) * np.dot(w, loss(sigma * _GH_X)) + q * np.dot(w, loss(1 + sigma * _GH_X)))


def prv_epsilon(sigma: float, q: float, steps: int, delta: float, size: int = 2**17,
                eps_error: float = 0.01) -> float:
    """ε of `steps` compositions by a discretised PRV, reported like Opacus' PRV accountant.

    Opacus returns the estimate at δ(1 − 10⁻³) plus eps_error; we do the same so the two are comparable.
    The domain half-width follows Opacus (RDP ε at δ_err/4, plus 3) but the mesh is set by a
    power-of-two size, which is what makes this fast; tests bound the difference to Opacus.
    """
    delta_error = delta / 1000
    rdp1 = rdp_integer_orders(sigma, q)
    half = max(rdp_to_epsilon(rdp1 * steps, INT_ORDERS, delta_error / 4),
               rdp_to_epsilon(rdp1, INT_ORDERS, delta_error / (8 * steps)), eps_error) + 3
    # Grid aligned so that t_min = −(size/2 − 1)·dt: then the circular sum of `steps` indices maps
    # back onto the grid by a fixed roll (the same alignment Opacus' Domain.create_aligned makes).
    dt = half / (size // 2 - 1)
    t = dt * (np.arange(size) - (size // 2 - 1))
    cdf = _prv_cdf(np.concatenate([t - dt / 2, t[-1:] + dt / 2]), sigma, q)
    pmf = np.diff(cdf)
    pmf /= pmf.sum()  # the truncated PRV, as in Opacus
    shift = _prv_mean(sigma, q) - float(np.dot(t, pmf))
    composed = np.fft.irfft(np.fft.rfft(pmf) ** steps, n=size)
    m = steps - 1 + (size // 2 if steps % 2 == 0 else 0)
    composed = np.roll(composed, m)
    return _epsilon_from_pmf(t + shift * steps, composed, delta - delta_error) + eps_error


def _epsilon_from_pmf(t: np.ndarray, p: np.ndarray, delta: float) -> float:
    d1 = np.flip(np.cumsum(np.flip(p)))
    d2 = np.flip(np.cumsum(np.flip(p * np.exp(-t))))
    ndelta = np.exp(t) * d2 - d1
    i = int(np.searchsorted(ndelta, -delta, side="left"))
    if i <= 0 or i >= len(t):
        raise ValueError("δ is outside what this discretisation can resolve")
    return float(max(np.log((d1[i] - delta) / d2[i]), 0.0))
