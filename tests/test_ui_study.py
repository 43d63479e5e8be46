"""The "Your data" tab through AppTest: malformed uploads are one message each; a study started in the tab
runs in the background and ends in the decision; two sessions studying at once keep their own results; a
downloaded study re-opens with the same decision; and the study's report states every fact it must."""
import json
import re
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from explorer import plots, report, study, tables
from explorer.ui import tab_data

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")


@pytest.fixture(autouse=True)
def _store(monkeypatch):
    monkeypatch.setenv("EXPLORER_STORE", str(ROOT / "cached_runs"))
    monkeypatch.chdir(ROOT)


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["tab"] = "Your data"  # tabs are lazy: only the open one runs
    at.run()
    assert not at.exception, at.exception
    return at


def _errors(at) -> list[str]:
    return [e.value for e in at.error]


def _breast_cancer() -> bytes:
    from sklearn.datasets import load_breast_cancer

    b = load_breast_cancer()
    df = pd.DataFrame(b.data, columns=list(b.feature_names))
    df["patient_id"] = np.random.default_rng(3).permutation(len(df)) + 1000  # unique per row: proposed for exclusion
    df["diagnosis"] = np.array(b.target_names)[b.target]
    return df.to_csv(index=False).encode()


def _upload(at, name: str, raw: bytes) -> None:
    at.file_uploader(key="csv").set_value((name, raw, "text/csv")).run()
    assert not at.exception, at.exception


def test_the_upload_limit_is_the_servers():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["maxUploadSize"] == tables.MAX_UPLOAD_MB
    at = _app()
    assert at.file_uploader(key="csv").proto.max_upload_size_mb == tables.MAX_UPLOAD_MB


ROWS = b"".join(f"{i % 50},{'red' if i % 3 else 'blue'},{'yes' if i % 2 else 'no'}\n".encode() for i in range(150))
# unreadable tables: one message when uploaded
UNREADABLE = [
    ("empty.csv", b"", "empty"),
    ("header-only.csv", b"age,colour,label\n", "no rows"),
    ("one-row.csv", b"age,colour,label\n30,red,yes\n", "too few rows"),
    ("one-column.csv", b"justonecolumn\n" + b"1\n" * 150, "only one column"),
    ("binary.csv", b"\x00\x01\x02\xff\xfe" * 50, "not a text table"),
    ("workbook.csv", b"PK\x03\x04" + b"\x00" * 200, "Excel workbook"),
    ("utf16.csv", "age,label\n".encode("utf-16-le") * 3, "UTF-16"),
    ("ragged.csv", b"a,b,label\n1,2,yes\n1,2,3,4\n", "line 3 has 4 fields"),
    ("quote.csv", b'a,b,label\n1,"open,yes\n' + b"1,2,no\n" * 150, "never closed"),
]
# readable tables whose target cannot be studied: one message when the target is chosen
UNUSABLE_TARGET = [
    ("rare-class.csv", b"age,colour,label\n" + ROWS + b"7,red,maybe\n" * 3, "label", "too few rows of a class"),
    ("many-classes.csv", b"age,colour,label\n" + b"".join(f"{i},red,k{i % 60}\n".encode() for i in range(600)),
     "label", "too many classes"),
    ("constant-only.csv", b"colour,label\n" + b"red,yes\nred,no\n" * 80, "label", "no usable feature columns"),
]


def test_malformed_uploads_each_give_one_message_and_the_page_stays_usable():
    at = _app()
    for name, raw, words in UNREADABLE:
        _upload(at, name, raw)
        errors = _errors(at)
        assert len(errors) == 1 and words in errors[0], (name, errors)
        assert "Traceback" not in errors[0] and "\n" not in errors[0]
        assert at.metric and not at.selectbox(key="dataset").disabled  # the rest of the page is still there
    for name, raw, target, words in UNUSABLE_TARGET:
        _upload(at, name, raw)
        assert not _errors(at), (name, _errors(at))
        at.selectbox(key="yd_target").set_value(target).run()
        assert not at.exception, at.exception
        errors = _errors(at)
        assert len(errors) == 1 and words in errors[0], (name, errors)
        assert not [b for b in at.button if b.key == "yd_start"]  # nothing to start
    # ±infinity and a Latin-1 file are read, with a note saying so, and the study can be set up
    raw = ("età,città,label\n" + "".join(f"{'inf' if i == 5 else '-inf' if i == 9 else i},Forlì,{'sì' if i % 2 else 'no'}\n"
                                        for i in range(150))).encode("cp1252")
    _upload(at, "latin1.csv", raw)
    notes = " ".join(i.value for i in at.info)
    assert not _errors(at) and "Windows-1252" in notes and "±infinity treated as missing in 'età'" in notes
    at.selectbox(key="yd_target").set_value("label").run()
    assert not _errors(at) and at.button(key="yd_start").label.startswith("Run the study")


