"""Grids → records. A grid is a small JSON file; every configuration in it is one `pipeline.run`.

    python -m explorer sweep cached_runs/grids/mnist-5k.json [--store cached_runs] [--workers 2]
    python -m explorer sweep GRID --backend ray [--address ray://head:10001]

Keys already in the store are skipped, and each record is written atomically (by this process) as soon
as it is done, so an interrupted sweep resumes where it stopped. The two backends run the same
function on the same configurations with one torch thread each, so they produce the same records.
"""
from __future__ import annotations

import itertools
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Iterator

from .config import RunConfig
from .errors import ExplorerError
from .records import Store

PACKAGE_DIR = Path(__file__).resolve().parent


def load_grid(path: str | os.PathLike) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            grid = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ExplorerError(f"cannot read grid {path}: {e}") from None
    if not isinstance(grid, dict) or "dataset" not in grid:
        raise ExplorerError(f"grid {path} must be a JSON object with at least 'dataset'")
    unknown = set(grid) - {"dataset", "epsilon", "noise_multiplier", "clip_norm", "seeds", "fixed",
                           "fixed_by_epsilon", "comment", "reproducible"}
    if unknown:
        raise ExplorerError(f"grid {path}: unknown field(s) {', '.join(sorted(unknown))}")
    return grid


def expand(grid: dict) -> list[RunConfig]:
    """Budgets × clip_norm × seed. Budgets: each `epsilon` (σ calibrated; null = no privacy) and each
    `noise_multiplier` (mode "noise", ε computed); a grid with neither is one non-private run. `fixed`
    fields go into every run, `fixed_by_epsilon` ({"1": {...}, "null": {...}}) into the runs at one ε.
    `"reproducible": true` seeds every run's noise and sampling from its seed (shipped demonstration
    grids)."""
    fixed = dict(grid.get("fixed", {}))
    if "reproducible" in grid:
        fixed["reproducible"] = grid["reproducible"]
    by_eps = grid.get("fixed_by_epsilon", {})
    budgets = [("epsilon", e) for e in grid.get("epsilon", [])]
    budgets += [("noise", s) for s in grid.get("noise_multiplier", [])]
    if "epsilon" not in grid and "noise_multiplier" not in grid:
        budgets = [("epsilon", None)]
    out, seen = [], set()
    for (kind, budget), clip, seed in itertools.product(budgets, grid.get("clip_norm", [None]),
                                                        grid.get("seeds", [0])):
        extra = {**fixed}
        if kind == "epsilon":
            extra.update(by_eps.get("null" if budget is None else _eps_key(budget), {}))
        if budget is None:
            extra.pop("clip_norm", None)
            cfg = RunConfig(dataset=grid["dataset"], mode="non_private", seed=seed, **extra)
        else:
            if clip is not None:  # the grid's clip axis wins over a fixed clip norm
                extra["clip_norm"] = clip
            budget_field = {"target_epsilon": budget} if kind == "epsilon" else {"noise_multiplier": budget}
            cfg = RunConfig(dataset=grid["dataset"], mode=kind, seed=seed, **budget_field, **extra)
        if cfg.key not in seen:  # non-private runs do not depend on the clip norm
            seen.add(cfg.key)
            out.append(cfg)
    return out


def _eps_key(eps) -> str:
    return f"{float(eps):g}"


def _run_one(config_dict: dict, data_dir, device: str = "auto") -> dict:
    import torch

    torch.set_num_threads(1)  # one core per worker: N workers share the machine without contention
    from . import pipeline

    return pipeline.run(RunConfig.from_dict(config_dict), data_dir=data_dir, device=device)


# -- backends: each takes (configs, workers, data_dir, address, device) and yields records as they finish --

def _local(configs: list[RunConfig], workers: int, data_dir, address, device: str = "auto") -> Iterator[dict]:
    if address:
        raise ExplorerError("--address is for --backend ray")
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_run_one, c.to_dict(), data_dir, device) for c in configs]
        for fut in as_completed(futures):
            yield fut.result()


