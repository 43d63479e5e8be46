"""A real study on breast-cancer written out as CSV: every run through pipeline.run with the canary audit
and RMIA, a recommendation consistent with a stated floor, and no cell value anywhere in the study JSON."""
import json
import re
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from explorer import study
from explorer.decision import Floor, decide
from explorer.errors import ExplorerError, RunCancelled
from explorer.tables import TableSpec, read_table

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "tables"))
from synthetic import synthetic_frame  # noqa: E402

LEVELS = ["Quokkaband", "Axolotlband", "Pangolinband", "Zanzibar-North", "Ushuaia-East", "malignant", "benign"]


def _breast_cancer_csv() -> tuple[bytes, pd.DataFrame]:
    """breast-cancer as a CSV, plus two categorical columns with unmistakable levels, a numeric column whose
    cells have 8 significant digits and an identifier column. The table's own cells have 4 significant
    digits: as strings they also occur among a study's figures by chance (37 of 10,848 did in one study),
    so the cell check uses the added columns, whose values cannot occur by chance."""
    from sklearn.datasets import load_breast_cancer

    b = load_breast_cancer()
    df = pd.DataFrame(b.data, columns=list(b.feature_names))
    rng = np.random.default_rng(7)
    df["size_band"] = np.where(df["mean radius"] > 15, "Quokkaband",
                               np.where(df["mean radius"] > 12, "Axolotlband", "Pangolinband"))
    df["clinic"] = rng.choice(["Zanzibar-North", "Ushuaia-East"], len(df))
    df["lab_value"] = np.round(rng.uniform(10000, 99999, len(df)), 3)
    df["patient_code"] = [f"PX-{i:06d}-Q" for i in rng.permutation(len(df))]
    df["diagnosis"] = np.array(b.target_names)[b.target]
    return df.to_csv(index=False).encode(), df


@pytest.fixture(scope="module")
def breast_cancer_study():
    raw, df = _breast_cancer_csv()
    events = []
    s = study.run_study(read_table(raw), TableSpec("diagnosis"), epsilons=(1, 4), seeds=2, progress=events.append)
    return s, df, events


@pytest.mark.slow
def test_study_runs_every_budget_with_its_evidence(breast_cancer_study):
    s, _, events = breast_cancer_study
    assert s["settings"]["epsilons"] == [1.0, 4.0] and s["settings"]["seeds"] == [0, 1]
    runs = s["runs"]
    assert len(runs) == 6  # (2 budgets + the non-private baseline) × 2 seeds
    recipe = s["settings"]["recipe"]
    n = s["table"]["n_train"]
    assert s["settings"]["delta"] == 1e-4 and n == 343  # 1/(10·343) rounded down to a power of ten
    for r in runs:
        c = r["config"]
        assert c["csv_sha256"] == s["table"]["fingerprint"] and c["batch_size"] == recipe["batch_size"] < n
        assert c["reference_models"] >= 2 and c["canaries"] == recipe["canaries"] > 0
        audit, mia = r["attacks"]["audit"], r["attacks"]["mia"]
        assert audit["canaries"] == recipe["canaries"] and 0 <= audit["auc"] <= 1
        assert mia["reference_models"] >= 2 and 0 <= mia["auc"] <= 1
        if c["mode"] == "epsilon":
            assert c["model"] == recipe["dp"]["model"] and c["learning_rate"] == recipe["dp"]["learning_rate"]
            assert r["privacy"]["epsilon_reported"] <= c["target_epsilon"]
            assert audit["epsilon_lower_bound"] <= r["privacy"]["epsilon_reported"]
        else:
            assert c["model"] == recipe["baseline"]["model"] and r["privacy"]["epsilon"] is None
    tuning = s["settings"]["tuning"]
    assert len(tuning["trials"]) == 10 and "validation" in tuning["split"] and "test rows are never used" in tuning["split"]
    best = max(t["validation_accuracy"] for t in tuning["trials"] if t["kind"] == "dp")
    assert next(t for t in tuning["trials"] if t["kind"] == "dp" and t["validation_accuracy"] == best)["model"] \
        == recipe["dp"]["model"]
    text = " ".join(s["disclosures"])
    for words in ("validation split of the training rows", "not covered by ε", "mean and standard deviation",
                  "levels", "release one", "δ·n"):
        assert words in text
    fractions = [e["fraction"] for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(e.get("eta_s") is not None for e in events) and events[-1]["phase"] == "done"
    assert {e["phase"] for e in events} == {"preparing", "tuning", "runs", "done"}


@pytest.mark.slow
def test_recommendation_follows_a_stated_floor(breast_cancer_study):
    s, _, _ = breast_cancer_study
    points, _ = study.points(s)
    by_eps = {}
    for r in s["runs"]:
        by_eps.setdefault(r["config"]["target_epsilon"] if r["config"]["mode"] == "epsilon" else None, []).append(
            r["utility"]["test_accuracy"])
    conservative = {e: np.mean(a) - np.std(a, ddof=1) for e, a in by_eps.items()}
    floor = conservative[4.0] - 1e-6  # ε = 4 meets it by construction
    d = decide(points, Floor.absolute(floor))
    expected = min(e for e in (1.0, 4.0) if conservative[e] >= floor - 1e-12)
    assert d["verdict"] == "recommend" and d["recommended"] == expected
    above = max(conservative.values()) + 0.001
    assert decide(points, Floor.absolute(min(above, 1.0)))["recommended"] is None


@pytest.mark.slow
def test_study_json_holds_no_cell_value_and_reopens(breast_cancer_study, tmp_path):
    s, df, _ = breast_cancer_study
    path = study.save_study(s, tmp_path / "study.json")
    text = path.read_text(encoding="utf-8")
    for level in LEVELS:
        assert level not in text, level
    tokens = set(re.findall(r"-?\d+(?:\.\d+)?", text))
    assert not {repr(float(v)) for v in df["lab_value"]} & tokens
    assert not any(code in text for code in df["patient_code"])
    roles = {c["name"]: c["type"] for c in s["table"]["columns"]}
    assert roles["patient_code"] == "excluded" and roles["size_band"] == "categorical" and roles["diagnosis"] == "target"
    again = study.load_study(path)
    assert again == json.loads(text)
    assert decide(study.points(again)[0], Floor.absolute(0.5))["recommended"] == 1.0
    bad = json.loads(text)
    bad["runs"][0]["config"]["csv_sha256"] = "0" * 16
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ExplorerError):
        study.load_study(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"schema": 1}))
    with pytest.raises(ExplorerError, match="not an explorer study"):
        study.load_study(tmp_path / "other.json")