def test_types_preview_proposes_identifiers_for_exclusion_and_can_be_overridden():
    at = _app()
    _upload(at, "bc.csv", _breast_cancer())
    editor = at.data_editor[0]
    preview = editor.value.set_index("column")
    assert preview.loc["patient_id", "type"] == "excluded" and "identifier" in preview.loc["patient_id", "note"]
    assert preview.loc["mean radius", "type"] == "numeric"
    at.selectbox(key="yd_target").set_value("diagnosis").run()

    def inputs() -> int:
        return int(re.search(r"(\d+) model inputs", " ".join(c.value for c in at.caption)).group(1))

    assert inputs() == 30
    row = list(preview.index).index("patient_id")  # include the identifier after all, as a number
    at.session_state["yd_types"] = {"edited_rows": {row: {"type": "numeric"}}, "added_rows": [], "deleted_rows": []}
    at.run()
    assert not at.exception and not _errors(at) and inputs() == 31


def test_a_table_too_large_to_study_is_subsampled_only_with_consent():
    import sys

    sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "tables"))
    from synthetic import synthetic_frame

    at = _app()
    _upload(at, "large.csv", synthetic_frame(rows=study.MAX_STUDY_ROWS + 500, columns=4).to_csv(index=False).encode())
    at.selectbox(key="yd_target").set_value("label").run()
    errors = _errors(at)
    assert len(errors) == 1 and "too large to study" in errors[0] and not [b for b in at.button if b.key == "yd_start"]
    at.checkbox(key="yd_subsample").check().run()
    assert not at.exception and not _errors(at)
    assert f"To study: {study.MAX_STUDY_ROWS:,} rows" in " ".join(c.value for c in at.caption)
    assert at.button(key="yd_start").label.startswith("Run the study")


def test_the_decision_figure_draws_the_thresholds_and_the_recommendation():
    from explorer.decision import Ceiling, Floor, Point, decide

    points = [Point(e, list(a), e, 1e-5, [0, 1]) for e, a in
              ((0.5, (0.70, 0.72)), (1.0, (0.80, 0.82)), (2.0, (0.86, 0.87)), (4.0, (0.90, 0.90)))]
    points.append(Point(None, [0.95, 0.95], None, 1e-5, [0, 1]))
    d = decide(points, Floor.absolute(0.85), Ceiling.posterior(0.5, 0.9))  # floor: ε ≥ 2; ceiling: ε ≤ ln 9
    fig = plots.decision(d, points)
    names = plots.series_names(fig)
    trace = {n: t for n, t in zip(names, fig.data)}
    assert trace["recommended: ε = 2"].x == (2.0,) and trace["meets both: ε = 2"].fill == "toself"
    assert trace["accuracy floor (85.0 %)"].y == (0.85, 0.85) and trace["no privacy (95.0%)"].y[0] == 0.95
    ceiling = next(t for n, t in trace.items() if n.startswith("risk ceiling: ε ≤ 2.2"))
    assert ceiling.x[0] == pytest.approx(d["ceiling"]["epsilon_max"])
    assert len(trace["each seed"].x) == 8 and set(trace["mean − s.d.: below the floor"].x) == {0.5, 1.0}
    none = decide(points, Floor.absolute(0.85), Ceiling.posterior(0.3, 0.2))  # no ε meets this ceiling
    fig = plots.decision(none, points)
    assert not any(n.startswith("recommended") for n in plots.series_names(fig))
    assert "no ε meets the risk ceiling" in [a.text for a in fig.layout.annotations]


