"""RunRecord (plain JSON, schema 2) and the store: a folder of records, one file per key.

Schema 2 (issue 13) adds privacy.engine — how Opacus trained the model (grad_sample_mode, flat or
adaptive clipping, whether the noise was seeded) — privacy.opacus_accountant, the config's
reproducible / clipping / target_quantile / grad_sample_mode fields and environment.device. Records
of schema 1 came from the hand-written DP-SGD that Opacus replaced: the store skips them.

Knows the schema and the files, nothing about training. Writes are atomic (temp file + rename);
unreadable or unknown-schema files are skipped with a warning. Never pickle.
"""
from __future__ import annotations

import json
import math
import os
import platform
import warnings
from datetime import datetime, timezone
from pathlib import Path

from . import __version__
from .config import RunConfig
from .errors import ExplorerError
from .fileio import write_json_atomic

SCHEMA = 2
ACCOUNTANTS = ("rdp", "prv", "pld")
_REQUIRED = {
    "schema": int, "key": str, "created": str, "config": dict, "privacy": dict, "utility": dict,
    "attacks": dict, "timing": dict, "environment": dict,
}


ENGINE_FIELDS = ("library", "version", "grad_sample_mode", "clipping", "noise_rng", "secure_rng", "note")


def environment(device: str = "cpu") -> dict:
    import opacus
    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "opacus": opacus.__version__,
            "explorer": __version__, "device": device}


def new_record(config: RunConfig, privacy: dict, utility: dict, attacks: dict, timing: dict,
               dataset: dict, device: str = "cpu") -> dict:
    record = {"schema": SCHEMA, "key": config.key,
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "config": config.to_dict(), "dataset": dataset, "privacy": privacy, "utility": utility,
              "attacks": attacks, "timing": timing, "environment": environment(device)}
    validate(record)
    return record


def validate(record: dict) -> dict:
    """Check a record against schema 2; raise ExplorerError saying what is wrong."""
    if not isinstance(record, dict):
        raise ExplorerError("a record must be a JSON object")
    schema = record.get("schema")
    if isinstance(schema, int) and schema < SCHEMA:
        raise ExplorerError(f"record schema {schema} predates Opacus training (this version reads {SCHEMA}); "
                            "regenerate it with python -m explorer sweep")
    if schema != SCHEMA:
        raise ExplorerError(f"unknown record schema {schema!r} (this version reads {SCHEMA})")
    for name, kind in _REQUIRED.items():
        if not isinstance(record.get(name), kind):
            raise ExplorerError(f"record field {name!r} is missing or not a {kind.__name__}")
    config = RunConfig.from_dict(record["config"])
    if config.key != record["key"]:
        raise ExplorerError(f"record key {record['key']} does not match its config ({config.key})")
    p = record["privacy"]
    if config.pretrain:
        pre = p.get("pretrain")
        if not isinstance(pre, dict) or pre.get("source") != config.pretrain or not pre.get("note"):
            raise ExplorerError(f"a pre-trained record must say what it was pre-trained on (privacy.pretrain with "
                                f"source {config.pretrain!r} and its note)")
    if config.technique == "pate":
        _validate_pate(config, p)
    elif config.private:
        for f in ("noise_multiplier", "sample_rate", "steps", "delta", "epsilon", "epsilon_reported"):
            if p.get(f) is None:
                raise ExplorerError(f"private record lacks privacy.{f}")
        if p.get("poisson_sampling") is not True:
            raise ExplorerError("privacy accounting assumes Poisson sampling; record says otherwise")
        engine = p.get("engine")
        if not isinstance(engine, dict) or any(f not in engine for f in ENGINE_FIELDS):
            raise ExplorerError(f"private record lacks privacy.engine ({', '.join(ENGINE_FIELDS)})")
        expected = {"library": "opacus", "grad_sample_mode": config.grad_sample_mode,
                    "clipping": config.clipping, "noise_rng": "seeded" if config.reproducible else "os-entropy"}
        wrong = [f for f, v in expected.items() if engine[f] != v]
        if wrong:
            raise ExplorerError(f"privacy.engine disagrees with the config on {', '.join(wrong)}")
        _check_epsilons(p)
    elif p.get("epsilon") is not None:
        raise ExplorerError("a non-private record must carry epsilon: null")
    acc = record["utility"].get("test_accuracy")
    if not isinstance(acc, (int, float)) or not 0 <= acc <= 1:
        raise ExplorerError("utility.test_accuracy must be a number in [0, 1]")
    return record


def _check_epsilons(p: dict) -> None:
    if set(p["epsilon"]) != set(ACCOUNTANTS) or not all(
            isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in p["epsilon"].values()):
        raise ExplorerError("privacy.epsilon must give a finite ε for rdp, prv and pld")


PATE_FIELDS = ("teachers", "queries", "answered", "aggregator", "vote_sensitivity_l2", "analysis")


