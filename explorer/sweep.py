"""Grids → records. A grid is a small JSON file; every configuration in it is one `pipeline.run`.

    python -m explorer sweep cached_runs/grids/mnist-5k.json [--store cached_runs] [--workers 2]

Keys already in the store are skipped, and each record is written atomically as soon as it is done,
so an interrupted sweep resumes where it stopped.
"""
from __future__ import annotations

import itertools
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from .config import RunConfig
from .errors import ExplorerError
from .records import Store


def load_grid(path: str | os.PathLike) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            grid = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ExplorerError(f"cannot read grid {path}: {e}") from None
    if not isinstance(grid, dict) or "dataset" not in grid:
        raise ExplorerError(f"grid {path} must be a JSON object with at least 'dataset'")
    return grid


def expand(grid: dict) -> list[RunConfig]:
    """epsilon (null = no privacy) × clip_norm × seed, with `fixed` fields for every run."""
    fixed = dict(grid.get("fixed", {}))
    out, seen = [], set()
    for eps, clip, seed in itertools.product(grid.get("epsilon", [None]), grid.get("clip_norm", [None]),
                                             grid.get("seeds", [0])):
        if eps is None:
            cfg = RunConfig(dataset=grid["dataset"], mode="non_private", seed=seed, **fixed)
        else:
            cfg = RunConfig(dataset=grid["dataset"], mode="epsilon", target_epsilon=eps, clip_norm=clip,
                            seed=seed, **fixed)
        if cfg.key not in seen:  # non-private runs do not depend on the clip norm
            seen.add(cfg.key)
            out.append(cfg)
    return out


def _run_one(config_dict: dict, data_dir) -> dict:
    import torch

    torch.set_num_threads(1)  # one core per worker: N workers share the machine without contention
    from . import pipeline

    return pipeline.run(RunConfig.from_dict(config_dict), data_dir=data_dir)


def sweep(grid_path, store_dir="cached_runs", workers: int = 1, data_dir=None, out=sys.stderr) -> list[str]:
    configs = expand(load_grid(grid_path))
    store = Store(store_dir)
    have = store.keys()
    todo = [c for c in configs if c.key not in have]
    print(f"{Path(grid_path).name}: {len(configs)} configurations, {len(configs) - len(todo)} already stored, "
          f"{len(todo)} to run with {workers} worker(s)", file=out, flush=True)
    done, start = [], time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(_run_one, c.to_dict(), data_dir): c for c in todo}
        for fut in as_completed(futures):
            record = fut.result()
            store.put(record)
            done.append(record["key"])
            elapsed = time.perf_counter() - start
            eta = elapsed / len(done) * (len(todo) - len(done))
            eps = record["privacy"]["epsilon_reported"]
            print(f"  [{len(done)}/{len(todo)}] {record['key']} ε={'∞' if eps is None else f'{eps:.2f}'} "
                  f"acc={record['utility']['test_accuracy']:.3f} ({elapsed:.0f} s, ETA {eta:.0f} s)",
                  file=out, flush=True)
    return done
