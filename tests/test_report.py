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
                 "empirical ε lower bound", "non-private baseline", "population knowledge"):
        assert fact in md, fact
    html = report.html_report(dp, base, note="figures not embedded: test")
    assert html.startswith("<!doctype html>") and "figures not embedded" in html and "<script" not in html
    parsed = json.loads(report.json_report(dp, base))
    assert parsed["record"]["key"] == dp["key"] and "Privacy guarantee" in parsed["report"]


def test_html_report_embeds_the_three_figures_drawn_offline(records):
    import base64
    import re

    dp, base = records
    html = report.html_with_figures(dp, base, STORE.records("mnist-5k"))
    assert "figures not embedded" not in html
    uris = re.findall(r"src='data:image/svg\+xml;base64,([^']+)'", html)
    assert len(uris) == 3
    roc = base64.b64decode(uris[2]).decode()
    # the ROC figure is a real drawing with the guarantee's curve and the attack in its legend
    assert roc.startswith("<svg") and f"(ε={dp['privacy']['epsilon_reported']:.2f}, δ) bound" in roc
    assert "canary audit (AUC" in roc and "<path" in roc


@pytest.mark.parametrize("which", [0, 1])
def test_reproduce_command_rebuilds_the_same_key(records, which):
    record = records[which]
    argv = shlex.split(report.reproduce_command(record))
    assert argv[:3] == ["python", "-m", "explorer"]
    config = config_from_args(build_parser().parse_args(argv[3:]))
    assert config.key == record["key"], (config.to_dict(), record["config"])