def _validate_pate(config: RunConfig, p: dict) -> None:
    """A PATE record (explorer/pate.py): ε of the answered GNMax queries, no sampling, no Opacus engine."""
    for f in ("noise_multiplier", "delta", "epsilon", "epsilon_reported", "pate", "engine"):
        if p.get(f) is None:
            raise ExplorerError(f"PATE record lacks privacy.{f}")
    if p.get("poisson_sampling") is not False or p.get("sample_rate") is not None or p.get("steps") is not None:
        raise ExplorerError("a PATE record answers queries and samples nothing: poisson_sampling must be false, "
                            "sample_rate and steps null")
    pate = p["pate"]
    if not isinstance(pate, dict) or any(f not in pate for f in PATE_FIELDS):
        raise ExplorerError(f"PATE record lacks privacy.pate ({', '.join(PATE_FIELDS)})")
    if (pate["teachers"], pate["queries"], pate["answered"]) != (config.teachers, config.queries, config.queries):
        raise ExplorerError("privacy.pate disagrees with the config on teachers or queries")
    if pate["aggregator"] != "GNMax" or not math.isclose(pate["vote_sensitivity_l2"], math.sqrt(2)):
        raise ExplorerError("privacy.pate must be GNMax with vote sensitivity √2")
    engine = p["engine"]
    if not isinstance(engine, dict) or engine.get("library") != "explorer.pate" or engine.get("noise_rng") != (
            "seeded" if config.reproducible else "os-entropy"):
        raise ExplorerError("privacy.engine of a PATE record must be explorer.pate with the config's noise source")
    _check_epsilons(p)


def read_record(path: str | os.PathLike) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ExplorerError(f"{path}: not a readable JSON record ({type(e).__name__})") from None
    return validate(record)


class Store:
    """A folder of `<key>.json` records. Bad files are skipped and listed in `self.problems`."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.problems: list[str] = []
        self._cache: dict[str, tuple[float, dict]] = {}

    def put(self, record: dict) -> Path:
        validate(record)
        return write_json_atomic(self.folder / f"{record['key']}.json", record)

    def get(self, key: str) -> dict | None:
        path = self.folder / f"{key}.json"
        if not path.exists():
            return None
        return self._load(path)

    def _load(self, path: Path) -> dict | None:
        try:
            mtime = path.stat().st_mtime
            hit = self._cache.get(path.name)
            if hit and hit[0] == mtime:
                return hit[1]
            record = read_record(path)
        except (ExplorerError, OSError) as e:
            msg = f"skipped {path.name}: {e}"
            if msg not in self.problems:
                self.problems.append(msg)
                warnings.warn(msg, stacklevel=3)
            return None
        self._cache[path.name] = (mtime, record)
        return record

    def records(self, dataset: str | None = None) -> list[dict]:
        if not self.folder.is_dir():
            return []
        out = [r for p in sorted(self.folder.glob("*.json")) if (r := self._load(p)) is not None]
        return [r for r in out if dataset is None or r["config"]["dataset"] == dataset]

    def keys(self) -> set[str]:
        return {r["key"] for r in self.records()}

    def nearest(self, config: RunConfig) -> dict | None:
        """The stored record closest to `config`: same dataset and privacy class, then the smallest
        log-distance in ε (or σ), clip norm and the other knobs. The record is not retrained."""
        best, best_d = None, math.inf
        for r in self.records(config.dataset):
            c = RunConfig.from_dict(r["config"])
            if c.private != config.private:
                continue
            d = _distance(config, c, r)
            if d < best_d:
                best, best_d = r, d
        return best


def _log_gap(a, b) -> float:
    if a is None or b is None:
        return 0.0 if a == b else 3.0
    return abs(math.log(a) - math.log(b))


def _distance(want: RunConfig, have: RunConfig, record: dict) -> float:
    d = 0.0
    if want.private:
        if want.mode == "epsilon":
            d += 4 * _log_gap(want.target_epsilon, record["privacy"]["epsilon_reported"])
        else:
            d += 4 * _log_gap(want.noise_multiplier, record["privacy"]["noise_multiplier"])
        d += 2 * _log_gap(want.clip_norm, have.clip_norm)
    for f in ("epochs", "batch_size", "learning_rate", "delta"):
        d += _log_gap(getattr(want, f), getattr(have, f))
    d += 0.5 * (want.model != have.model) + 0.01 * (want.seed != have.seed)
    # another technique answers only when none of the asked one is stored (and the banner names it)
    d += 10.0 * ((want.technique, want.pretrain, want.clipping) != (have.technique, have.pretrain, have.clipping))
    d += _log_gap(want.teachers, have.teachers) + _log_gap(want.queries, have.queries)
    d += 0.1 * ((want.canaries > 0) != (have.canaries > 0)) + 0.1 * (want.reference_models != have.reference_models)
    return d
