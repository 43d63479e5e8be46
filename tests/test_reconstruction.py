"""Informed-adversary reconstruction (Balle et al. 2022) beside the ReRo bound (Hayes et al. 2023)."""
import itertools

import numpy as np
import pytest

from explorer import accounting, data
from explorer.attacks import reconstruction, rero
from explorer.attacks.inversion import decode
from explorer.attacks.statements import reconstruction_statement


def test_the_closed_form_recovers_the_target_exactly_at_the_optimum():
    ds = data.load("mnist-5k")
    idx = np.random.default_rng(1).permutation(ds.n_train)[:200]
    x = ds.x_train[idx].reshape(200, -1).astype(np.float64)
    y = ds.y_train[idx]
    target = ds.x_pop[7].reshape(-1).astype(np.float64)
    w, b = reconstruction.softmax_regression_optimum(np.r_[x, target[None]], np.r_[y, ds.y_pop[7]], 10,
                                                     reconstruction.L2)
    guess = reconstruction.reconstruct(w, b, x, y, reconstruction.L2)
    assert np.linalg.norm(guess - target) / np.linalg.norm(target) < 1e-2


def test_nonprivate_reconstruction_succeeds_on_20_targets():
    block = reconstruction.study(None, targets=20, candidates=10, fixed=300)
    assert block["success_rate"] >= 0.9, block["per_target"]
    assert block["kappa"] == 0.1 and block["bound"] is None and len(block["per_target"]) == 20
    lo, hi = block["interval"]
    assert lo <= block["success_rate"] <= hi
    g = block["gallery"]
    assert len(g["targets"]) == len(g["reconstructions"]) == reconstruction.GALLERY
    assert decode(g["targets"][0], g["shape"]).shape == (28, 28)
    assert block["statement"].startswith("Without DP") and "a blind guess succeeds 10 %" in block["statement"]


@pytest.mark.slow
def test_dp_reconstruction_stays_within_its_bound():
    """Every DP success rate must be ≤ its ReRo bound up to sampling error: the 95 % interval's lower end."""
    block = reconstruction.study(1.0, targets=10, candidates=10, fixed=300)
    assert block["interval"][0] <= block["bound"] < 0.2, block
    assert block["privacy"]["epsilon"] <= 1.0 + 1e-6
    assert "DP guarantees that no attack of this kind succeeds more than" in block["statement"]


def test_rero_bound_is_monotone_at_most_one_and_tends_to_kappa():
    q, steps, kappa = 256 / 3001, 12 * 15, 0.1
    bounds = [rero.bound(accounting.noise_for_epsilon(e, 1e-5, q, steps), q, steps, kappa)
              for e in (0.5, 1.0, 3.0, 8.0)]
    assert all(a < b for a, b in itertools.pairwise(bounds)), bounds
    assert all(kappa < v <= 1.0 for v in bounds)
    assert bounds[0] < 0.2 and bounds[-1] > 0.4
    assert rero.bound(1e4, q, steps, kappa) == pytest.approx(kappa, abs=1e-3)  # ε → 0
    assert rero.bound(None, None, 0, kappa) == 1.0  # no noise: nothing bounds the attack
    # the (ε, δ) point alone allows more: the profile's bound is the tighter one
    assert bounds[2] <= np.exp(3.0) * kappa + 1e-5


def _study(eps, s, t=20, bound=None):
    lo, hi = reconstruction.clopper_pearson(s, t)
    return {"epsilon": eps, "successes": s, "targets": t, "candidates": 10, "success_rate": s / t,
            "interval": [lo, hi], "kappa": 0.1, "bound": bound}


def test_clopper_pearson_and_statements():
    lo, hi = reconstruction.clopper_pearson(20, 20)
    assert hi == 1.0 and lo == pytest.approx(0.025 ** (1 / 20), rel=1e-9)  # (α/2)^(1/n) for n of n
    assert reconstruction.clopper_pearson(0, 20)[0] == 0.0
    text = reconstruction_statement(_study(None, 20))
    assert "20 of 20 trials (100 %; 95 % interval 83 %–100 %)" in text
    dp = reconstruction_statement(_study(1.0, 2, bound=0.153))
    assert "At ε = 1.0" in dp and "more than 15 % of the time" in dp and "broken" not in dp
    assert "broken" in reconstruction_statement(_study(1.0, 12, bound=0.153))
    lucky = reconstruction_statement(_study(0.5, 6, bound=0.126))  # 30 %, interval 12–54 %
    assert "within the sampling error of 20 trials" in lucky and "broken" not in lucky