# ---------------------------------------------------------------- real studies, two sessions at once
def _setup(at, epsilon: float) -> None:
    _upload(at, "breast-cancer.csv", _breast_cancer())
    at.selectbox(key="yd_target").set_value("diagnosis").run()
    at.multiselect(key="yd_epsilons").set_value([epsilon]).run()
    at.number_input(key="yd_seeds").set_value(1).run()
    assert not at.exception and not _errors(at)


def _settle(at) -> None:
    for _ in range(3):  # the polling fragment notices, keeps the study in the session, reruns the page
        at.run()
        if "yd_live" not in at.session_state:
            break
    assert not at.exception, at.exception


@pytest.fixture(scope="module")
def two_sessions():
    """Two app sessions, each studying breast-cancer (one budget, one seed) at the same time."""
    mp = pytest.MonkeyPatch()
    mp.setenv("EXPLORER_STORE", str(ROOT / "cached_runs"))
    mp.chdir(ROOT)
    a, b = _app(), _app()
    _setup(a, 1.0)
    _setup(b, 4.0)
    a.button(key="yd_start").click().run()
    b.button(key="yd_start").click().run()
    lives = [a.session_state["yd_live"], b.session_state["yd_live"]]
    both_running = not lives[0].done and not lives[1].done
    # the page polls: progress with a label and an ETA, and a Cancel button
    a.run()
    progress = [p for p in a.get("progress")]
    cancel = [x for x in a.button if x.key == "yd_cancel"]
    for live in lives:
        live.join(300)
        assert live.study is not None, live.error
    for at in (a, b):
        _settle(at)
    yield {"a": a, "b": b, "lives": lives, "both_running": both_running, "progress": progress, "cancel": cancel}
    mp.undo()


def test_two_sessions_studying_at_once_keep_separate_results(two_sessions):
    a, b, lives = two_sessions["a"], two_sessions["b"], two_sessions["lives"]
    assert two_sessions["both_running"] and lives[0] is not lives[1]
    sa, sb = a.session_state["yd_study"], b.session_state["yd_study"]
    assert sa is lives[0].study and sb is lives[1].study
    assert sa["settings"]["epsilons"] == [1.0] and sb["settings"]["epsilons"] == [4.0]
    private = [{r["key"] for r in x["runs"] if r["config"]["mode"] == "epsilon"} for x in (sa, sb)]
    assert private[0] and private[1] and not private[0] & private[1]  # the baseline's config is the same in both
    assert sa["runs"] is not sb["runs"] and sa["table"]["fingerprint"] == sb["table"]["fingerprint"]
    for at, mine, other in ((a, "ε = 1 ", "ε = 4 "), (b, "ε = 4 ", "ε = 1 ")):
        summary = next(m.value for m in at.markdown if m.value.startswith("| budget |"))
        assert f"| {mine}|" in summary and f"| {other}|" not in summary
        assert any(s.value.startswith("Studied 1 budget(s)") for s in at.success)
    assert two_sessions["progress"] and two_sessions["cancel"]


def test_a_study_run_in_the_tab_ends_in_the_decision(two_sessions):
    a = two_sessions["a"]
    s = a.session_state["yd_study"]
    runs = s["runs"]
    assert len(runs) == 2 and all({"audit", "mia"} <= set(r["attacks"]) for r in runs)
    decided = a.session_state["yd_decision"]
    assert decided is not None and decided["floor"]["kind"] == "relative" and decided["ceiling"]["kind"] == "posterior"
    # the default thresholds, shown as one message, and the same answer as the engine gives
    points, _ = study.points(s)
    from explorer.decision import Ceiling, Floor, decide

    assert decided == decide(points, Floor.within_points(2.0), Ceiling.posterior(0.01, 0.10))
    shown = [m.value for m in (a.success if decided["verdict"] == "recommend" else a.warning)]
    assert decided["message"] in shown
    chart = next(json.loads(c.proto.spec) for c in a.get("plotly_chart") if "yd_decision_chart" in c.proto.id)
    names = plots.series_names(chart)
    assert any(n.startswith("accuracy floor") for n in names) and any(n.startswith("risk ceiling: ε ≤") for n in names)
    assert any(n.startswith("no privacy") for n in names)
    if decided["recommended"] is not None:
        assert f"recommended: ε = {decided['recommended']:g}" in names
    # a stricter floor than any budget reaches: no recommendation, said plainly with what would help
    a.radio(key="yd_floor_kind").set_value("an absolute test accuracy").run()
    a.number_input(key="yd_floor_abs").set_value(100.0).run()
    d = a.session_state["yd_decision"]
    assert d["recommended"] is None and d["advice"] and d["message"] in [w.value for w in a.warning]
    assert not a.exception and not _errors(a)


