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
    (dict(mode="noise"), "noise_multiplier"), (dict(clipping="quantile"), "clipping"),
    (dict(clipping="adaptive", target_quantile=0.0), "target_quantile"),
    (dict(grad_sample_mode="vmap"), "grad_sample_mode"), (dict(reproducible=1), "reproducible"),
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


def test_record_follows_schema_2(bc_records):
    dp, base = bc_records
    p = dp["privacy"]
    assert dp["schema"] == 2 and dp["key"] == RunConfig.from_dict(dp["config"]).key
    assert p["engine"]["library"] == "opacus" and p["engine"]["noise_rng"] == "os-entropy"
    assert dp["config"]["reproducible"] is False and dp["config"]["grad_sample_mode"] == "hooks"
    assert p["opacus_accountant"]["steps"] == p["steps"] and base["privacy"]["engine"] is None
    assert p["poisson_sampling"] is True and p["unit"] == "one example, add/remove"
    assert set(p["epsilon"]) == {"rdp", "prv", "pld"} and p["epsilon_reported"] == p["epsilon"]["prv"] <= 1.0
    assert len(p["epsilon_by_epoch"]) == 3 and p["gdp_mu"] > 0
    assert len(dp["utility"]["history"]) == 3 and 0.5 < dp["utility"]["test_accuracy"] <= 1
    assert set(dp["environment"]) == {"python", "torch", "opacus", "explorer", "device"}
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
    # a corrupted file, an older or unknown schema, a hand-edited key and a record whose engine block
    # contradicts its config are skipped with a one-line warning naming the file
    (tmp_path / "broken.json").write_text("{not json")
    write_json_atomic(tmp_path / "future.json", {**dp, "schema": 3})
    write_json_atomic(tmp_path / "old.json", {**dp, "schema": 1})
    write_json_atomic(tmp_path / "edited.json", {**dp, "config": {**dp["config"], "seed": 7}})
    seeded = {**dp["privacy"], "engine": {**dp["privacy"]["engine"], "noise_rng": "seeded"}}
    write_json_atomic(tmp_path / "claims.json", {**dp, "privacy": seeded})
    with pytest.warns(UserWarning, match="skipped") as caught:
        keys = [r["key"] for r in store.records()]
    assert sorted(keys) == sorted([dp["key"], base["key"]]) and len(store.problems) == 5
    old = [str(w.message) for w in caught if "old.json" in str(w.message)]
    assert len(old) == 1 and "schema 1" in old[0] and "\n" not in old[0]
    with pytest.raises(ExplorerError):
        read_record(tmp_path / "broken.json")


def test_non_private_record_must_not_claim_epsilon(bc_records):
    _, base = bc_records
    with pytest.raises(ExplorerError, match="epsilon: null"):
        validate({**base, "privacy": {**base["privacy"], "epsilon": {"rdp": 1, "prv": 1, "pld": 1}}})


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "explorer", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("args", [
    ["run", "--epsilon", "0"], ["run", "--epsilon", "-1"], ["run", "--clip-norm", "0"],
    ["run", "--delta", "1"], ["run", "--dataset", "cifar"], ["run", "--epochs", "two"],
    ["run", "--epsilon", "0.0001", "--epochs", "50"], ["run", "--batch-size", "100000"],
    ["run", "--dataset", "csv"], ["epsilon", "--noise-multiplier", "1", "--sample-rate", "2", "--steps", "10"],
    ["epsilon", "--sample-rate", "0.1", "--steps", "10"], ["bogus"],
    ["run", "--grad-sample-mode", "vmap"], ["run", "--clipping", "adaptive", "--grad-sample-mode", "ghost"],
    ["run", "--dataset", "breast-cancer", "--clipping", "adaptive", "--noise-multiplier", "5", "--no-attacks"],
] + ([["run", "--device", "cuda"]] if not _cuda() else []))
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
    assert "trained by Opacus" in out.stdout and "OS entropy" in out.stdout and not out.stderr, out.stderr
    out = _cli("run", "--dataset", "breast-cancer", "--epsilon", "1", "--epochs", "2", "--no-attacks", "--quiet",
               "--reproducible", "--clipping", "adaptive", "--target-quantile", "0.6", "--device", "cpu",
               "--output", str(tmp_path / "a.json"))
    assert out.returncode == 0, out.stderr
    adaptive = read_record(tmp_path / "a.json")
    c = adaptive["config"]
    assert c["reproducible"] and c["clipping"] == "adaptive" and c["target_quantile"] == 0.6
    assert adaptive["privacy"]["engine"]["noise_rng"] == "seeded" and "not private" in out.stdout
    assert "clip_norm" in adaptive["utility"]["history"][-1] and not out.stderr
    assert Store(tmp_path / "store").get(record["key"]) == record
    out = _cli("epsilon", "--noise-multiplier", "1.1", "--sample-rate", "0.004267", "--steps", "14062",
               "--delta", "1e-5", "--json")
    eps = json.loads(out.stdout)
    assert set(eps) == {"rdp", "prv", "pld"} and abs(eps["pld"] - 2.38) < 0.02
    out = _cli("epsilon", "--target-epsilon", "2", "--sample-rate", "0.01", "--steps", "500", "--json")
    sigmas = json.loads(out.stdout)
    assert all(s > 0 for s in sigmas.values()) and sigmas["rdp"] > sigmas["prv"]
