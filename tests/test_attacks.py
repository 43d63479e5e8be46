"""Privacy evidence wired to runs: summaries, class prototypes, every block and its statement.
(The audit: test_audit.py; RMIA: test_rmia.py; reconstruction: test_reconstruction.py.)"""
import numpy as np
import pytest

from explorer import data, evidence, pipeline
from explorer.attacks import inversion, metrics
from explorer.attacks.statements import inversion_statement, mia_statement
from explorer.config import RunConfig
from explorer.train import train


def test_roc_summary_and_downsampling():
    rng = np.random.default_rng(1)
    block = metrics.summarise(rng.normal(1, 1, 5000), rng.normal(0, 1, 5000))
    assert 0.74 < block["auc"] < 0.79  # Φ(1/√2) ≈ 0.760
    assert len(block["roc"]["fpr"]) <= 200 and block["roc"]["fpr"][-1] == 1.0
    t = block["tpr_at_fpr"]
    assert t["0.0"] <= t["0.001"] <= t["0.01"] <= t["0.1"]
    assert block["balanced_accuracy"] == pytest.approx((1 + block["advantage"]) / 2)


def _small_mnist(n_train, seed=0):
    """(dataset, target's training rows, every other training row) — disjoint by construction."""
    ds = data.load("mnist-5k")
    idx = np.random.default_rng(seed).permutation(ds.n_train)
    return ds, idx[:n_train], idx[n_train:]


def test_inversion_gives_one_finite_image_per_class():
    ds, tr, _ = _small_mnist(500)
    cfg = RunConfig(dataset="mnist-5k", mode="non_private", model="logreg", epochs=3, attacks=False)
    model = train(cfg, ds.x_train[tr], ds.y_train[tr], 10).model
    block = inversion.run(model, 10, "image", ds.x_pop, data.MNIST_MEAN, data.MNIST_STD)
    assert len(block["images"]["data"]) == 10 and block["population_knowledge"] is True
    assert "member_closer_rate" not in block and block["statement"] == inversion_statement(block)
    img = inversion.decode_image(block, 3)
    assert img.shape == (28, 28) and img.dtype == np.uint8 and img.std() > 0
    assert 1 <= block["steps"] <= inversion.MAX_STEPS


def test_pipeline_fills_every_attack_block_and_no_attacks_skips_them():
    record = pipeline.run(RunConfig(dataset="breast-cancer", target_epsilon=2.0, epochs=3))
    a = record["attacks"]
    assert set(a) == {"audit", "loss_attack", "mia", "inversion"}
    assert all(isinstance(block["statement"], str) and block["statement"] for block in a.values())
    au = a["audit"]
    assert au["kind"] == "least-variance" and au["canaries"] == record["config"]["canaries"] and au["delta"] == 1e-5
    assert au["epsilon_lower_bound"] == au["bounds"]["one_run"] <= record["privacy"]["epsilon_reported"]
    assert au["bounds"]["one_run_fdp"] <= record["privacy"]["epsilon_reported"]
    assert len(au["scores"]["members"]) == au["included"]
    assert a["mia"]["reference_models"] == 2 and a["mia"]["a"] in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7,
                                                                      0.8, 0.9, 1.0)
    assert len(a["inversion"]["vectors"]) == 2
    assert record["timing"]["attacks_s"] > 0
    bare = pipeline.run(RunConfig(dataset="breast-cancer", target_epsilon=2.0, epochs=3, attacks=False))
    assert bare["attacks"] == {} and bare["config"]["canaries"] == 0


def test_reference_models_trained_beside_the_target_give_the_same_record():
    """pipeline.run trains the RMIA reference models in a second thread while the target trains; the
    attack figures must equal those of references trained afterwards in this thread, one at a time."""
    cfg = RunConfig(dataset="mnist-5k", model="mlp", target_epsilon=2.0, epochs=2, canaries=20,
                    reproducible=True)  # seeded noise: the two trainings of the target must agree
    record = pipeline.run(cfg)
    ds = data.load("mnist-5k")
    canaries, x, y = evidence.training_set(cfg, ds)
    target = train(cfg, x, y, ds.num_classes, ds.x_test, ds.y_test)
    assert target.test_accuracy == record["utility"]["test_accuracy"]
    serial = evidence.run_attacks(cfg, ds, target.model, canaries)  # refs=None: trained here, in turn
    assert serial["mia"]["reference_models"] == 2
    assert serial["mia"]["auc"] == record["attacks"]["mia"]["auc"]
    assert serial["mia"]["roc"] == record["attacks"]["mia"]["roc"]


def _mia_block(auc, tpr, n=1000, k=2):
    return {"auc": auc, "tpr_at_fpr": {"0.0": 0.0, "0.001": tpr, "0.01": tpr, "0.1": tpr}, "nonmembers": n,
            "reference_models": k}


def test_mia_statements_at_their_boundaries():
    guess = mia_statement(_mia_block(0.5449, 0.0), 3.0, 1e-5)
    assert "RMIA (2 reference models)" in guess and "close to guessing" in guess and "AUC 0.54" in guess
    assert "caps any attack at 2.0 %" in guess  # e³·0.001 + δ
    assert "slightly better" in mia_statement(_mia_block(0.5451, 0.0), 3.0, 1e-5)  # reads as 0.55
    assert "clearly better" in mia_statement(_mia_block(0.65, 0.2), None, 1e-5)
    few = mia_statement(_mia_block(0.6, 0.01, n=333, k=1), None, 1e-5)
    assert "1 reference model)" in few and "too few records" in few and "nothing caps" in few
    assert "too few" not in mia_statement(_mia_block(0.6, 0.01, n=1000), None, 1e-5)
    assert "finds 1.0 %" in few
