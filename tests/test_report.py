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
