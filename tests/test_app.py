"""The Streamlit app through AppTest: Plotly charts, every slider stop answered from cache, honest
stand-ins, datasets without their files, live states, and separate sessions."""
import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer import choices, plots

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")


@pytest.fixture(autouse=True)
def _store(monkeypatch):
    monkeypatch.setenv("EXPLORER_STORE", str(ROOT / "cached_runs"))
    monkeypatch.chdir(ROOT)


def _app(tab: str | None = None) -> AppTest:
    """The app after its first run; `tab` opened first (tabs are lazy: only the open one runs)."""
    at = AppTest.from_file(APP, default_timeout=120)
    if tab is not None:
        at.session_state["tab"] = tab
    at.run()
    assert not at.exception, at.exception
    return at


def _charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _names(spec) -> list[str]:
    return plots.series_names(spec)


def _sidebar_text(at) -> str:
    return " ".join(m.value for m in at.sidebar.markdown)


def _card(at, prefix):
    return next(m for m in at.metric if m.label.startswith(prefix))


def _banner(at) -> str | None:
    return next((w.value for w in at.warning if w.value.startswith("**Not cached:**")), None)


def _captions(at) -> list[str]:
    return [c.value for c in at.caption]


def _move(at, key, value) -> None:
    at.select_slider(key=key).set_value(value).run()
    assert not at.exception, at.exception


def test_first_render_draws_three_plotly_panels_and_cards():
    at = _app()
    charts = _charts(at)
    assert len(charts) >= 3
    frontier, budget, roc = charts[:3]
    assert "this run" in _names(frontier) and any(n.startswith("C=") for n in _names(frontier))
    assert any(n.startswith("no privacy") for n in _names(frontier))
    assert {"PRV", "RDP", "PLD"} <= set(_names(budget)) and any(n.startswith("target ε") for n in _names(budget))
    assert "chance" in _names(roc) and any("bound" in n for n in _names(roc))
    assert roc["layout"]["xaxis"]["type"] == "log" and roc["layout"]["yaxis"]["type"] == "log"
    labels = [m.label for m in at.metric]
    assert "Test accuracy" in labels and any(label.startswith("ε spent") for label in labels)
    assert _banner(at) is None  # the default is cached exactly


def test_moving_epsilon_changes_the_charts_and_the_derived_value():
    at = _app()
    before, eps_before = _charts(at)[:3], _card(at, "ε spent").value
    assert "ε = 3" in _sidebar_text(at)
    _move(at, "epsilon", 1.0)
    after = _charts(at)[:3]
    assert "ε = 1" in _sidebar_text(at) and _card(at, "ε spent").value != eps_before
    assert all(a != b for a, b in zip(after, before))  # each panel redrawn for the new run
    sigma_at_1 = _sidebar_text(at)
    at.radio(key="drive").set_value(choices.BY_SIGMA).run()
    _move(at, "noise_multiplier", 2.0)
    text = _sidebar_text(at)
    assert "for σ = 2" in text and text != sigma_at_1
    _move(at, "noise_multiplier", 5.0)
    assert _sidebar_text(at) != text  # more noise, less ε


def test_every_epsilon_and_clip_stop_of_the_default_dataset_is_cached():
    """Holds once cached_runs/ is regenerated from grids/mnist-5k-stops.json and mnist-5k-sigma.json."""
    at = _app()
    missing = []
    for clip in choices.CLIP_STOPS:
        _move(at, "epsilon", choices.DEFAULT_EPSILON)  # the clip slider is disabled without privacy
        _move(at, "clip_norm", clip)
        for eps in (*choices.EPSILON_STOPS, choices.NO_PRIVACY):
            _move(at, "epsilon", eps)
            if _banner(at) is not None or not at.metric:
                missing.append((eps, clip))
    at.radio(key="drive").set_value(choices.BY_SIGMA).run()
    _move(at, "clip_norm", choices.defaults("mnist-5k")["clip_norm"])
    for sigma in choices.SIGMA_STOPS:
        _move(at, "noise_multiplier", sigma)
        if _banner(at) is not None or not at.metric:
            missing.append(("σ", sigma))
    assert not missing, f"slider stops answered by a stand-in: {missing}"


