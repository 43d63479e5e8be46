"""Which run answers the asked configuration, and how it is said: the engine behind the UI (no Streamlit).

A store of tiny real runs (breast-cancer, 2 epochs, no reference models) stands in for cached_runs/."""
import json
import math
from pathlib import Path

import pytest

from explorer import accounting, answer, choices, pipeline, preview
from explorer.config import RunConfig
from explorer.live import eta_seconds
from explorer.records import Store
from explorer.sweep import expand, load_grid

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(dataset="breast-cancer", epochs=2, reference_models=0, attacks=False)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = Store(tmp_path_factory.mktemp("store"))
    for config in (RunConfig(target_epsilon=1.0, **TINY), RunConfig(target_epsilon=4.0, **TINY),
                   RunConfig(target_epsilon=4.0, seed=1, **TINY), RunConfig(mode="non_private", **TINY),
                   RunConfig(mode="non_private", seed=1, **TINY)):
        s.put(pipeline.run(config))
    return s


# ------------------------------------------------------------------ tiers
@pytest.mark.parametrize("eps,name", [(0.1, "strong"), (1.0, "strong"), (1.0001, "moderate"), (5.0, "moderate"),
                                      (5.0001, "weak"), (10.0, "weak"), (10.0001, "very weak"), (50.0, "very weak")])
def test_tier_boundaries_and_the_odds_factor_comes_from_epsilon(eps, name):
    got, text = accounting.tier(eps)
    assert got == name
    assert text.startswith(name.capitalize() + " protection:") and text.count("protection") == 1
    factor = math.exp(eps)
    shown = text.split("≈ ")[1].split("-fold")[0]
    if "× 10^" in shown:
        mantissa, exponent = shown.split(" × 10^")
        value = float(mantissa) * 10 ** int(exponent)
    else:
        value = float(shown.replace(",", ""))
    assert abs(value - factor) / factor < 0.06, (shown, factor)  # two significant figures


def test_tier_texts_at_small_epsilon_and_without_privacy():
    assert "≈ 1.1-fold" in accounting.tier(0.1)[1] and "2.7" not in accounting.tier(0.1)[1]
    name, text = accounting.tier(None)
    assert name == "none" and text.startswith("No protection:") and "None" not in text


# ------------------------------------------------------------------ the sidebar's stops
def test_choices_build_the_configs_the_grids_run():
    ch = choices.Choices(epsilon=2.0, clip_norm=1.0)
    assert choices.asked(ch).key == RunConfig(dataset="mnist-5k", target_epsilon=2.0, clip_norm=1.0).key
    sigma = choices.asked(choices.Choices(drive=choices.BY_SIGMA, noise_multiplier=3.0))
    assert sigma.mode == "noise" and sigma.noise_multiplier == 3.0 and sigma.target_epsilon is None
    base = choices.asked(choices.Choices(epsilon=choices.NO_PRIVACY, epochs=3, learning_rate=9.0))
    assert base.key == RunConfig(dataset="mnist-5k", mode="non_private").key  # its own recipe


def _grid_keys(axis: str):
    """Keys of the shipped grids that have `axis` ("epsilon" or "noise_multiplier")."""
    grids = [g for g in sorted((ROOT / "cached_runs" / "grids").glob("*.json")) if axis in json.loads(g.read_text())]
    return {c.key for g in grids for c in expand(load_grid(g))}


def test_the_grids_cover_every_epsilon_and_clip_stop_and_the_baseline():
    keys = _grid_keys("epsilon")
    missing = [answer.describe(choices.asked(ch)) for ch in choices.stops() if ch.drive == choices.BY_EPSILON
               and not keys & set(answer.cache_keys(choices.asked(ch)))]
    assert not missing, missing


def test_the_grids_cover_every_sigma_stop():
    """Needs sweep.expand to read a grid's noise_multiplier axis (cached_runs/grids/mnist-5k-sigma.json)."""
    keys = _grid_keys("noise_multiplier")
    missing = [answer.describe(choices.asked(ch)) for ch in choices.stops() if ch.drive == choices.BY_SIGMA
               and not keys & set(answer.cache_keys(choices.asked(ch)))]
    assert not missing, missing


