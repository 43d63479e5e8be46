"""PATE (explorer/pate.py): its ε is dp-accounting's composition of the answered GNMax queries, a tiny run
answers its queries and trains a student above chance, the attacks never see the student's public
records, the canary audit of the released student stays under ε, and its records validate."""
import math

import pytest

from explorer import data, pate, pipeline, report
from explorer.__main__ import main
from explorer.config import RunConfig
from explorer.errors import ExplorerError
from explorer.records import validate


@pytest.mark.parametrize("sigma,queries", [(20.0, 100), (150.0, 1000), (8.0, 12)])
def test_epsilon_is_dp_accountings_composition_of_the_same_events(sigma, queries):
    import dp_accounting
    from dp_accounting.pld import pld_privacy_accountant
    from dp_accounting.rdp import rdp_privacy_accountant

    delta = 1e-5
    # one query at a time: one record moves one vote, L2 sensitivity √2, so each answer is a Gaussian
    # mechanism with noise multiplier σ/√2
    rdp, pld = rdp_privacy_accountant.RdpAccountant(), pld_privacy_accountant.PLDAccountant()
    one = dp_accounting.GaussianDpEvent(sigma / math.sqrt(2))
    for _ in range(queries):
        rdp.compose(one)
    pld.compose(one, count=queries)
    assert pate.epsilon(sigma, queries, delta, "rdp") == pytest.approx(rdp.get_epsilon(delta), rel=1e-9)
    assert pate.epsilon(sigma, queries, delta, "pld") == pytest.approx(pld.get_epsilon(delta), rel=1e-6)
    # Opacus' PRV at sample rate 1 is the same mechanism, up to its error padding
    assert pate.epsilon(sigma, queries, delta, "prv") == pytest.approx(pld.get_epsilon(delta), rel=0.02)
    # Q Gaussian answers are exactly μ-GDP with μ = √(2Q)/σ, whose ε(δ) the PLD matches
    assert pate.gaussian_epsilon(pate.gdp_mu(sigma, queries), delta) == pytest.approx(pld.get_epsilon(delta), rel=1e-3)


@pytest.mark.parametrize("accountant", ["prv", "rdp", "pld"])
def test_calibrated_sigma_meets_the_target_and_no_more(accountant):
    sigma = pate.noise_for_epsilon(1.0, 200, 1e-5, accountant)
    eps = pate.epsilon(sigma, 200, 1e-5, accountant)
    assert 0.985 <= eps <= 1.0


def test_a_tiny_pate_run_answers_queries_and_trains_a_student_above_chance():
    ds = data.load("mnist-5k")
    config = RunConfig(technique="pate", model="logreg", teachers=10, queries=100, target_epsilon=20.0, epochs=12,
                       batch_size=32, learning_rate=0.05, attacks=False, reproducible=True)
    x_pub, y_pub, view = pate.public_split(config, ds)
    result = pate.fit(config, ds.x_train, ds.y_train, x_pub, 10, ds.x_test, ds.y_test)
    assert result.queries == 100 and len(result.info["labels"]) == 100
    assert (result.info["labels"] == y_pub).mean() > 0.5  # GNMax labels mostly right at this budget
    assert result.test_accuracy > 0.3  # chance is 0.1
    assert pate.epsilon(result.noise_multiplier, 100, config.delta, "prv") <= 20.0
    # the queried records leave the population the attacks use
    assert len(view.y_pop) == len(ds.y_pop) - 100
    pop = {r.tobytes() for r in ds.x_pop.reshape(len(ds.x_pop), -1)}
    left = {r.tobytes() for r in view.x_pop.reshape(len(view.x_pop), -1)}
    queried = {r.tobytes() for r in x_pub.reshape(100, -1)}
    assert queried <= pop and not queried & left


@pytest.fixture(scope="module")
def record():
    """A whole PATE run on breast-cancer: canaries go to the teachers, the audit scores the student,
    RMIA's reference models are PATE runs too."""
    return pipeline.run(RunConfig(dataset="breast-cancer", technique="pate", target_epsilon=2.0, teachers=8,
                                  queries=40, reference_models=2, reproducible=True))


def test_the_audit_of_a_pate_student_stays_under_its_epsilon_and_the_record_validates(record):
    p = record["privacy"]
    from test_cached_runs import check  # what every shipped record must pass: ε recomputes from its block

    check(record)
    assert p["poisson_sampling"] is False and p["pate"]["answered"] == 40 and p["pate"]["teachers"] == 8
    assert p["epsilon_reported"] <= 2.0
    for name, eps in p["epsilon"].items():  # recomputes from σ, Q and δ
        assert pate.epsilon(p["noise_multiplier"], 40, p["delta"], name) == pytest.approx(eps, rel=1e-9)
    audit = record["attacks"]["audit"]
    assert audit["canaries"] > 0 and audit["epsilon_lower_bound"] <= min(p["epsilon"].values())
    assert record["attacks"]["mia"]["reference_models"] == 2
    assert record["dataset"]["n_public_unlabeled"] == 40
    assert 0 <= p["pate"]["diagnostics"]["label_accuracy"] <= 1
    tampered = {**record, "privacy": {**p, "poisson_sampling": True}}
    with pytest.raises(ExplorerError, match="samples nothing"):
        validate(tampered)
    moved = {**record, "privacy": {**p, "pate": {**p["pate"], "queries": 41}}}
    with pytest.raises(ExplorerError, match="teachers or queries"):
        validate(moved)


def test_the_report_names_pate_and_what_it_assumes(record):
    facts = report.run_facts(record)
    assert facts["subject"]["technique"] == "PATE" and "public unlabeled data" in facts["subject"]["assumes"]
    assert facts["protected"]["teachers"] is False
    md = report.markdown(record)
    assert "GNMax" in md and "never be released" in md and "--technique pate --teachers 8 --queries 40" in md


def test_pate_settings_are_checked():
    with pytest.raises(ExplorerError, match="target ε"):
        RunConfig(technique="pate", mode="noise", noise_multiplier=1.0)
    with pytest.raises(ExplorerError, match="PATE's settings"):
        RunConfig(teachers=10)
    with pytest.raises(ExplorerError, match="population records"):
        pate.public_split(RunConfig(technique="pate", queries=900), data.load("mnist-5k"))
    base = RunConfig(target_epsilon=1.0)
    assert base.key == RunConfig(target_epsilon=1.0, technique="dp-sgd", pretrain=None).key  # keys unchanged
    assert RunConfig(mode="non_private", technique="pate").technique == "dp-sgd"  # one baseline for all


def test_cli_teacher_count_above_the_rows_exits_2_with_one_line(capsys):
    code = main(["run", "--technique", "pate", "--teachers", "5000", "--epsilon", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "5000 teachers" in err and "--teachers" in err