@pytest.mark.slow
def test_a_100_row_table_is_studied_and_cancel_stops_a_study():
    t = read_table(synthetic_frame(rows=100, columns=6, seed=3).to_csv(index=False).encode())
    s = study.run_study(t, TableSpec("label"), epsilons=(2,), seeds=1)
    assert s["table"]["n_train"] == 60 and s["settings"]["recipe"]["batch_size"] == 8
    assert s["settings"]["delta"] == 1e-3 and len(s["runs"]) == 2
    assert all({"audit", "mia"} <= set(r["attacks"]) for r in s["runs"])
    assert any("one seed" in w for w in s["warnings"]) and any("test split has 20 rows" in w for w in s["warnings"])
    stop = threading.Event()
    with pytest.raises(RunCancelled):
        study.run_study(t, TableSpec("label"), epsilons=(2,), seeds=1, cancel=stop,
                        progress=lambda e: stop.set())


@pytest.mark.slow
def test_a_public_table_pretrains_every_dp_run_and_is_disclosed():
    """issue 17: a second table the user declares public (same columns, other people) pre-trains the DP
    runs; the baseline stays one recipe; the study and its report say what ε does not cover."""
    frame = synthetic_frame(rows=400, columns=6, seed=3)
    private, public = (frame.iloc[:100].to_csv(index=False).encode(), frame.iloc[100:].to_csv(index=False).encode())
    s = study.run_study(read_table(private), TableSpec("label"), epsilons=(2,), seeds=1, public=public)
    info = s["settings"]["public_table"]
    assert info["source"].startswith("public-csv:") and info["rows"] == 300 and info["features_matched"] > 0
    dp = [r for r in s["runs"] if r["config"]["mode"] == "epsilon"]
    base = [r for r in s["runs"] if r["config"]["mode"] == "non_private"]
    assert dp and all(r["config"]["pretrain"] == info["source"] for r in dp)
    assert base and all(r["config"].get("pretrain") is None for r in base)
    assert any(d.startswith("Public pre-training") and info["source"] in d for d in s["disclosures"])
    with pytest.raises(ExplorerError, match="the public CSV"):
        study.run_study(read_table(private), TableSpec("label"), epsilons=(2,), seeds=1, public=b"only_a_header\n")


def test_study_settings_are_checked():
    assert study.default_delta(343) == 1e-4 and study.default_delta(100) == 1e-3 and study.default_delta(6000) == 1e-5
    delta, rule, warnings = study.delta_policy(343, 0.01)
    assert delta == 0.01 and "above 1/n" in warnings[0] and rule == "chosen by the user"
    assert study.delta_policy(343)[2] == []
    r = study.size_recipe(60)
    assert r["batch_size"] == 8 and 5 <= r["epochs"] <= 40 and r["canaries"] == 20
    assert study.size_recipe(6000)["batch_size"] == 256 and study.size_recipe(10**6)["batch_size"] == 512
    t = read_table(synthetic_frame(rows=300, columns=5).to_csv(index=False).encode())
    for kw, words in (({"epsilons": ()}, "at least one budget"), ({"epsilons": (0,)}, r"\(0, 100\]"),
                      ({"seeds": 0}, "at least one seed"), ({"reference_models": 1}, "at least 2 reference")):
        with pytest.raises(ExplorerError, match=words):
            study.run_study(t, TableSpec("label"), **kw)
    with pytest.raises(ExplorerError, match="too large to study"):
        study.run_study(read_table(synthetic_frame(rows=20_001, columns=3).to_csv(index=False).encode()),
                        TableSpec("label"))
