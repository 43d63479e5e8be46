"""Privacy evidence: the ε lower bound, membership inference and inversion on real trained models."""
import math

import numpy as np
import pytest
from scipy.stats import beta

from explorer import accounting, data, evidence, pipeline
from explorer.attacks import audit, inversion, metrics, mia
from explorer.config import RunConfig
from explorer.train import train


def test_lower_bound_perfect_separation_is_the_clopper_pearson_value():
    n, delta = 100, 1e-5
    lb = audit.epsilon_lower_bound(np.ones(n), np.zeros(n), delta=delta, confidence=0.95)
    alpha = 0.05 / (2 * metrics.N_THRESHOLDS)  # Bonferroni over thresholds × two rates
    p = 1 - alpha ** (1 / n)  # CP upper bound for 0 failures in n trials, by hand
    assert p == pytest.approx(beta.ppf(1 - alpha, 1, n))
    assert lb == pytest.approx(math.log((1 - delta - p) / p), rel=1e-9)
    assert 2.5 < lb < 3.0


def test_lower_bound_is_near_zero_for_identical_distributions():
    rng = np.random.default_rng(0)
    assert audit.epsilon_lower_bound(rng.normal(size=1000), rng.normal(size=1000)) <= 0.2
    assert audit.epsilon_lower_bound([], [1.0]) == 0.0


def test_roc_summary_and_downsampling():
    rng = np.random.default_rng(1)
    block = metrics.summarise(rng.normal(1, 1, 5000), rng.normal(0, 1, 5000))
    assert 0.74 < block["auc"] < 0.79  # Φ(1/√2) ≈ 0.760
    assert len(block["roc"]["fpr"]) <= 200 and block["roc"]["fpr"][-1] == 1.0
    assert block["tpr_at_fpr"]["0.001"] <= block["tpr_at_fpr"]["0.01"] <= block["tpr_at_fpr"]["0.1"]
    assert block["balanced_accuracy"] == pytest.approx((1 + block["advantage"]) / 2)


def _small_mnist(n_train, seed=0):
    """(dataset, target's training rows, every other training row) — disjoint by construction."""
    ds = data.load("mnist-5k")
    idx = np.random.default_rng(seed).permutation(ds.n_train)
    return ds, idx[:n_train], idx[n_train:]


def test_rmia_finds_members_of_an_overfit_model():
    ds, tr, ref_idx = _small_mnist(300)
    cfg = RunConfig(dataset="mnist-5k", mode="non_private", model="mlp", epochs=60, batch_size=32,
                    learning_rate=0.3, momentum=0.0, attacks=False)
    target = train(cfg, ds.x_train[tr], ds.y_train[tr], 10).model
    refs = []
    for k in range(2):  # reference models never see the target's members (offline RMIA)
        half = np.random.default_rng(k).permutation(ref_idx)[:300]
        refs.append(train(cfg.replace(seed=k + 1), ds.x_train[half], ds.y_train[half], 10).model)
    non = np.arange(300)
    block = mia.rmia(target, refs, ds.x_train[tr], ds.y_train[tr], ds.x_pop[non], ds.y_pop[non])
    assert block["auc"] >= 0.7, block["auc"]
    loss = mia.loss_attack(target, ds.x_train[tr], ds.y_train[tr], ds.x_pop[non], ds.y_pop[non])
    assert loss["auc"] >= 0.6 and block["auc"] > loss["auc"]  # RMIA is the stronger attack here


def test_dp_attack_stays_under_the_theoretical_bound():
    """At ε = 0.5 the ROC of any attack must lie under the (ε, δ) trade-off curve, up to sampling error."""
    ds, tr, ref_idx = _small_mnist(1000)
    cfg = RunConfig(dataset="mnist-5k", target_epsilon=0.5, model="mlp", epochs=5, batch_size=100,
                    learning_rate=1.0, attacks=False)
    target = train(cfg, ds.x_train[tr], ds.y_train[tr], 10).model
    refs = [train(cfg.replace(seed=k + 1), ds.x_train[ref_idx[:1000]], ds.y_train[ref_idx[:1000]], 10).model
            for k in range(2)]
    non = np.arange(1000)
    block = mia.rmia(target, refs, ds.x_train[tr], ds.y_train[tr], ds.x_pop[non], ds.y_pop[non])
    fpr, tpr = np.array(block["roc"]["fpr"]), np.array(block["roc"]["tpr"])
    bound = accounting.tradeoff_tpr(fpr, 0.5, 1e-5)
    slack = 3 * np.sqrt(np.maximum(bound * (1 - bound), 1e-3) / 1000)  # ~3 standard errors at n = 1000
    assert np.all(tpr <= bound + slack), np.max(tpr - bound - slack)
    assert block["auc"] < 0.62


