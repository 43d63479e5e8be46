"""Plotly figures from tiny real runs: the series a reader needs are there and can be told apart."""
import math

import numpy as np
import plotly.graph_objects as go
import pytest

from explorer import pipeline, plots
from explorer.config import RunConfig

TINY = dict(dataset="breast-cancer", epochs=2, reference_models=0)


@pytest.fixture(scope="module")
def runs():
    configs = [RunConfig(target_epsilon=1.0, **TINY), RunConfig(target_epsilon=1.0, seed=1, **TINY),
               RunConfig(target_epsilon=4.0, **TINY), RunConfig(target_epsilon=4.0, clip_norm=1.0, **TINY),
               RunConfig(mode="non_private", **TINY)]
    return [pipeline.run(c) for c in configs]


def _trace(fig, prefix):
    return next(t for t in fig.data if t.name.startswith(prefix))


def test_frontier_series_spread_baseline_and_this_run(runs):
    shown = runs[0]
    fig = plots.frontier(runs, shown)
    assert isinstance(fig, go.Figure) and fig.layout.xaxis.type == "log"
    names = plots.series_names(fig)
    assert names[:2] == ["C=0.5", "C=1"] and "this run" in names and any(n.startswith("no privacy") for n in names)
    c05 = _trace(fig, "C=0.5")
    accs = [r["utility"]["test_accuracy"] for r in runs[:2]]
    first = list(c05.x).index(min(c05.x))  # ε = 1: two seeds, drawn as mean with the min–max spread
    assert c05.y[first] == pytest.approx(np.mean(accs))
    assert c05.error_y.array[first] + c05.error_y.arrayminus[first] == pytest.approx(max(accs) - min(accs))
    base = _trace(fig, "no privacy")
    assert set(base.y) == {runs[-1]["utility"]["test_accuracy"]} and base.line.dash == "dash"
    star = _trace(fig, "this run")
    assert star.x[0] == shown["privacy"]["epsilon_reported"] and star.marker.symbol == "star"


def test_frontier_marks_a_stand_in_and_the_asked_point_apart(runs):
    fig = plots.frontier(runs, runs[2], asked_epsilon=0.3, exact=False)
    names = plots.series_names(fig)
    assert "this run" not in names and "shown: nearest cached run" in names
    asked = _trace(fig, "asked: ε = 0.3")
    assert set(asked.x) == {0.3} and "not cached" in asked.name
    low = fig.layout.xaxis.range[0]
    assert low < math.log10(0.3)  # the asked ε is inside the drawn range


def test_frontier_can_group_by_any_series(runs):
    fig = plots.frontier(runs, series_of=lambda r: "DP-SGD" if r["config"]["clip_norm"] == 0.5 else "other")
    assert plots.series_names(fig)[:2] == ["DP-SGD", "other"]


def test_budget_tells_the_accountants_apart(runs):
    record = runs[0]
    fig = plots.budget(record)
    styles = {t.name: (t.line.dash, t.marker.symbol, t.line.width) for t in fig.data if t.name in ("PRV", "RDP", "PLD")}
    assert set(styles) == {"PRV", "RDP", "PLD"}
    assert len({s[0] for s in styles.values()}) == 3 and len({s[1] for s in styles.values()}) == 3
    assert styles["PRV"][2] > styles["PLD"][2]  # PRV drawn wider, so PLD on top never hides it
    prv = _trace(fig, "PRV")
    assert prv.y[-1] == pytest.approx(record["privacy"]["epsilon_by_epoch"][-1]["prv"])
    assert set(_trace(fig, "target ε").y) == {1.0}
    none = plots.budget(runs[-1])
    assert not none.data and "unbounded" in none.layout.annotations[0].text


def test_roc_on_log_axes_with_bounds_the_attacks_stay_under(runs):
    record = runs[2]
    fig = plots.attack_roc(record)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    names = plots.series_names(fig)
    assert names[0] == "chance" and any(n.startswith("(ε=") and "bound" in n for n in names)
    assert any(n.startswith("GDP") for n in names) and any(n.startswith("canary audit (AUC") for n in names)
    bound = _trace(fig, "(ε=")
    assert min(bound.y) >= plots.FLOOR and max(bound.y) <= 1
    audit = _trace(fig, "canary audit")
    assert audit.line.shape == "hv"  # an empirical ROC is a step curve
    assert [n for n in plots.series_names(plots.attack_roc(runs[-1])) if "bound" in n] == []


def test_histogram_overlays_members_and_non_members_on_the_same_bins(runs):
    fig = plots.audit_histogram(runs[0])
    members, non = fig.data
    assert members.name == "canaries trained on" and non.name == "canaries left out"
    assert members.xbins == non.xbins and fig.layout.barmode == "overlay"
    audit = runs[0]["attacks"]["audit"]
    assert len(members.x) == audit["included"] and len(non.x) == audit["canaries"] - audit["included"]


def test_compare_overlays_pinned_runs(runs):
    fig = plots.compare(runs[:3])
    assert plots.series_names(fig)[0] == "chance" and len(fig.data) == 4


def test_each_technique_is_its_own_series_and_pate_spends_per_query(runs):
    pate_run = pipeline.run(RunConfig(technique="pate", target_epsilon=4.0, teachers=5, queries=30, epochs=5,
                                      dataset="breast-cancer", attacks=False, reproducible=True))
    adaptive = {**runs[2], "config": {**runs[2]["config"], "clipping": "adaptive", "target_quantile": 0.5}}
    names = plots.series_names(plots.frontier([*runs, pate_run, adaptive]))
    assert {"C=0.5", "C=1", "PATE", "adaptive clipping"} <= set(names)  # plain runs keep their clip series
    fig = plots.budget(pate_run)
    assert "per answered query" in fig.layout.title.text and fig.layout.xaxis.title.text == "queries answered"
    prv = _trace(fig, "PRV")
    assert prv.x[-1] == 30 and prv.y[-1] == pytest.approx(pate_run["privacy"]["epsilon"]["pld"], rel=0.02)