def test_an_uncached_sigma_shows_the_stand_in_banner_and_captions():
    at = _app(tab="Report")
    at.number_input(key="seed").set_value(7).run()  # no run of seed 7 is shipped
    at.radio(key="drive").set_value(choices.BY_SIGMA).run()
    _move(at, "noise_multiplier", 2.0)
    banner = _banner(at)
    sidebar_eps = _sidebar_text(at).split("**ε = ")[1].split("**")[0]
    assert banner and "σ = 2 (ε ≈" in banner and "seed 7" in banner
    assert f"ε ≈ {float(sidebar_eps):.3g}" in banner  # the banner and the sidebar agree on the asked ε
    shown = banner.split("nearest cached run instead, **")[1].split("**")[0]
    assert sum(c == f"nearest cached: {shown}" for c in _captions(at)) == 3  # one under each card
    frontier = _charts(at)[0]
    asked = next(t for t in frontier["data"] if t["name"].startswith("asked"))
    assert asked["x"][0] == pytest.approx(float(sidebar_eps), rel=0.01)
    assert "shown: nearest cached run" in _names(frontier) and "this run" not in _names(frontier)
    # the report speaks of the run it describes, and the asked run's command is labelled as such
    codes = [c.value for c in at.code]
    assert any("--seed 0" in c for c in codes) and any("--noise-multiplier 2 " in c and "--seed 7" in c for c in codes)
    assert any("This report describes the run shown" in w.value for w in at.warning)


def test_no_privacy_has_no_comparison_chip_and_says_no_protection():
    at = _app()
    _move(at, "epsilon", choices.NO_PRIVACY)
    assert "No privacy" in _sidebar_text(at)
    assert _card(at, "Test accuracy").delta in (None, "")
    assert any(w.value.startswith("No protection:") for w in at.sidebar.warning)
    assert len(_charts(at)) >= 3


def test_datasets_without_their_files_show_their_cached_runs(monkeypatch, tmp_path):
    monkeypatch.delenv("EXPLORER_DATA_DIR", raising=False)
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path))  # empty: nothing downloaded before
    at = _app()
    for dataset in ("adult", "mnist"):
        started = time.monotonic()
        at.selectbox(key="dataset").set_value(dataset).run()
        assert not at.exception, at.exception
        assert time.monotonic() - started < 10  # no download attempted to draw the page
        assert not at.error, [e.value for e in at.error]
        assert at.select_slider(key="clip_norm").value == choices.defaults(dataset)["clip_norm"]  # its tuned C
        assert [m.label for m in at.metric][:1] == ["Test accuracy"] and len(_charts(at)) >= 3
        frontier = _charts(at)[0]
        assert any(n.startswith("C=") for n in _names(frontier))
    _move(at, "epsilon", 0.1)  # not shipped for mnist: training it would need the files
    assert _banner(at) is not None
    assert any("EXPLORER_DATA_DIR" in c and "network" in c for c in _captions(at))


def test_training_offline_fails_in_one_sentence(monkeypatch, tmp_path):
    monkeypatch.delenv("EXPLORER_DATA_DIR", raising=False)
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path))
    at = _app()
    at.selectbox(key="dataset").set_value("adult").run()
    _move(at, "epsilon", 0.1)
    at.button(key="train").click().run()
    run = at.session_state["live"]
    run.join(15)
    assert run.done
    for _ in range(3):
        at.run()
        if "live" not in at.session_state:
            break
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "EXPLORER_DATA_DIR" in errors[0] and "\n" not in errors[0]
    assert "Traceback" not in errors[0] and not at.exception
    assert _banner(at) is not None and at.metric  # the stand-in is still shown


def test_bad_csv_gives_an_error_element_not_an_exception():
    at = _app(tab="Your data")
    at.file_uploader(key="csv").set_value(("bad.csv", b"", "text/csv")).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["the file is empty: it needs a header row and data rows"]


