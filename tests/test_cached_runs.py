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


def check(record: dict) -> None:
    """What every shipped record must satisfy beyond the schema."""
    validate(record)
    p = record["privacy"]
    if p["epsilon"] is None:
        return
    for name, stored in p["epsilon"].items():
        again = _library_epsilon(p["noise_multiplier"], p["sample_rate"], p["steps"], p["delta"], name)
        assert abs(again - stored) <= 0.01 * stored, (name, again, stored)
    followed = p["opacus_accountant"]  # the accountant Opacus kept while training
    assert followed["steps"] == p["steps"] and followed["epsilon"] == p["epsilon"][followed["name"]]
    assert followed["history"] == [[p["noise_multiplier"], p["sample_rate"], p["steps"]]]
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
