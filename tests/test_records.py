"""RunConfig, RunRecord, the store, the pipeline and the CLI — on real tiny runs."""
import json
import subprocess
import sys

import pytest

from explorer import pipeline
from explorer.config import RunConfig
from explorer.errors import ExplorerError
from explorer.records import Store, read_record, validate, write_json_atomic


@pytest.mark.parametrize("kwargs,field", [
    (dict(target_epsilon=0.0), "target_epsilon"), (dict(target_epsilon=-1.0), "target_epsilon"),
    (dict(clip_norm=0.0), "clip_norm"), (dict(delta=1.0), "delta"), (dict(epochs=0), "epochs"),
    (dict(epochs=2.5), "epochs"), (dict(learning_rate=float("nan")), "learning_rate"),
    (dict(dataset="cifar"), "dataset"), (dict(accountant="moments"), "accountant"),
    (dict(model="resnet"), "model"), (dict(dataset="adult", model="cnn"), "cnn"),
    (dict(mode="noise"), "noise_multiplier"),
])
def test_config_validation_names_the_field(kwargs, field):
    with pytest.raises(ExplorerError, match=field):
        RunConfig(**kwargs)


def test_config_defaults_and_stable_key():
    a = RunConfig(dataset="adult", target_epsilon=1.0)
    assert a.model == "logreg" and a.batch_size == 512
    assert a.key == RunConfig(dataset="adult", target_epsilon=1).key  # 1 and 1.0 are the same run
    assert a.key != a.replace(seed=1).key
    # fields the mode does not use do not change the key
    base = RunConfig(dataset="adult", mode="non_private", target_epsilon=5.0)
    assert base.key == RunConfig(dataset="adult", mode="non_private").key
    assert RunConfig.from_dict(a.to_dict()) == a
    with pytest.raises(ExplorerError, match="unknown config field"):
        RunConfig.from_dict({**a.to_dict(), "colour": "red"})


@pytest.fixture(scope="module")
def bc_records():
    dp = pipeline.run(RunConfig(dataset="breast-cancer", target_epsilon=1.0, epochs=3))
    base = pipeline.run(RunConfig(dataset="breast-cancer", mode="non_private", epochs=3))
    return dp, base


def test_record_follows_schema_1(bc_records):
    dp, base = bc_records
    p = dp["privacy"]
    assert dp["schema"] == 1 and dp["key"] == RunConfig.from_dict(dp["config"]).key
    assert p["poisson_sampling"] is True and p["unit"] == "one example, add/remove"
    assert set(p["epsilon"]) == {"rdp", "prv", "pld"} and p["epsilon_reported"] == p["epsilon"]["prv"] <= 1.0
    assert len(p["epsilon_by_epoch"]) == 3 and p["gdp_mu"] > 0
    assert len(dp["utility"]["history"]) == 3 and 0.5 < dp["utility"]["test_accuracy"] <= 1
    assert set(dp["environment"]) == {"python", "torch", "opacus", "explorer"}
    assert base["privacy"]["epsilon"] is None and base["privacy"]["poisson_sampling"] is False
    json.dumps(dp, allow_nan=False)  # plain JSON, no NaN/Infinity


def test_store_round_trip_nearest_and_bad_files(bc_records, tmp_path):
    dp, base = bc_records
    store = Store(tmp_path)
    store.put(dp)
    store.put(base)
    assert store.get(dp["key"]) == dp and store.get("0" * 16) is None
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))
    near = store.nearest(RunConfig(dataset="breast-cancer", target_epsilon=1.2, epochs=3))
    assert near["key"] == dp["key"]
    assert store.nearest(RunConfig(dataset="breast-cancer", mode="non_private"))["key"] == base["key"]
    assert store.nearest(RunConfig(dataset="adult", target_epsilon=1.0)) is None
    # a corrupted file, an unknown schema and a hand-edited key are skipped with a warning
    (tmp_path / "broken.json").write_text("{not json")
    write_json_atomic(tmp_path / "future.json", {**dp, "schema": 2})
    write_json_atomic(tmp_path / "edited.json", {**dp, "config": {**dp["config"], "seed": 7}})
    with pytest.warns(UserWarning, match="skipped"):
        keys = [r["key"] for r in store.records()]
    assert sorted(keys) == sorted([dp["key"], base["key"]]) and len(store.problems) == 3
    with pytest.raises(ExplorerError):
        read_record(tmp_path / "broken.json")


def test_non_private_record_must_not_claim_epsilon(bc_records):
    _, base = bc_records
    with pytest.raises(ExplorerError, match="epsilon: null"):
        validate({**base, "privacy": {**base["privacy"], "epsilon": {"rdp": 1, "prv": 1, "pld": 1}}})


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "explorer", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("args", [
    ["run", "--epsilon", "0"], ["run", "--epsilon", "-1"], ["run", "--clip-norm", "0"],
    ["run", "--delta", "1"], ["run", "--dataset", "cifar"], ["run", "--epochs", "two"],
    ["run", "--epsilon", "0.0001", "--epochs", "50"], ["run", "--batch-size", "100000"],
    ["run", "--dataset", "csv"], ["epsilon", "--noise-multiplier", "1", "--sample-rate", "2", "--steps", "10"],
    ["epsilon", "--sample-rate", "0.1", "--steps", "10"], ["bogus"],
])
def test_cli_bad_input_exits_2_with_one_line(args):
    out = _cli(*args)
    assert out.returncode == 2, out
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_cli_run_and_epsilon(tmp_path):
    out = _cli("run", "--dataset", "breast-cancer", "--epsilon", "1", "--epochs", "2",
               "--output", str(tmp_path / "r.json"), "--store", str(tmp_path / "store"), "--quiet")
    assert out.returncode == 0, out.stderr
    record = read_record(tmp_path / "r.json")
    assert record["privacy"]["epsilon"]["prv"] <= 1.0 and "PRV" in out.stdout
    assert Store(tmp_path / "store").get(record["key"]) == record
    out = _cli("epsilon", "--noise-multiplier", "1.1", "--sample-rate", "0.004267", "--steps", "14062",
               "--delta", "1e-5", "--json")
    eps = json.loads(out.stdout)
    assert set(eps) == {"rdp", "prv", "pld"} and abs(eps["pld"] - 2.38) < 0.02
    out = _cli("epsilon", "--target-epsilon", "2", "--sample-rate", "0.01", "--steps", "500", "--json")
    sigmas = json.loads(out.stdout)
    assert all(s > 0 for s in sigmas.values()) and sigmas["rdp"] > sigmas["prv"]
