"""The one-run canary audit: bounds from jax-privacy, their validity on real DP runs, and their wording."""
import subprocess
import sys

import numpy as np
import pytest

from explorer import data
from explorer.attacks import audit, canaries
from explorer.attacks.statements import audit_statement
from explorer.config import RunConfig
from explorer.evidence import training_set
from explorer.train import predict_logits, train


def _library_bound(s_in, s_out, delta, fdp=False):
    """The same fixed rules, computed straight from the library."""
    from jax_privacy import auditing

    auditor = auditing.CanaryScoreAuditor(s_in, s_out)
    family = audit.rules(np.r_[s_in, s_out])
    method = auditor.epsilon_one_run_fdp if fdp else auditor.epsilon_one_run
    return max(method(0.05 / len(family), delta, threshold_strategy=auditing.Explicit(t)) for _, t in family)


def test_bounds_equal_the_library_on_fixed_scores():
    rng = np.random.default_rng(3)
    s_in, s_out = rng.normal(2.0, 1.0, 120), rng.normal(0.0, 1.0, 130)
    b = audit.bounds(s_in, s_out, delta=1e-5)
    assert b["one_run"] == pytest.approx(_library_bound(s_in, s_out, 1e-5), abs=1e-4)
    assert b["one_run_fdp"] == pytest.approx(_library_bound(s_in, s_out, 1e-5, fdp=True), abs=1e-4)
    assert 0.5 < b["one_run"] < b["one_run_fdp"]  # a real separation shows, f-DP audits tighter
    # seven rules fixed by m alone: three probability cuts and four top-k counts
    assert [n for n, _ in audit.rules(np.r_[s_in, s_out])][:3] == ["p_y ≥ 0.5", "p_y ≥ 0.9", "p_y ≥ 0.99"]
    assert audit.guess_counts(250) == [5, 12, 25, 62]


def test_perfect_separation_gives_the_library_ceiling():
    """All 100 included canaries guessed right and nothing else: q^100 ≤ α/7 with q = e^ε/(1 + e^ε)
    (plus the library's δ term, which can only lower ε)."""
    n, delta = 100, 1e-5
    b = audit.bounds(np.full(n, 10.0), np.full(n, -10.0), delta)
    assert b["one_run"] == pytest.approx(_library_bound(np.full(n, 10.0), np.full(n, -10.0), delta), abs=1e-4)
    q = (0.05 / 7) ** (1 / n)
    closed_form = np.log(q / (1 - q))  # 3.16 with δ = 0
    assert closed_form - 0.3 < b["one_run"] <= closed_form + 1e-6
    assert audit.ceiling(n, n, delta) == b["one_run"]


def test_identical_distributions_give_no_bound():
    rng = np.random.default_rng(0)
    assert audit.bounds(rng.normal(size=500), rng.normal(size=500), 1e-5)["one_run"] <= 0.2
    assert audit.bounds([], [1.0], 1e-5)["one_run"] == 0.0


def test_importing_the_evidence_modules_loads_neither_jax_nor_torch():
    code = ("import sys, explorer.evidence, explorer.attacks.audit, explorer.attacks.mia, "
            "explorer.attacks.canaries, explorer.attacks.statements, explorer.attacks.reconstruction, "
            "explorer.attacks.rero, explorer.attacks.inversion; print('jax' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"], out.stdout + out.stderr


def test_noise_canaries_are_half_included_and_reproducible():
    ds = data.load("mnist-5k")
    cfg = RunConfig(dataset="mnist-5k", canaries=200, seed=0)
    c = canaries.plant(cfg, ds)
    assert c.kind == "noise-images" and c.x.shape == (200, 1, 28, 28) and len(c.source_index) == 0
    assert 70 <= c.included.sum() <= 130 and set(np.unique(c.y)) <= set(range(10))
    assert len(np.unique(c.x.round(3))) == 2  # binary images in the normalised scale
    x, y = c.training_set(ds.x_train, ds.y_train)
    assert len(y) == ds.n_train + c.included.sum() and x.dtype == ds.x_train.dtype
    again = canaries.plant(cfg, ds)
    assert np.array_equal(again.x, c.x) and np.array_equal(again.included, c.included)
    assert not np.array_equal(canaries.plant(cfg.replace(seed=1), ds).included, c.included)