def _settle(at):
    for _ in range(3):  # the polling fragment notices, moves the record into the session, reruns
        at.run()
        if "live" not in at.session_state:
            break


def test_a_live_run_keeps_the_stand_in_and_a_cancelled_one_says_so():
    at = _app()
    _move(at, "epsilon", 0.1)
    at.number_input(key="seed").set_value(11).run()
    at.button(key="train").click().run()
    assert "live" in at.session_state and not at.exception
    assert any(c.startswith("training mnist-5k, ε = 0.1") and "showing the nearest cached run" in c
               for c in _captions(at))
    assert _banner(at) is not None and at.metric and len(_charts(at)) >= 3  # the dashboard stays
    assert at.button(key="cancel") is not None
    at.button(key="cancel").click().run()
    run = at.session_state["live"]
    run.join(60)
    assert run.cancelled and run.record is None
    _settle(at)
    assert any("cancelled" in i.value for i in at.info)


def test_two_sessions_training_at_once_keep_separate_results():
    a, b = _app(), _app()
    for at, eps in ((a, 1.0), (b, 5.0)):
        at.selectbox(key="dataset").set_value("breast-cancer").run()
        at.number_input(key="epochs_breast-cancer").set_value(2).run()
        at.number_input(key="reference_models").set_value(0).run()
        _move(at, "epsilon", eps)
    # start both before either finishes
    a.button(key="train").click().run()
    b.button(key="train").click().run()
    runs = [a.session_state["live"], b.session_state["live"]]
    assert runs[0] is not runs[1] and runs[0].config.key != runs[1].config.key
    for run in runs:
        run.join(180)
        assert run.record is not None, run.error
    for at in (a, b):
        _settle(at)
    key_a, key_b = runs[0].config.key, runs[1].config.key
    assert set(a.session_state["runs"]) == {key_a} and set(b.session_state["runs"]) == {key_b}
    eps_a = _card(a, "ε spent").value
    eps_b = _card(b, "ε spent").value
    assert float(eps_a) <= 1.0 and 4.5 < float(eps_b) <= 5.0
    assert _banner(a) is None and any(s.value.startswith("Trained ") for s in a.success)


def test_an_empty_store_renders_and_offers_training(monkeypatch, tmp_path):
    monkeypatch.setenv("EXPLORER_STORE", str(tmp_path))
    at = _app()
    assert not at.error and any("No stored run" in i.value for i in at.info)
    assert at.button(key="train").label.startswith("Train this configuration")
    assert "ε = 3" in _sidebar_text(at) and len(_charts(at)) == 1  # the frontier, empty but drawn


def test_an_impossible_configuration_is_one_message():
    at = _app()
    at.selectbox(key="dataset").set_value("breast-cancer").run()
    at.number_input(key="batch_breast-cancer").set_value(4096).run()
    assert not at.exception
    assert len(at.error) == 1 and "batch" in at.error[0].value and "smaller" in at.error[0].value


def test_the_decision_over_a_shipped_dataset_uses_one_recipe_and_its_runs():
    from explorer.decision import Ceiling, Floor, decide, points_from_records
    from explorer.records import Store
    from explorer.ui.tab_decision import recipe

    at = _app(tab="Decide ε")
    records = Store(ROOT / "cached_runs").records("mnist-5k")
    shown = next(r for r in records if r["config"]["mode"] == "epsilon" and r["config"]["target_epsilon"] == 3.0
                 and r["config"]["clip_norm"] == 0.5 and r["config"]["seed"] == 0
                 and r["config"]["clipping"] == "flat" and r["config"]["technique"] == "dp-sgd"
                 and not r["config"]["pretrain"])
    points, _ = points_from_records(records, match=recipe(shown["config"]))
    assert at.selectbox(key="decide_recipe_mnist-5k").value.startswith("C = 0.5,")  # the shown run's recipe
    at.radio(key="main_floor_kind").set_value("an absolute test accuracy").run()
    private = [p for p in points if p.epsilon is not None]
    floor = sorted(p.conservative for p in private)[len(private) // 2]  # about half the budgets meet it
    at.number_input(key="main_floor_abs").set_value(round(100 * floor, 1)).run()
    assert not at.exception and not at.error
    expected = decide(points, Floor.absolute(round(100 * floor, 1) / 100), Ceiling.posterior(0.01, 0.10))
    assert any(expected["message"] == m.value for m in list(at.success) + list(at.warning))
    chart = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "main_decision_chart" in c.proto.id)
    assert any(n.startswith("accuracy floor") for n in plots.series_names(chart))
    # another recipe: other runs, another answer
    other = next(o for o in at.selectbox(key="decide_recipe_mnist-5k").options if o.startswith("C = 2,"))
    at.selectbox(key="decide_recipe_mnist-5k").set_value(other).run()
    assert not at.exception
    by_clip, _ = points_from_records(records, match={**recipe(shown["config"]), "clip_norm": 2.0})
    again = decide(by_clip, Floor.absolute(round(100 * floor, 1) / 100), Ceiling.posterior(0.01, 0.10))
    assert any(again["message"] == m.value for m in list(at.success) + list(at.warning))
    assert again["points"] != expected["points"]