def test_inversion_gives_one_finite_image_per_class():
    ds, tr, _ = _small_mnist(500)
    cfg = RunConfig(dataset="mnist-5k", mode="non_private", model="logreg", epochs=3, attacks=False)
    model = train(cfg, ds.x_train[tr], ds.y_train[tr], 10).model
    block = inversion.run(model, 10, "image", ds.x_train[tr], ds.y_train[tr], ds.x_pop, ds.y_pop, 0,
                          data.MNIST_MEAN, data.MNIST_STD)
    assert len(block["images"]["data"]) == 10 and 0 <= block["member_closer_rate"] <= 1
    img = inversion.decode_image(block, 3)
    assert img.shape == (28, 28) and img.dtype == np.uint8 and img.std() > 0
    assert 1 <= block["steps"] <= inversion.MAX_STEPS


def test_canaries_are_mislabeled_and_half_included():
    ds = data.load("mnist-5k")
    c = audit.plant(ds.x_pop, ds.y_pop, 10, 200, seed=0)
    np.testing.assert_array_equal(c.x, ds.x_pop[c.source_index])
    assert np.all(c.y != ds.y_pop[c.source_index]) and len(set(c.source_index)) == 200
    assert 70 <= c.included.sum() <= 130 and len(c.y) == 200
    x, y = c.training_set(ds.x_train, ds.y_train)
    assert len(y) == ds.n_train + c.included.sum()
    assert not np.array_equal(audit.plant(ds.x_pop, ds.y_pop, 10, 200, seed=1).included, c.included)


def test_pipeline_fills_every_attack_block_and_no_attacks_skips_them():
    record = pipeline.run(RunConfig(dataset="breast-cancer", target_epsilon=2.0, epochs=3))
    a = record["attacks"]
    assert set(a) == {"audit", "loss_attack", "mia", "inversion"}
    assert a["audit"]["epsilon_lower_bound"] <= record["privacy"]["epsilon_reported"]
    assert a["mia"]["reference_models"] == 2 and len(a["inversion"]["vectors"]) == 2
    assert record["timing"]["attacks_s"] > 0
    bare = pipeline.run(RunConfig(dataset="breast-cancer", target_epsilon=2.0, epochs=3, attacks=False))
    assert bare["attacks"] == {} and bare["config"]["canaries"] == 0


def test_reference_models_trained_beside_the_target_give_the_same_record():
    """pipeline.run trains the RMIA reference models in a second thread while the target trains; the
    attack figures must equal those of references trained afterwards in this thread, one at a time."""
    cfg = RunConfig(dataset="mnist-5k", model="mlp", target_epsilon=2.0, epochs=2, canaries=20)
    record = pipeline.run(cfg)
    ds = data.load("mnist-5k")
    canaries, x, y = evidence.training_set(cfg, ds)
    target = train(cfg, x, y, ds.num_classes, ds.x_test, ds.y_test)
    assert target.test_accuracy == record["utility"]["test_accuracy"]
    serial = evidence.run_attacks(cfg, ds, target.model, canaries)  # refs=None: trained here, in turn
    assert serial["mia"]["reference_models"] == 2
    assert serial["mia"]["auc"] == record["attacks"]["mia"]["auc"]
    assert serial["mia"]["roc"] == record["attacks"]["mia"]["roc"]


@pytest.fixture(scope="module")
def audit_power():
    """The same audit without DP: the bound must be able to exceed ε = 1, or the check below is idle."""
    cfg = RunConfig(dataset="mnist-5k", model="mlp", mode="non_private", reference_models=0)
    return pipeline.run(cfg)["attacks"]["audit"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_empirical_lower_bound_never_exceeds_the_guarantee(seed, audit_power):
    assert audit_power["auc"] > 0.9 and audit_power["epsilon_lower_bound"] > 1.5
    cfg = RunConfig(dataset="mnist-5k", model="mlp", target_epsilon=1.0, epochs=10, seed=seed,
                    reference_models=0)
    record = pipeline.run(cfg)
    lb, eps = record["attacks"]["audit"]["epsilon_lower_bound"], record["privacy"]["epsilon"]
    assert lb <= min(eps.values()), f"ε_lb {lb} > ε {eps}: DP training or the audit is broken"
