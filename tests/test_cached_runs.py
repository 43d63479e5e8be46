"""Integrity of the shipped records: schema 2, ε recomputed from σ/q/steps/δ, Opacus' accountant, the
engine block, and grids ↔ keys. (Fails until cached_runs/ is regenerated with the Opacus engine.)"""
import functools
import json
from pathlib import Path

import pytest

from explorer import accounting
from explorer.errors import ExplorerError
from explorer.records import Store, read_record, validate
from explorer.sweep import expand, load_grid

ROOT = Path(__file__).resolve().parents[1] / "cached_runs"
FILES = sorted(ROOT.glob("*.json"))


def test_grids_reproduce_exactly_the_shipped_keys():
    grid_keys = {c.key for g in sorted((ROOT / "grids").glob("*.json")) for c in expand(load_grid(g))}
    shipped = {p.stem for p in FILES}
    assert shipped and grid_keys == shipped


@functools.lru_cache(maxsize=None)  # seeds of one configuration share σ, q, steps and δ
def _library_epsilon(sigma, q, steps, delta, name):
    return accounting.epsilon(sigma, q, steps, delta, name)


@functools.lru_cache(maxsize=None)
def _pate_epsilon(sigma, queries, delta, name):
    from explorer import pate

    return pate.epsilon(sigma, queries, delta, name)


def check(record: dict) -> None:
    """What every shipped record must satisfy beyond the schema."""
    validate(record)
    p = record["privacy"]
    if p["epsilon"] is None:
        return
    if record["config"].get("technique") == "pate":  # ε of the answered GNMax queries (explorer/pate.py)
        for name, stored in p["epsilon"].items():
            again = _pate_epsilon(p["noise_multiplier"], p["pate"]["answered"], p["delta"], name)
            assert abs(again - stored) <= 0.01 * stored, (name, again, stored)
        assert p["opacus_accountant"] is None and p["poisson_sampling"] is False
    else:
        for name, stored in p["epsilon"].items():
            again = _library_epsilon(p["noise_multiplier"], p["sample_rate"], p["steps"], p["delta"], name)
            assert abs(again - stored) <= 0.01 * stored, (name, again, stored)
        followed = p["opacus_accountant"]  # the accountant Opacus kept while training
        assert followed["steps"] == p["steps"] and followed["epsilon"] == p["epsilon"][followed["name"]]
        assert followed["history"] == [[p["noise_multiplier"], p["sample_rate"], p["steps"]]]
    if record["config"].get("pretrain"):  # pre-training costs no ε, and the record says why
        assert "not covered by ε" in p["pretrain"]["note"]
    # shipped records come from the grids, which are reproducible: the record must say so
    assert record["config"]["reproducible"] and p["engine"]["noise_rng"] == "seeded"
    if record["config"]["clipping"] == "adaptive":
        assert all("clip_norm" in e for e in record["utility"]["history"])
    if record["config"]["target_epsilon"]:
        assert p["epsilon_reported"] <= record["config"]["target_epsilon"]
    audit = record["attacks"].get("audit")
    if audit:  # the empirical bound never exceeds the guarantee
        assert audit["epsilon_lower_bound"] <= min(p["epsilon"].values())


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_record_is_valid_and_its_epsilon_recomputes(path):
    check(read_record(path))


def test_hand_edited_records_fail(tmp_path):
    record = json.loads(FILES[0].read_text())
    edited = {**record, "utility": {**record["utility"], "test_accuracy": 1.5}}
    with pytest.raises(ExplorerError, match="test_accuracy"):
        validate(edited)
    moved = {**record, "config": {**record["config"], "seed": record["config"]["seed"] + 1}}
    with pytest.raises(ExplorerError, match="key"):
        validate(moved)
    private = next(json.loads(f.read_text()) for f in FILES if json.loads(f.read_text())["privacy"]["epsilon"])
    check(private)
    p = private["privacy"]
    doctored = {**private, "privacy": {**p, "epsilon": {k: v / 2 for k, v in p["epsilon"].items()},
                                       "epsilon_reported": p["epsilon_reported"] / 2}}
    with pytest.raises(AssertionError):  # a halved ε no longer recomputes from σ, q, steps, δ
        check(doctored)
    assert len(Store(ROOT).records()) == len(FILES)


STUDIES = ROOT / "reconstruction"


def test_shipped_reconstruction_studies_meet_their_targets_and_bounds():
    """issue 14: no privacy and ε 0.5, 1, 3, 8 with ≥ 20 targets each; success ≥ 0.9 without DP; every
    DP success within its ReRo bound up to sampling error (the interval's lower end)."""
    from explorer.attacks.reconstruction import load_studies
    from explorer.plots import reconstruction, series_names

    studies, problems = load_studies(STUDIES)
    assert not problems
    assert [s["epsilon"] for s in studies] == [None, 0.5, 1, 3, 8]
    assert all(s["targets"] >= 20 and s.get("reproducible") for s in studies)
    assert studies[0]["success_rate"] >= 0.9 and studies[0]["bound"] is None
    for s in studies[1:]:
        assert s["interval"][0] <= s["bound"] <= 1, s["statement"]
        assert s["privacy"]["epsilon"] <= s["epsilon"] + 1e-6
    assert series_names(reconstruction(studies)) == ["attack success (95 % interval)",
                                                    "DP bound on any such attack (ReRo)", "blind guess (κ = 0.1)"]


def test_an_edited_or_broken_study_is_skipped_with_its_reason(tmp_path):
    from explorer.attacks.reconstruction import load_studies

    block = json.loads((STUDIES / "epsilon-1.json").read_text())
    (tmp_path / "edited.json").write_text(json.dumps({**block, "success_rate": 0.0, "successes": 0}))
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"kind": "run"}))
    studies, problems = load_studies(tmp_path)
    assert studies == [] and len(problems) == 3
    assert any("edited.json: its per-target verdicts do not add up" in p for p in problems)
    assert any("broken.json: not a readable JSON file" in p for p in problems)
    assert any("other.json: not a reconstruction study (missing" in p for p in problems)