# ------------------------------------------------------------------ exact, stand-in, nearest
def test_a_stored_configuration_answers_itself(store):
    config = RunConfig(target_epsilon=1.0, **TINY)
    ans = answer.answer(config, 1.0, store)
    assert ans.kind == answer.EXACT and ans.exact and ans.record["key"] == config.key
    assert ans.banner() is None and ans.caption() is None


def test_a_run_with_secret_noise_is_answered_by_its_seeded_demo_twin():
    config = RunConfig(dataset="mnist-5k", target_epsilon=3.0, reference_models=2)
    keys = answer.cache_keys(config)
    seeded = config.replace(reproducible=True)
    assert keys == [config.key, seeded.key, config.replace(reference_models=4).key,
                    seeded.replace(reference_models=4).key]
    assert answer.cache_keys(seeded) == [seeded.key, seeded.replace(reference_models=4).key]
    assert answer.cache_keys(config.replace(reference_models=0)) == [config.replace(reference_models=0).key,
                                                                     config.replace(reference_models=0, reproducible=True).key]


def test_a_session_run_answers_itself_and_is_said_so(store):
    config = RunConfig(target_epsilon=2.0, **TINY)
    record = pipeline.run(config)
    ans = answer.answer(config, 2.0, store, {config.key: record})
    assert ans.kind == answer.SESSION and ans.record is record and ans.banner() is None


def test_an_uncached_configuration_gets_a_marked_stand_in(store):
    config = RunConfig(target_epsilon=3.0, **TINY)
    ans = answer.answer(config, 3.0, store)
    assert ans.stand_in and ans.record["config"]["target_epsilon"] == 4.0
    banner = ans.banner()
    assert "ε = 3" in banner and answer.label(ans.record) in banner  # asked and shown both named
    assert ans.caption() == f"nearest cached: {answer.label(ans.record)}"
    other = answer.answer(RunConfig(target_epsilon=3.0, **{**TINY, "epochs": 3}), 3.0, store)
    assert "epochs 2 instead of 3" in other.banner()  # a difference beyond ε is named too


def test_sigma_mode_takes_the_run_nearest_in_epsilon(store):
    for sigma in (0.6, 1.0, 2.0, 4.0, 8.0):
        config = RunConfig(mode="noise", noise_multiplier=sigma, **TINY)
        asked_eps = preview.preview(config, records=store.records())["epsilon"]
        ans = answer.answer(config, asked_eps, store)
        assert ans.stand_in and f"σ = {sigma:g} (ε ≈" in ans.banner()
        private = [r for r in store.records() if r["privacy"]["epsilon"] is not None and r["config"]["seed"] == 0]
        best = min(abs(math.log(r["privacy"]["epsilon_reported"] / asked_eps)) for r in private)
        assert abs(math.log(ans.record["privacy"]["epsilon_reported"] / asked_eps)) == pytest.approx(best)


def test_no_privacy_asks_for_the_baseline_and_nothing_else(store):
    ans = answer.answer(RunConfig(mode="non_private", seed=5, **TINY), None, store)
    assert ans.stand_in and ans.record["privacy"]["epsilon"] is None
    empty = Store(ROOT / "no-such-folder")
    assert answer.answer(RunConfig(target_epsilon=1.0, **TINY), 1.0, empty).kind == answer.NONE


def test_baseline_prefers_the_same_seed_and_a_baseline_has_none(store):
    records = store.records()
    seed1 = next(r for r in records if r["config"]["seed"] == 1 and r["privacy"]["epsilon"] is not None)
    assert answer.baseline(seed1, records)["config"]["seed"] == 1
    base = next(r for r in records if r["privacy"]["epsilon"] is None)
    assert answer.baseline(base, records) is None
    assert answer.baseline(seed1, [seed1]) is None


def test_time_estimate_scales_with_the_work_asked(store):
    records = store.records()
    one = answer.estimate_seconds(RunConfig(target_epsilon=3.0, **TINY), records)
    four = answer.estimate_seconds(RunConfig(target_epsilon=3.0, **{**TINY, "epochs": 8}), records)
    assert one > 0 and four == pytest.approx(4 * one)
    with_refs = answer.estimate_seconds(RunConfig(target_epsilon=3.0, **{**TINY, "attacks": True, "reference_models": 2}),
                                        records)
    assert with_refs == pytest.approx(3 * one)
    assert answer.estimate_seconds(RunConfig(dataset="mnist-5k"), records) is None