def _ray(configs: list[RunConfig], workers: int, data_dir, address, device: str = "auto") -> Iterator[dict]:
    if address is None:
        # a local runtime: bind every Ray service to the loopback address. This is Ray's own switch for
        # machines that are not cluster nodes (read at import, so also set on the loaded module);
        # the check after ray.init refuses to run if it did not take.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
        from ray._private import ray_constants
    except ImportError:
        raise ExplorerError("--backend ray needs Ray: pip install ray==2.60.0") from None
    if address is None:
        ray_constants.ENABLE_RAY_CLUSTER = False
    started_here = not ray.is_initialized()
    if started_here:
        # the package travels to the workers, so cluster nodes need only the requirements
        runtime_env: dict = {"py_modules": [str(PACKAGE_DIR)]}
        if address is None:  # same machine: the workers see the same data and cache folders
            runtime_env["env_vars"] = {k: os.environ[k] for k in ("EXPLORER_DATA_DIR", "EXPLORER_CACHE_DIR")
                                       if k in os.environ}
        kwargs = dict(include_dashboard=False, log_to_driver=False, runtime_env=runtime_env)
        try:
            if address is None:
                ray.init(num_cpus=workers, **kwargs)
            else:
                ray.init(address=address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise ExplorerError(f"cannot reach the Ray cluster at {address}: {e}") from None
        gcs = ray.get_runtime_context().gcs_address
        if address is None and not gcs.startswith("127.0.0.1:"):
            ray.shutdown()
            raise ExplorerError(f"the local Ray runtime listens on {gcs}, not on 127.0.0.1; "
                                "set RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 before starting Python")
    task = ray.remote(num_cpus=1, max_retries=1)(_run_one)
    try:
        pending = [task.remote(c.to_dict(), data_dir, device) for c in configs]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        if started_here:
            ray.shutdown()


BACKENDS: dict[str, Callable[..., Iterator[dict]]] = {"local": _local, "ray": _ray}


def sweep(grid_path, store_dir="cached_runs", workers: int | None = None, data_dir=None, out=None,
          backend: str = "local", address: str | None = None, device: str = "auto") -> list[str]:
    """Run every configuration of the grid that the store lacks; returns the keys written, in order."""
    if backend not in BACKENDS:
        raise ExplorerError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    workers = max(1, workers or os.cpu_count() or 1)
    out = out or sys.stderr
    configs = expand(load_grid(grid_path))
    store = Store(store_dir)
    have = store.keys()
    todo = [c for c in configs if c.key not in have]
    print(f"{Path(grid_path).name}: {len(configs)} configurations, {len(configs) - len(todo)} already stored, "
          f"{len(todo)} to run on {backend} with {workers} worker(s)", file=out, flush=True)
    done, start = [], time.perf_counter()
    bar = Progress(len(todo), out)
    for record in (BACKENDS[backend](todo, workers, data_dir, address, device) if todo else []):
        store.put(record)
        done.append(record["key"])
        bar.update(record)
    bar.close()
    rows = [store.get(c.key) for c in configs]
    print(summary_table([r for r in rows if r is not None]), file=sys.stdout, flush=True)
    print(f"{len(done)} run(s) in {time.perf_counter() - start:.0f} s on {backend} ({workers} worker(s))",
          file=out, flush=True)
    return done


class Progress:
    """A text progress bar with an ETA: redrawn in place on a terminal, one line per record otherwise."""

    def __init__(self, total: int, out, width: int = 24):
        self.total, self.out, self.width = total, out, width
        self.done, self.start = 0, time.perf_counter()
        self.tty = hasattr(out, "isatty") and out.isatty()

    def update(self, record: dict):
        self.done += 1
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        filled = round(self.width * self.done / max(1, self.total))
        eps = record["privacy"]["epsilon_reported"]
        line = (f"[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} "
                f"{_clock(elapsed)} elapsed, ETA {_clock(eta)} · last: {record['key']} "
                f"ε={'∞' if eps is None else f'{eps:.2f}'} acc={record['utility']['test_accuracy']:.3f}")
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=self.out, flush=True)

    def close(self):
        if self.tty and self.done:
            print(file=self.out)


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


def summary_table(records: list[dict]) -> str:
    """One row per record: the figures a reader compares across a grid."""
    head = ["key", "target ε / σ", "C", "seed", "test acc", "ε (reported)", "ε_lb", "canary AUC", "RMIA AUC", "time s"]
    rows = []
    for r in sorted(records, key=lambda r: (r["config"]["mode"] == "non_private", r["config"]["mode"],
                                            r["config"]["target_epsilon"] or r["config"]["noise_multiplier"] or 0,
                                            r["config"]["clip_norm"] or 0, r["config"]["seed"])):
        c, a = r["config"], r.get("attacks", {})
        eps = r["privacy"]["epsilon_reported"]
        budget = ("none" if c["mode"] == "non_private" else f"σ {c['noise_multiplier']:g}" if c["mode"] == "noise"
                  else f"{c['target_epsilon']:g}")
        rows.append([r["key"], budget,
                     _clip(c, r), str(c["seed"]),
                     f"{r['utility']['test_accuracy']:.4f}", "∞" if eps is None else f"{eps:.3f}",
                     _fmt(a.get("audit", {}).get("epsilon_lower_bound")), _fmt(a.get("audit", {}).get("auc")),
                     _fmt(a.get("mia", {}).get("auc")), f"{r['timing']['total_s']:.0f}"])
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def _clip(config: dict, record: dict) -> str:
    """The clip norm; for adaptive clipping the target quantile and the last epoch's clip norm."""
    if config["clip_norm"] is None:
        return "-"
    if config.get("clipping") == "adaptive":
        last = record["utility"]["history"][-1].get("clip_norm")
        return f"q{config['target_quantile']:g}→{last:.3g}" if last is not None else f"q{config['target_quantile']:g}"
    return f"{config['clip_norm']:g}"


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}"
