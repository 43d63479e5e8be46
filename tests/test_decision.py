"""The decision at its edges: nothing meets the floor, everything does, the ceiling cuts the interval,
the seeds' spread changes the answer; ceilings inverted exactly; shipped records work the same way."""
import math
from pathlib import Path

import pytest

from explorer import accounting
from explorer.decision import Ceiling, Floor, Point, decide, points_from_records
from explorer.errors import ExplorerError
from explorer.records import Store

DELTA = 1e-5


def _points(acc: dict, baseline=(0.95, 0.95)):
    """Points from {ε: accuracies}; each spent exactly its target."""
    pts = [Point(e, list(a), e, DELTA, list(range(len(a)))) for e, a in acc.items()]
    return pts + ([Point(None, list(baseline), None, DELTA, [0, 1])] if baseline else [])


RISING = {0.5: (0.70, 0.72), 1.0: (0.80, 0.82), 2.0: (0.86, 0.87), 4.0: (0.90, 0.90), 8.0: (0.92, 0.93)}


def test_recommends_the_smallest_budget_meeting_the_floor():
    d = decide(_points(RISING), Floor.absolute(0.85))
    assert d["verdict"] == "recommend" and d["recommended"] == 2.0 and d["interval"] == [2.0, 8.0]
    assert d["meeting"] == [2.0, 4.0, 8.0] and "Use ε = 2" in d["message"]
    assert [p["meets_floor"] for p in d["points"]] == [False, False, True, True, True]


def test_nothing_meets_the_floor_says_what_would_help():
    d = decide(_points(RISING), Floor.absolute(0.94))
    assert d["verdict"] == "none-meets-floor" and d["recommended"] is None and d["interval"] is None
    advice = " ".join(d["advice"])
    for words in ("larger ε", "more rows", "fewer features", "public pre-training"):
        assert words in advice
    assert "ε = 8" in d["message"]  # the best one is named
    # the non-private model itself misses it: no ε can help, and the message says so
    d = decide(_points(RISING, baseline=(0.93, 0.93)), Floor.absolute(0.94))
    assert d["verdict"] == "baseline-misses-floor" and "No ε helps" in d["message"]


def test_everything_meets_the_floor():
    d = decide(_points(RISING), Floor.absolute(0.5))
    assert d["recommended"] == 0.5 and d["interval"] == [0.5, 8.0]
    assert any("budgets below ε = 0.5" in n for n in d["notes"])


def test_the_ceiling_cuts_the_interval():
    # prior ½, at most 90 %: e^ε ≤ 9 → ε ≤ ln 9 ≈ 2.197 (δ = 1e-5 shifts it a hair)
    c = Ceiling.posterior(0.5, 0.9)
    d = decide(_points(RISING), Floor.absolute(0.75), c)
    assert d["interval"] == [1.0, 2.0] and d["recommended"] == 1.0
    assert d["ceiling"]["epsilon_max"] == pytest.approx(math.log(9), abs=1e-3)
    assert [p["meets_ceiling"] for p in d["points"]] == [True, True, True, False, False]
    # floor needs ε ≥ 4, ceiling allows ≈ 2.2: both cannot hold
    d = decide(_points(RISING), Floor.absolute(0.89), c)
    assert d["verdict"] == "ceiling-excludes-floor" and d["recommended"] is None
    assert "ε ≥ 4" in d["message"] and "2.2" in d["message"]
    # a TPR ceiling: at most 5 % TPR at 1 % FPR → ε ≤ ln(0.05/0.01) ≈ 1.609
    d = decide(_points(RISING), Floor.absolute(0.75), Ceiling.tpr(0.01, 0.05))
    assert d["interval"] == [1.0, 1.0]
    # a ceiling below what even ε = 0 allows
    d = decide(_points(RISING), Floor.absolute(0.75), Ceiling.posterior(0.3, 0.2))
    assert d["verdict"] == "ceiling-unreachable" and d["recommended"] is None


