"""The sweep runner on both backends: a real tiny grid trained on a local process pool and as Ray
tasks on a local Ray runtime bound to 127.0.0.1 — same keys, same figures; resumable."""
import importlib.util
import json
import time

import pytest

from explorer.errors import ExplorerError
from explorer.records import Store
from explorer.sweep import _local, expand, summary_table, sweep

TINY = {"dataset": "breast-cancer", "epsilon": [1, None], "clip_norm": [0.5], "seeds": [0],
        "fixed": {"epochs": 2, "canaries": 10, "reference_models": 1}, "reproducible": True}


def _figures(record):
    a = record["attacks"]
    return (record["utility"]["test_accuracy"], record["privacy"]["epsilon_reported"],
            a["audit"]["auc"], a["audit"]["epsilon_lower_bound"], a["mia"]["auc"], a["loss_attack"]["auc"])


def test_local_and_ray_backends_give_the_same_records(tmp_path, capsys):
    if importlib.util.find_spec("ray") is None:
        pytest.fail("Ray is missing: pip install -r requirements-dev.txt (users need it only for --backend ray)")
    grid = tmp_path / "tiny.json"
    grid.write_text(json.dumps(TINY))
    keys = [c.key for c in expand(TINY)]
    assert len(keys) == 2

    t = time.perf_counter()
    local = sweep(grid, tmp_path / "local", workers=2)
    local_s = time.perf_counter() - t
    t = time.perf_counter()
    on_ray = sweep(grid, tmp_path / "ray", workers=2, backend="ray")
    ray_s = time.perf_counter() - t
    print(f"tiny grid, 2 workers: local {local_s:.1f} s, ray {ray_s:.1f} s (Ray start-up included)")
    assert sorted(local) == sorted(on_ray) == sorted(keys)
    a, b = Store(tmp_path / "local"), Store(tmp_path / "ray")
    for key in keys:
        assert _figures(a.get(key)) == _figures(b.get(key))
        assert a.get(key)["config"] == b.get(key)["config"]
    out = capsys.readouterr().out
    assert all(k in out for k in keys) and "test acc" in out  # the summary table


def test_sweep_resumes_and_reports(tmp_path, capsys):
    grid = tmp_path / "tiny.json"
    grid.write_text(json.dumps({**TINY, "epsilon": [2]}))
    first = sweep(grid, tmp_path / "s", workers=1)
    assert len(first) == 1
    again = sweep(grid, tmp_path / "s", workers=1)  # everything stored: nothing runs
    assert again == []
    err = capsys.readouterr().err
    assert "1 already stored, 0 to run" in err and "ETA" in err


def test_grid_fields_reach_the_configs():
    """`reproducible` seeds every run of a grid; `fixed` carries the engine fields (adaptive clipping)."""
    configs = expand(TINY)
    assert all(c.reproducible for c in configs)
    assert not any(c.reproducible for c in expand({**TINY, "reproducible": False}) if c.private)
    adaptive = expand({"dataset": "adult", "epsilon": [1, 3], "seeds": [0, 1], "reproducible": True,
                       "fixed": {"clipping": "adaptive", "target_quantile": 0.5}})
    assert len(adaptive) == 4 and {c.clipping for c in adaptive} == {"adaptive"}
    assert {c.grad_sample_mode for c in adaptive} == {"hooks"}
    sigma = expand({"dataset": "mnist-5k", "noise_multiplier": [0.8, 2], "clip_norm": [0.5], "seeds": [0]})
    assert [(c.mode, c.noise_multiplier, c.target_epsilon) for c in sigma] == [("noise", 0.8, None), ("noise", 2.0, None)]
    both = expand({"dataset": "adult", "epsilon": [1, None], "noise_multiplier": [3]})
    assert [c.mode for c in both] == ["epsilon", "non_private", "noise"]


def test_summary_table_and_bad_input(tmp_path):
    assert summary_table([]).splitlines()[0].startswith("key")
    with pytest.raises(ExplorerError, match="backend must be one of"):
        sweep(tmp_path / "none.json", tmp_path, backend="slurm")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"dataset": "adult", "epsilons": [1]}))
    with pytest.raises(ExplorerError, match="unknown field"):
        sweep(bad, tmp_path)
    with pytest.raises(ExplorerError, match="--address is for --backend ray"):
        list(_local(expand(TINY), 1, None, "x:1"))