def test_the_technique_choice_answers_with_its_own_runs_and_says_what_it_assumes(monkeypatch, tmp_path):
    """A store with plain DP-SGD and PATE runs of breast-cancer: choosing PATE shows the PATE run (a marked
    stand-in here), PATE is its own series on the frontier, and "What ε means" says what PATE assumes."""
    from explorer import pipeline
    from explorer.config import RunConfig
    from explorer.records import Store

    store = Store(tmp_path)
    tiny = dict(dataset="breast-cancer", epochs=3, attacks=False, reproducible=True)
    for config in (RunConfig(target_epsilon=3.0, **tiny), RunConfig(mode="non_private", **tiny),
                   RunConfig(technique="pate", target_epsilon=3.0, teachers=5, queries=30, **tiny)):
        store.put(pipeline.run(config))
    monkeypatch.setenv("EXPLORER_STORE", str(tmp_path))
    at = _app(tab="What ε means")
    at.selectbox(key="dataset").set_value("breast-cancer").run()
    at.selectbox(key="technique").set_value(choices.PATE).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "GNMax σ" in _sidebar_text(at) and any(choices.ASSUMES[choices.PATE] == c.value for c in at.sidebar.caption)
    banner = _banner(at)
    assert banner is not None and "PATE" in banner.split("instead")[0]  # the PATE run stands in, named as such
    frontier = _charts(at)[0]
    assert {"PATE", "C=0.5"} <= set(_names(frontier))
    budget = _charts(at)[1]
    assert budget["layout"]["xaxis"]["title"]["text"] == "queries answered"
    meaning = " ".join(m.value for m in at.markdown)
    assert "**PATE** (the run shown)" in meaning and choices.ASSUMES[choices.PRETRAINED] in meaning


def test_the_attack_tab_shows_the_reconstruction_study_beside_its_bound():
    at = _app()  # the attack tab is open first; its figures follow the three panels
    charts = _charts(at)
    recon = [c for c in charts if (c["layout"].get("title") or {}).get("text", "").startswith("Reconstruction")]
    assert len(recon) == 1 and "DP bound on any such attack (ReRo)" in _names(recon[0])
    assert any(m.value.startswith("- Without DP, an attacker who knows every other training record")
               for m in at.markdown)
    at.radio(key="reconstruction_budget").set_value("ε = 1").run()
    assert not at.exception
    assert len(at.get("imgs")) >= 2 or len(at.get("image")) >= 2


def test_tabs_are_lazy_only_the_open_one_runs():
    """The first render sends the open tab only (docs/performance.md: every tab's figures cost the
    browser ~2 s); opening another runs it."""
    at = _app()
    assert at.session_state["tab"] == "Attack details" and not at.code  # the report's commands are not built
    at.session_state["tab"] = "Report"
    at.run()
    assert not at.exception and any("python -m explorer run" in c.value for c in at.code)
    assert not any((c["layout"].get("title") or {}).get("text", "").startswith("Reconstruction") for c in _charts(at))