def test_the_spread_between_seeds_matters():
    acc = {1.0: (0.95, 0.75), 2.0: (0.86, 0.84)}  # ε = 1 has the better mean only by one lucky seed
    d = decide(_points(acc), Floor.absolute(0.8))
    assert d["recommended"] == 2.0
    one = next(p for p in d["points"] if p["epsilon"] == 1.0)
    assert one["mean"] == pytest.approx(0.85) and one["conservative"] == pytest.approx(0.85 - 0.1414, abs=1e-4)
    assert not one["meets_floor"]
    assert any("not monotone" in n for n in decide(_points({1.0: (0.9, 0.9), 2.0: (0.95, 0.6)}),
                                                    Floor.absolute(0.8))["notes"])
    single = decide([Point(1.0, [0.9], 1.0, DELTA)], Floor.absolute(0.8))
    assert single["recommended"] == 1.0 and any("one run only" in n for n in single["notes"])


def test_relative_floor_uses_the_non_private_mean():
    d = decide(_points(RISING, baseline=(0.94, 0.96)), Floor.within_points(6))  # floor 0.95 − 0.06 = 0.89
    assert d["floor"]["accuracy"] == pytest.approx(0.89) and d["recommended"] == 4.0
    with pytest.raises(ExplorerError, match="needs non-private runs"):
        decide(_points(RISING, baseline=None), Floor.within_points(2))


def test_the_spent_epsilon_not_the_target_meets_the_ceiling():
    c = Ceiling.posterior(0.5, 0.9)  # ε ≤ 2.197
    over = [Point(2.0, [0.9, 0.9], 2.3, DELTA)]  # spent more than allowed although the target is below
    assert decide(over, Floor.absolute(0.8), c)["verdict"] == "ceiling-excludes-floor"


@pytest.mark.parametrize("ceiling", [Ceiling.posterior(0.01, 0.05), Ceiling.posterior(0.5, 0.99),
                                     Ceiling.tpr(0.001, 0.01), Ceiling.tpr(0.1, 0.5), Ceiling.tpr(0.05, 0.9)])
def test_epsilon_max_inverts_the_accounting_bounds(ceiling):
    eps = ceiling.epsilon_max(DELTA)
    assert eps > 0
    assert ceiling.risk(eps, DELTA) == pytest.approx(ceiling.limit, rel=1e-6)
    assert ceiling.risk(eps * 1.01, DELTA) > ceiling.limit
    if ceiling.kind == "posterior":
        assert ceiling.risk(eps, DELTA) == accounting.posterior(ceiling.prior, eps, DELTA)
    else:
        assert ceiling.risk(eps, DELTA) == float(accounting.tradeoff_tpr(ceiling.fpr, eps, DELTA))


def test_bad_thresholds_are_explained():
    with pytest.raises(ExplorerError, match="between 0 and 1"):
        Floor.absolute(85)
    with pytest.raises(ExplorerError, match="prior"):
        Ceiling.posterior(0.0, 0.5)
    with pytest.raises(ExplorerError, match="false-positive rate"):
        Ceiling.tpr(0.0, 0.5)
    with pytest.raises(ExplorerError, match="no private runs"):
        decide([Point(None, [0.9], None, DELTA)], Floor.absolute(0.5))


def test_shipped_records_get_the_same_decision():
    store = Store(Path(__file__).resolve().parents[1] / "cached_runs")
    records = store.records("breast-cancer")
    assert records, "cached_runs/ holds breast-cancer records"
    points, notes = points_from_records(records)
    budgets = [p.epsilon for p in points]
    assert None in budgets and len(budgets) >= 3
    private = [p for p in points if p.epsilon is not None]
    floor = min(p.conservative for p in private) - 1e-9  # every budget meets it
    d = decide(points, Floor.absolute(floor))
    assert d["recommended"] == min(p.epsilon for p in private)
    for p in private:  # the spent ε is the record's reported one, never above the target
        assert p.epsilon_spent <= p.epsilon * 1.001
    # one recipe at a time: matching on a value no record has leaves only the baseline
    none, _ = points_from_records(records, match={"clip_norm": 123.0})
    assert [p.epsilon for p in none] == [None]


def test_a_private_model_above_the_baseline_is_noted():
    d = decide(_points(RISING, baseline=(0.90, 0.91)), Floor.within_points(1))  # ε = 8 beats the baseline
    assert any("above the non-private one" in n for n in d["notes"])
    assert not any("above the non-private one" in n for n in decide(_points(RISING), Floor.absolute(0.5))["notes"])