def test_a_downloaded_study_reopens_with_the_same_decision(two_sessions):
    a = two_sessions["a"]
    a.radio(key="yd_floor_kind").set_value("an absolute test accuracy").run()
    a.number_input(key="yd_floor_abs").set_value(60.0).run()
    a.radio(key="yd_ceiling_kind").set_value("what a membership test may find").run()
    a.selectbox(key="yd_fpr").set_value(0.001).run()
    a.number_input(key="yd_tpr").set_value(2.0).run()
    decided = a.session_state["yd_decision"]
    assert decided["ceiling"]["fpr"] == 0.001 and decided["floor"]["value"] == pytest.approx(0.6)
    saved = tab_data._study_json({**a.session_state["yd_study"], "decision": decided})  # what the button gives
    c = _app()
    c.file_uploader(key="yd_reopen").set_value(("study.json", saved.encode(), "application/json")).run()
    assert not c.exception and not _errors(c)
    assert c.session_state["yd_decision"] == decided
    assert c.radio(key="yd_ceiling_kind").value == "what a membership test may find"
    assert c.number_input(key="yd_floor_abs").value == pytest.approx(60.0)
    shown = {m.value for m in list(c.success) + list(c.warning)}
    assert decided["message"] in shown
    # not a study, or a study whose runs are not on its table: one message each
    c.file_uploader(key="yd_reopen").set_value(("x.json", b'{"schema": 1}', "application/json")).run()
    assert len(_errors(c)) == 1 and "not an explorer study" in _errors(c)[0]
    c.file_uploader(key="yd_reopen").set_value(("y.json", b"\xff{", "application/json")).run()
    assert len(_errors(c)) == 1 and "not a readable study JSON" in _errors(c)[0] and not c.exception


# every fact the impact-assessment report states, by its stable name (issue 16, item 3)
STUDY_FACTS = ["privacy_unit.unit", "privacy_unit.adjacency", "guarantee.budgets", "guarantee.accountant",
               "guarantee.delta", "guarantee.delta_times_n", "guarantee.delta_policy.default_delta",
               "guarantee.delta_policy.above_one_over_n", "guarantee.delta_policy.warnings",
               "guarantee.sampling.assumed_by_accountant", "guarantee.sampling.used", "protected.final_model",
               "protected.intermediate_models", "engine.library", "engine.version", "engine.grad_sample_mode",
               "engine.clipping", "noise.source", "noise.cryptographically_secure_rng", "noise.floating_point_attacks",
               "not_covered", "evidence.audit.statement", "evidence.mia.statement", "evidence.limits",
               "decision.stated", "decision.thresholds", "decision.rationale", "decision.floor", "decision.ceiling",
               "decision.recommended_epsilon", "decision.interval", "reproduce.command"]


def _get(d, path):
    for p in path.split("."):
        assert isinstance(d, dict) and p in d, path
        d = d[p]
    return d


