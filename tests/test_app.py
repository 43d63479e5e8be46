"""The Streamlit app through AppTest: widgets by key, charts, errors, and separate sessions."""
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer import plots

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")


@pytest.fixture(autouse=True)
def _store(monkeypatch):
    monkeypatch.setenv("EXPLORER_STORE", str(ROOT / "cached_runs"))
    monkeypatch.chdir(ROOT)


def _app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def _charts(at):
    return [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]


def _names(spec):
    return plots.series_names(spec)


def _sidebar_text(at):
    return " ".join(m.value for m in at.sidebar.markdown)


def test_cached_default_renders_three_panels_and_cards():
    at = _app()
    charts = _charts(at)
    assert len(charts) >= 3
    frontier, budget, roc = charts[:3]
    assert "this run" in _names(frontier) and any(n and n.startswith("C=") for n in _names(frontier))
    assert {"PRV", "RDP", "PLD"} <= set(_names(budget))
    assert any(n and "bound" in n for n in _names(roc)) and any(n and n.startswith("canary audit") for n in _names(roc))
    assert "chance" in _names(roc) and all(layer["encoding"]["x"]["scale"]["type"] == "log" for layer in roc["layer"])
    labels = [m.label for m in at.metric]
    assert "Test accuracy" in labels and any(label.startswith("ε spent") for label in labels)
    assert not at.info or all("nearest" not in i.value for i in at.info)  # the default is cached exactly


def test_sliders_update_the_derived_value_and_the_cards():
    at = _app()
    eps_card = lambda: next(m for m in at.metric if m.label.startswith("ε spent")).value  # noqa: E731
    assert "ε = 3" in _sidebar_text(at)
    before = eps_card()
    at.select_slider(key="epsilon").set_value(1.0).run()
    assert not at.exception and "ε = 1" in _sidebar_text(at)
    assert eps_card() != before
    sigma_at_1 = _sidebar_text(at)
    at.select_slider(key="clip_norm").set_value(1.0).run()
    assert not at.exception
    at.radio(key="drive").set_value("noise multiplier σ").run()
    at.select_slider(key="noise_multiplier").set_value(2.0).run()
    assert not at.exception
    text = _sidebar_text(at)
    assert "for σ = 2" in text and text != sigma_at_1
    at.select_slider(key="noise_multiplier").set_value(4.0).run()
    assert _sidebar_text(at) != text  # more noise, less ε


def test_no_privacy_option_and_other_dataset():
    at = _app()
    at.select_slider(key="epsilon").set_value("no privacy").run()
    assert not at.exception and "No privacy" in _sidebar_text(at)
    at.selectbox(key="dataset").set_value("breast-cancer").run()
    assert not at.exception and len(_charts(at)) >= 3


def test_bad_csv_gives_an_error_element_not_an_exception():
    at = _app()
    at.file_uploader(key="csv").set_value(("bad.csv", b"", "text/csv")).run()
    assert not at.exception
    assert any("CSV" in e.value for e in at.error)


def _train_until_done(at, timeout=180):
    at.button(key="train").click().run()
    assert not at.exception
    run = at.session_state["live"]
    run.join(timeout)
    assert run.done and run.error is None, run.error
    for _ in range(3):  # the polling fragment notices, moves the record into the session, reruns
        at.run()
        if "live" not in at.session_state:
            break
    return run


def test_two_sessions_training_at_once_keep_separate_results():
    a, b = _app(), _app()
    for at, eps in ((a, 1.0), (b, 4.0)):
        at.selectbox(key="dataset").set_value("breast-cancer").run()
        at.number_input(key="epochs_breast-cancer").set_value(2).run()
        at.number_input(key="reference_models").set_value(0).run()
        at.select_slider(key="epsilon").set_value(eps).run()
    # start both before either finishes
    a.button(key="train").click().run()
    b.button(key="train").click().run()
    runs = [a.session_state["live"], b.session_state["live"]]
    assert runs[0] is not runs[1] and runs[0].config.key != runs[1].config.key
    for run in runs:
        run.join(180)
        assert run.record is not None, run.error
    for at in (a, b):
        for _ in range(3):
            at.run()
            if "live" not in at.session_state:
                break
    key_a, key_b = runs[0].config.key, runs[1].config.key
    assert set(a.session_state["runs"]) == {key_a} and set(b.session_state["runs"]) == {key_b}
    eps_a = next(m for m in a.metric if m.label.startswith("ε spent")).value
    eps_b = next(m for m in b.metric if m.label.startswith("ε spent")).value
    assert float(eps_a) <= 1.0 < 3.5 < float(eps_b) <= 4.0
