"""Accounting: library accountants, their fast twins, calibration, bounds."""
import math
import warnings

import numpy as np
import pytest

from explorer import accounting, numeric
from explorer.errors import ExplorerError

SETTINGS = [  # (σ, q, steps)
    (1.1, 256 / 60000, 60 * 60000 // 256),
    (0.8, 64 / 4000, 937),
    (2.0, 0.004, 3000),
    (5.0, 0.01, 100),
    (0.6, 0.05, 300),
    (1.81, 1 / 12, 180),  # the mnist-5k default at ε = 3
]


def _opacus(cls, sigma, q, steps, delta):
    acc = cls()
    acc.history = [(sigma, q, steps)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return acc.get_epsilon(delta)


@pytest.mark.parametrize("sigma,q,steps", SETTINGS[:3])
def test_rdp_and_prv_equal_opacus(sigma, q, steps):
    from opacus.accountants import PRVAccountant, RDPAccountant

    assert accounting.epsilon(sigma, q, steps, 1e-5, "rdp") == _opacus(RDPAccountant, sigma, q, steps, 1e-5)
    assert accounting.epsilon(sigma, q, steps, 1e-5, "prv") == _opacus(PRVAccountant, sigma, q, steps, 1e-5)


def test_pld_matches_dp_accounting_and_published_value():
    import dp_accounting
    from dp_accounting.pld import pld_privacy_accountant

    sigma, q, steps = SETTINGS[0]
    ref = pld_privacy_accountant.PLDAccountant()
    ref.compose(dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps))
    pld = accounting.epsilon(sigma, q, steps, 1e-5, "pld")
    assert abs(pld - ref.get_epsilon(1e-5)) <= 0.02 * pld
    assert abs(pld - 2.38) < 0.02  # σ 1.1, batch 256, 60 epochs of 60k (Abadi et al. setting)


@pytest.mark.parametrize("sigma,q,steps", SETTINGS[:2] + SETTINGS[5:])
def test_prv_and_pld_agree(sigma, q, steps):
    eps = accounting.epsilons(sigma, q, steps, 1e-5)
    assert abs(eps["prv"] - eps["pld"]) <= 0.02 * eps["prv"]
    assert eps["rdp"] >= eps["prv"] * 0.99  # RDP is the looser bound


@pytest.mark.parametrize("sigma,q,steps", SETTINGS)
def test_fast_twins_track_the_libraries(sigma, q, steps):
    """The fast twins drive calibration; the margin in noise_for_epsilon assumes ≤ 0.2 % apart."""
    for name in ("rdp", "prv", "pld"):
        lib = accounting.epsilon(sigma, q, steps, 1e-5, name)
        fast = accounting.FAST_ACCOUNTANTS[name](sigma, q, steps, 1e-5)
        assert abs(fast - lib) <= 0.002 * lib + 1e-3, (name, fast, lib)


@pytest.mark.parametrize("accountant", ["rdp", "prv", "pld"])
@pytest.mark.parametrize("target", [0.5, 1.0, 3.0, 8.0])
@pytest.mark.parametrize("q,steps", [(256 / 60000, 3516), (1 / 12, 180), (0.02, 500)])
def test_noise_for_epsilon_round_trip(accountant, target, q, steps):
    sigma = accounting.noise_for_epsilon(target, 1e-5, q, steps, accountant)
    eps = accounting.epsilon(sigma, q, steps, 1e-5, accountant)
    assert eps <= target, f"σ={sigma} gives ε={eps} above the target {target}"
    assert eps >= 0.97 * target


def test_noise_for_epsilon_infeasible_and_bad_input():
    with pytest.raises(ExplorerError, match="infeasible"):
        accounting.noise_for_epsilon(1e-4, 1e-5, 0.1, 10_000)
    with pytest.raises(ExplorerError, match="sample_rate"):
        accounting.noise_for_epsilon(1.0, 1e-5, 1.5, 100)
    with pytest.raises(ExplorerError, match="delta"):
        accounting.epsilon(1.0, 0.01, 100, 1.0)
    with pytest.raises(ExplorerError, match="accountant"):
        accounting.epsilon(1.0, 0.01, 100, 1e-5, "moments")


def test_vectorised_rdp_equals_opacus_formulas():
    from opacus.accountants.analysis.rdp import compute_rdp

    orders = np.array([1.5, 2.0, 3.7, 10.9])
    for sigma, q in [(0.7, 0.01), (1.5, 0.2), (4.0, 0.001)]:
        ref = np.array(compute_rdp(q=q, noise_multiplier=sigma, steps=1, orders=list(orders)))
        np.testing.assert_allclose(numeric.rdp_fractional_orders(sigma, q, orders), ref, rtol=1e-6)
        ints = np.arange(12, 40, dtype=float)
        ref = np.array(compute_rdp(q=q, noise_multiplier=sigma, steps=1, orders=list(ints)))
        np.testing.assert_allclose(numeric.rdp_integer_orders(sigma, q, ints), ref, rtol=1e-9)


def test_epsilon_by_epoch_grows_and_ends_at_the_library_value():
    sigma, q, steps = 1.81, 1 / 12, 180
    curve = accounting.epsilon_by_epoch(sigma, q, 12, 15, 1e-5)
    assert [c["epoch"] for c in curve] == list(range(1, 16))
    for name in ("rdp", "prv", "pld"):
        values = [c[name] for c in curve]
        assert all(a < b for a, b in zip(values, values[1:]))
        lib = accounting.epsilon(sigma, q, steps, 1e-5, name)
        assert abs(values[-1] - lib) <= 0.002 * lib + 1e-3


def test_gdp_mu_formula():
    mu = accounting.gdp_mu(1.1, 256 / 60000, 14062)
    assert mu == pytest.approx(256 / 60000 * math.sqrt(14062 * (math.exp(1 / 1.21) - 1)))


def test_tradeoff_curves():
    fpr = np.linspace(0, 1, 101)
    np.testing.assert_allclose(accounting.tradeoff_tpr(fpr, 0.0, 0.0), fpr, atol=1e-12)
    np.testing.assert_allclose(accounting.gdp_tpr(fpr, 0.0), fpr, atol=1e-12)
    tpr = accounting.tradeoff_tpr(fpr, 1.0, 1e-5)
    assert np.all(np.diff(tpr) >= 0) and np.all(tpr >= fpr) and tpr[-1] == 1.0
    assert tpr[1] == pytest.approx(math.e * 0.01 + 1e-5)
    # pure ε-DP: the best balanced accuracy is e^ε / (1 + e^ε)
    assert accounting.max_balanced_accuracy(1.0, 0.0) == pytest.approx(math.e / (1 + math.e), abs=1e-4)


def test_posterior_and_delta_warning():
    assert accounting.posterior(0.5, 0.0) == pytest.approx(0.5)
    assert accounting.posterior(0.5, math.log(3)) == pytest.approx(0.75)
    assert accounting.posterior(0.01, 1.0) < 0.03
    assert accounting.delta_warning(1e-5, 1000) is None
    assert "1/n" in accounting.delta_warning(1e-3, 1000)
