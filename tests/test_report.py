"""The impact-assessment report: its facts come from the record, and its command reproduces the run."""
import json
import shlex
from pathlib import Path

import pytest

from explorer import report
from explorer.__main__ import build_parser, config_from_args
from explorer.records import Store

STORE = Store(Path(__file__).resolve().parents[1] / "cached_runs")


@pytest.fixture(scope="module")
def records():
    rs = STORE.records("mnist-5k")
    dp = next(r for r in rs if r["config"]["target_epsilon"] == 3.0)
    base = next(r for r in rs if r["privacy"]["epsilon"] is None)
    return dp, base


def test_report_states_the_privacy_facts(records):
    dp, base = records
    md = report.markdown(dp, base)
    for fact in ("one example, add/remove", "Poisson", f"{dp['privacy']['epsilon']['rdp']:.3f}",
                 f"{dp['privacy']['epsilon']['pld']:.3f}", f"{dp['privacy']['noise_multiplier']:.4f}",
                 "empirical ε lower bound", "non-private baseline", "population knowledge", "Moderate protection"):
        assert fact in md, fact
    html = report.html_report(dp, base, note="figures not embedded: test")
    assert html.startswith("<!doctype html>") and "figures not embedded" in html and "<script" not in html
    parsed = json.loads(report.json_report(dp, base))
    assert parsed["record"]["key"] == dp["key"] and "Privacy guarantee" in parsed["report"]


def test_evidence_is_said_in_words_never_as_a_bare_zero_bound(records):
    dp, _ = records
    audit = dp["attacks"]["audit"]
    zero = report.audit_bound_text({**audit, "epsilon_lower_bound": 0.0}, 3.0)
    assert "no leakage certified" in zero and "does not prove privacy" in zero and "0.00" not in zero
    assert report.audit_bound_text({**audit, "epsilon_lower_bound": 1.234}, 3.0).startswith("ε ≥ 1.23")
    # a block's own plain-language statement (the rebuilt evidence carries one) is reported as it is
    stated = {**dp, "attacks": {**dp["attacks"], "audit": {**audit, "statement": "An attacker could not tell."}}}
    assert "An attacker could not tell." in report.markdown(stated)
    # TPRs at whichever FPRs a block has, 0 included
    assert report.tpr_text({"0.0": 0.0, "0.01": 0.5}) == "TPR 0.000 / 0.500 at FPR 0 / 1 %"


def test_html_report_embeds_the_three_plotly_figures_offline(records):
    dp, base = records
    html = report.html_with_figures(dp, base, STORE.records("mnist-5k"))
    assert html.count('class="plotly-graph-div"') == 3
    assert html.count("plotly.js v") == 1  # the library inlined once, not fetched: the file opens offline
    assert "<script src=" not in html and "src=\"http" not in html
    assert f"(ε={dp['privacy']['epsilon_reported']:.2f}, δ) bound" in html and "canary audit (AUC" in html
    assert "#000038" not in html  # no Streamlit theme placeholder colours outside Streamlit


def test_png_export_is_optional():
    import plotly.graph_objects as go

    images, why = report.png_figures({"x": go.Figure(go.Scatter(x=[1, 2], y=[1, 2]))})
    if report.kaleido_available() and why is None:
        assert images["x"].startswith(b"\x89PNG")
    else:  # kaleido or a browser missing: a reason, never an exception
        assert images == {} and "kaleido" in why


@pytest.mark.parametrize("which", [0, 1])
def test_reproduce_command_rebuilds_the_same_key(records, which):
    record = records[which]
    argv = shlex.split(report.reproduce_command(record))
    assert argv[:3] == ["python", "-m", "explorer"]
    config = config_from_args(build_parser().parse_args(argv[3:]))
    assert config.key == record["key"], (config.to_dict(), record["config"])


# every fact the impact-assessment report states for one run, by its stable name (issue 16, item 3)
RUN_FACTS = ["privacy_unit.unit", "privacy_unit.adjacency", "guarantee.epsilon", "guarantee.epsilon_reported",
             "guarantee.accountant", "guarantee.delta", "guarantee.n", "guarantee.delta_times_n",
             "guarantee.delta_policy.default_delta", "guarantee.delta_policy.above_one_over_n",
             "guarantee.delta_policy.warnings", "guarantee.sampling.assumed_by_accountant", "guarantee.sampling.used",
             "protected.final_model", "protected.intermediate_models", "engine.library", "engine.version",
             "engine.grad_sample_mode", "engine.clipping", "noise.source", "noise.cryptographically_secure_rng",
             "noise.floating_point_attacks", "not_covered", "evidence.audit", "evidence.mia", "evidence.loss_attack",
             "evidence.inversion", "evidence.limits", "decision.stated", "utility.test_accuracy", "reproduce.command"]


def _get(d, path):
    for p in path.split("."):
        assert isinstance(d, dict) and p in d, path
        d = d[p]
    return d


def _decision(record):
    from explorer.decision import Ceiling, Floor, decide, points_from_records

    recipe = {k: v for k, v in record["config"].items() if k not in ("mode", "target_epsilon", "noise_multiplier", "seed")}
    points, _ = points_from_records(STORE.records(record["config"]["dataset"]), match=recipe)
    return decide(points, Floor.within_points(3), Ceiling.tpr(0.01, 0.05))