def test_eta_from_progress_or_estimate():
    assert eta_seconds(0.5, 10.0, None) == pytest.approx(10.0)
    assert eta_seconds(0.0, 2.0, 30.0) == pytest.approx(28.0)
    assert eta_seconds(0.0, 2.0, None) is None and eta_seconds(1.0, 5.0, 9.0) == 0.0


# ------------------------------------------------------------------ previews without the data
def test_preview_takes_the_training_size_from_a_matching_record(store):
    config = RunConfig(target_epsilon=2.0, **TINY)
    from_record = preview.preview(config, records=store.records())
    from_data = preview.preview(config)
    assert from_record["n_source"] == "record" and from_data["n_source"] == "data"
    assert from_record["n_train"] == from_data["n_train"]
    assert from_record["noise_multiplier"] == from_data["noise_multiplier"]


def test_preview_of_a_dataset_whose_files_are_absent(tmp_path, monkeypatch):
    monkeypatch.delenv("EXPLORER_DATA_DIR", raising=False)
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path))
    adult = Store(ROOT / "cached_runs").records("adult")
    assert adult, "cached_runs/ ships adult records"
    exact = preview.preview(RunConfig(dataset="adult", target_epsilon=1.0), records=adult)
    assert exact["n_source"] == "record"
    other = preview.preview(RunConfig(dataset="adult", target_epsilon=1.0, seed=7), records=adult)
    assert other["n_source"] == "estimate" and abs(other["n_train"] - exact["n_train"]) <= 200
    with pytest.raises(Exception, match="EXPLORER_DATA_DIR"):
        preview.preview(RunConfig(dataset="adult", target_epsilon=1.0))


# ------------------------------------------------------------------ techniques
TECHNIQUE_GRIDS = {"mnist-5k-adaptive.json": choices.ADAPTIVE, "adult-adaptive.json": choices.ADAPTIVE,
                   "mnist-5k-pretrain.json": choices.PRETRAINED, "mnist-5k-pate.json": choices.PATE,
                   "adult-pate.json": choices.PATE}


@pytest.mark.parametrize("name", sorted(TECHNIQUE_GRIDS))
def test_each_technique_at_each_budget_of_its_grid_asks_a_shipped_configuration(name):
    grid = load_grid(ROOT / "cached_runs" / "grids" / name)
    keys = {c.key for c in expand(grid)}
    for eps in grid["epsilon"]:
        for seed in grid.get("seeds", [0]):
            ch = choices.Choices(dataset=grid["dataset"], technique=TECHNIQUE_GRIDS[name], epsilon=float(eps), seed=seed)
            config = choices.asked(ch)
            assert choices.technique_label(config.to_dict()) == TECHNIQUE_GRIDS[name]
            assert keys & set(answer.cache_keys(config)), (name, eps, seed, config.to_dict())


def test_the_nearest_run_keeps_the_asked_technique(store, tmp_path):
    pate = pipeline.run(RunConfig(technique="pate", target_epsilon=1.0, teachers=5, queries=30,
                                  **{**TINY, "epochs": 5}))
    both = Store(tmp_path)
    for r in [*store.records(), pate]:
        both.put(r)
    asked = RunConfig(technique="pate", target_epsilon=4.0, teachers=5, queries=30, **{**TINY, "epochs": 5})
    ans = answer.answer(asked, 4.0, both)
    assert ans.stand_in and ans.record["key"] == pate["key"]  # PATE at ε 1, not DP-SGD at ε 4
    assert "PATE" in answer.describe(asked) and "PATE" in answer.label(pate)
    plain = answer.answer(RunConfig(target_epsilon=1.0, **{**TINY, "epochs": 3}), 1.0, both)
    assert plain.record["config"]["technique"] == "dp-sgd"
    shown_other = answer.Answer(asked, 4.0, store.records()[0], answer.STAND_IN)
    assert "technique dp-sgd instead of pate" in shown_other.banner()