def test_least_variance_canaries_are_orthogonal_and_against_the_initial_model():
    ds = data.load("breast-cancer")
    cfg = RunConfig(dataset="breast-cancer", canaries=20, seed=0)
    c = canaries.plant(cfg, ds)
    assert c.kind == "least-variance" and c.x.shape == (20, ds.x_pop.shape[1])
    unit = c.x / np.linalg.norm(c.x, axis=1, keepdims=True)
    np.testing.assert_allclose(unit @ unit.T, np.eye(20), atol=1e-5)  # 20 ≤ d − 1 own directions
    mu = ds.x_pop.mean(axis=0)
    assert np.abs(unit @ (mu / np.linalg.norm(mu))).max() < 1e-5
    # least variance first: the population varies less along the first direction than the last
    var = ((ds.x_pop - mu) @ unit.T).var(axis=0)
    assert var[0] <= var[-1]
    # labelled against the run's recipe trained without privacy on the population (never on training rows)
    labeller = train(cfg.replace(mode="non_private", attacks=False), ds.x_pop, ds.y_pop, 2).model
    assert np.array_equal(c.y, predict_logits(labeller, c.x).argmin(1))
    more = canaries.plant(cfg.replace(canaries=40), ds)  # beyond d − 1: overlapping extras, still unit
    np.testing.assert_allclose(np.linalg.norm(more.x, axis=1), np.linalg.norm(c.x[0]), rtol=1e-5)


def _audit_run(mode, seed, epsilon=None):
    """A small real run with the default mnist-5k canary kind: MLP, 500 noise canaries."""
    ds = data.load("mnist-5k")
    kw = dict(dataset="mnist-5k", model="mlp", canaries=500, seed=seed, reference_models=0)
    cfg = (RunConfig(mode="non_private", **kw) if mode == "non_private"
           else RunConfig(target_epsilon=epsilon, epochs=4, **kw))
    planted, x, y = training_set(cfg, ds)
    model = train(cfg, x, y, ds.num_classes).model
    return audit.audit(model, planted, cfg.delta)


@pytest.mark.slow
def test_dp_runs_stay_under_their_epsilon_and_the_same_audit_exceeds_2_without_dp():
    """The check below could fail: without DP the very same audit shows ε > 2."""
    power = _audit_run("non_private", seed=0)
    assert power["epsilon_lower_bound"] > 2.0, power["bounds"]
    for seed in (0, 1, 2):
        block = _audit_run("epsilon", seed, epsilon=1.0)
        assert block["bounds"]["one_run"] <= 1.0 and block["bounds"]["one_run_fdp"] <= 1.0, block["bounds"]


def _block(lb, n=500, ceiling=3.9):
    return {"epsilon_lower_bound": lb, "canaries": n, "confidence": 0.95, "ceiling": ceiling}


def test_audit_statements_at_their_boundaries():
    zero = audit_statement(_block(0.0), 3.0)
    assert "no leakage above ε ≈ 0.0" in zero and "does not show that ε is smaller" in zero and "ε = 3.0" in zero
    assert audit_statement(_block(0.0499), 3.0) == zero  # still shown as 0.0
    small = audit_statement(_block(0.05), 3.0)
    assert "at least as much as ε ≈ 0.05" in small and "between ε ≈ 0.05 and ε = 3.0" in small
    assert "within the guarantee" in audit_statement(_block(3.0), 3.0)
    broken = audit_statement(_block(3.01), 3.0)
    assert "broken" in broken and "Do not rely" in broken
    weak = audit_statement(_block(0.0), None)
    assert "too weak" in weak and "at most ε ≈ 3.9" in weak
    strong = audit_statement(_block(3.23), None)
    assert strong.startswith("Without DP") and "ε ≈ 3.2" in strong and "500 planted records" in strong
    for text in (zero, small, weak, strong, broken):
        assert "0.00" not in text