def test_the_study_report_states_every_fact(two_sessions):
    a = two_sessions["a"]
    s = {**a.session_state["yd_study"], "decision": a.session_state["yd_decision"]}
    facts = json.loads(report.study_json(s))["facts"]
    for path in STUDY_FACTS:
        _get(facts, path)
    n = s["table"]["n_train"]
    g = facts["guarantee"]
    assert g["delta"] == study.default_delta(n) and g["delta_times_n"] == pytest.approx(g["delta"] * n)
    assert g["sampling"] == {**g["sampling"], "assumed_by_accountant": "poisson", "used": "poisson"}
    dp_run = next(r for r in s["runs"] if r["config"]["mode"] == "epsilon")
    assert g["budgets"][0]["epsilon"] == dp_run["privacy"]["epsilon"]  # one seed: that run's ε by each accountant
    assert facts["protected"]["final_model"] is True and facts["protected"]["intermediate_models"] is True
    assert {i["id"] for i in facts["not_covered"]} >= {"hyperparameter_tuning", "preprocessing_statistics",
                                                       "architecture_choice"}
    assert facts["noise"]["cryptographically_secure_rng"] is False
    assert facts["decision"]["thresholds"] == [s["decision"]["floor"]["stated"], s["decision"]["ceiling"]["stated"]]
    assert facts["evidence"]["audit"]["statement"] == dp_run["attacks"]["audit"].get("statement", "not recorded")
    command = facts["reproduce"]["command"]
    assert command.startswith("python -m explorer study") and "--epsilons 1 " in command and "--seeds 1" in command
    md = report.study_markdown(s)
    for words in ("one example", "add/remove", "δ·n", "Poisson", "every intermediate model", "not covered by ε",
                  "floating-point", s["decision"]["message"]):
        assert words in md, words
    html = report.study_html(s)
    assert html.count("plotly.js v") == 1 and not re.search(r"<script[^>]+src=[\"']?https?:", html)
    assert html.count('class="plotly-graph-div"') == 3


def test_a_cancelled_study_says_so_and_the_tab_stays_usable():
    at = _app()
    _setup(at, 2.0)
    at.button(key="yd_start").click().run()
    assert at.button(key="yd_start").disabled  # one study at a time per session
    at.button(key="yd_cancel").click().run()
    live = at.session_state["yd_live"]
    live.join(60)
    assert live.cancelled and live.study is None
    _settle(at)
    assert any("cancelled" in i.value for i in at.info) and "yd_study" not in at.session_state
    assert not _errors(at) and not at.button(key="yd_start").disabled  # ready to start again


def test_the_decision_view_in_a_browser(two_sessions, tmp_path):
    """A saved study re-opened in a real headless Chromium: the decision is said and its figure drawn.
    EXPLORER_DECISION_STUDY names another saved study to show (the docs' picture uses a five-budget,
    two-seed study of breast-cancer); EXPLORER_DECISION_SCREENSHOT copies the screenshot there."""
    import os
    import shutil

    from playwright.sync_api import sync_playwright

    from explorer.serve import CHROMIUM_FLAGS, running_app

    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed (apt-get install chromium chromium-driver)"
    path = os.environ.get("EXPLORER_DECISION_STUDY")
    if not path:
        path = tmp_path / "study.json"
        path.write_text(tab_data._study_json(two_sessions["a"].session_state["yd_study"]), encoding="utf-8")
    env = {"EXPLORER_STORE": str(ROOT / "cached_runs")}
    with running_app(env) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.goto(url)
        page.get_by_role("tab", name="Your data").click()
        uploader = page.locator("[data-testid=stFileUploader]").filter(has_text="re-open a saved study")
        uploader.locator("input[type=file]").set_input_files(str(path))
        page.get_by_role("heading", name="Study results").wait_for(timeout=60_000)
        chart = page.locator("[data-testid=stPlotlyChart]").filter(has_text="the decision", visible=True)
        chart.locator(".main-svg .cartesianlayer").first.wait_for(timeout=60_000)
        legend = " ".join(chart.locator(".legendtext").all_text_contents())
        assert "accuracy floor" in legend and "risk ceiling" in legend and "each seed" in legend
        verdict = page.locator("[data-testid=stAlert]").filter(visible=True).filter(
            has_text=re.compile(r"^(Use ε = |No studied budget|No budget can|The floor needs|No model can)"))
        assert verdict.count() == 1
        assert page.locator("[data-testid=stException]").count() == 0
        page.get_by_role("heading", name="Decision", exact=True).evaluate("e => e.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(800)
        shot = tmp_path / "decision.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 20_000
        if os.environ.get("EXPLORER_DECISION_SCREENSHOT"):
            shutil.copy(shot, os.environ["EXPLORER_DECISION_SCREENSHOT"])
        browser.close()