def test_the_json_report_carries_every_fact_of_a_run(records):
    dp, base = records
    decided = _decision(dp)
    parsed = json.loads(report.json_report(dp, base, decided))
    assert parsed["kind"] == "explorer-report" and parsed["record"]["key"] == dp["key"]
    f = parsed["facts"]
    for path in RUN_FACTS:
        _get(f, path)
    g, p = f["guarantee"], dp["privacy"]
    n = dp["dataset"]["n_train"]
    assert g["epsilon"] == p["epsilon"] and g["epsilon_reported"] == p["epsilon_reported"] and g["delta"] == p["delta"]
    assert g["n"] == n and g["delta_times_n"] == pytest.approx(p["delta"] * n)
    assert g["delta_policy"]["default_delta"] == 1e-5 and g["delta_policy"]["above_one_over_n"] is False  # n = 3000
    assert g["sampling"]["assumed_by_accountant"] == "poisson" and g["sampling"]["used"] == "poisson"
    assert f["privacy_unit"]["adjacency"] == "add/remove" and f["privacy_unit"]["unit"].startswith("one example")
    assert f["protected"]["final_model"] is True and f["protected"]["intermediate_models"] is True
    assert {i["id"] for i in f["not_covered"]} >= {"hyperparameter_tuning", "preprocessing_statistics",
                                                   "architecture_choice"}
    assert f["noise"]["cryptographically_secure_rng"] is False and f["noise"]["floating_point_attacks"] == "not mitigated"
    assert f["evidence"]["audit"]["auc"] == dp["attacks"]["audit"]["auc"]
    d = f["decision"]
    assert d["stated"] is True and d["rationale"] == decided["message"] and d["recommended_epsilon"] == decided["recommended"]
    assert d["thresholds"] == [decided["floor"]["stated"], decided["ceiling"]["stated"]]
    assert f["reproduce"]["command"] == report.reproduce_command(dp)
    md = report.markdown(dp, base, decided)
    assert decided["message"] in md and decided["ceiling"]["stated"] in md
    assert md.count("python -m explorer") == 1  # its own command, never another run's
    # the non-private baseline: nothing protected, no ε, no decision stated
    fb = json.loads(report.json_report(base))["facts"]
    for path in RUN_FACTS:
        _get(fb, path)
    assert fb["guarantee"]["epsilon"] is None and fb["protected"]["final_model"] is False
    assert fb["decision"]["stated"] is False and fb["noise"]["source"] == "none"


def test_absent_fields_are_said_as_not_recorded_and_the_engine_block_is_read_by_name(records):
    dp, _ = records
    old = report.run_facts({**dp, "attacks": {k: v for k, v in dp["attacks"].items() if k != "mia"}})
    if "engine" not in dp["privacy"]:  # a schema-1 record: the engine is not recorded
        assert old["engine"]["recorded"] is False and old["engine"]["grad_sample_mode"] == "not recorded"
        if dp["config"].get("reproducible") is None:  # nor whether its noise was seeded
            assert old["noise"]["source"] == "not recorded" and "not recorded" in old["noise"]["text"]
    assert old["evidence"]["mia"] == {"recorded": False, "text": "not recorded"}
    assert "| RMIA | not recorded |" in report.markdown({**dp, "attacks": {k: v for k, v in dp["attacks"].items()
                                                                           if k != "mia"}})
    engine = {"library": "opacus", "version": "1.6.0", "grad_sample_mode": "hooks", "clipping": "flat",
              "noise_rng": "seeded", "secure_rng": False, "note": "demo"}
    seeded = {**dp, "config": {**dp["config"]}, "privacy": {**dp["privacy"], "engine": engine}}
    seeded["config"].pop("reproducible", None)
    f = report.run_facts(seeded)
    assert f["engine"] == {**f["engine"], "recorded": True, "library": "opacus", "version": "1.6.0",
                           "grad_sample_mode": "hooks", "clipping": "flat"}
    assert f["noise"]["source"] == "seeded" and f["noise"]["private_against_seed_holders"] is False
    assert "not private against anyone who holds the seed" in report.markdown(seeded)
    secret = report.run_facts({**seeded, "privacy": {**seeded["privacy"], "engine": {**engine, "noise_rng": "os-entropy"}}})
    assert secret["noise"]["source"] == "os-entropy" and secret["noise"]["cryptographically_secure_rng"] is False


def test_delta_above_one_over_n_is_warned(records):
    dp, _ = records
    many = {**dp, "dataset": {**dp["dataset"], "n_train": 200_000}}  # δ = 1e-5 > 1/n
    pol = report.run_facts(many)["guarantee"]["delta_policy"]
    assert pol["above_one_over_n"] is True and pol["default_delta"] == 1e-7
    assert any("above 1/n" in w for w in pol["warnings"]) and "above 1/n" in report.markdown(many)


def test_run_html_report_is_self_contained(records):
    import re

    dp, base = records
    html = report.html_with_figures(dp, base, STORE.records("mnist-5k"), _decision(dp))
    assert html.count("plotly.js v") == 1 and not re.search(r"<script[^>]+src=[\"']?https?:", html)
    assert "Ponomareva" in html and "What ε does not cover" in html


@pytest.mark.parametrize("changes", [
    dict(technique="pate", target_epsilon=1.0, teachers=100, queries=50),
    dict(pretrain="digits", target_epsilon=0.5, learning_rate=1.0, epochs=5),
    dict(clipping="adaptive", target_quantile=0.7, target_epsilon=3.0, learning_rate=0.25),
    dict(dataset="adult", grad_sample_mode="hooks", target_epsilon=1.0),
])
def test_reproduce_command_rebuilds_technique_runs(changes):
    from explorer.config import RunConfig

    config = RunConfig(reproducible=True, reference_models=4, **changes)
    argv = shlex.split(report.command(config.to_dict()))
    assert config_from_args(build_parser().parse_args(argv[3:])).key == config.key, argv
