"""The one chain of stages: RunConfig → data → model → train → attacks → RunRecord.

The CLI, the sweep runner and the app all call `run`; nothing else strings the stages together.
"""
from __future__ import annotations

import hashlib
import time
import warnings

from . import accounting, data, records
from .config import RunConfig
from .train import Progress, train


def csv_fingerprint(raw: bytes) -> str:
    """Identifies an uploaded table in a config key without storing the table."""
    return hashlib.sha256(raw).hexdigest()[:16]


def privacy_block(config: RunConfig, sigma: float | None, sample_rate: float | None, steps: int,
                  steps_per_epoch: int, n_train: int) -> dict:
    warning = accounting.delta_warning(config.delta, n_train)
    if warning:
        warnings.warn(warning, stacklevel=2)
    block = {"noise_multiplier": sigma, "sample_rate": sample_rate, "steps": steps, "delta": config.delta,
             "poisson_sampling": config.private, "accountant": config.accountant,
             "unit": "one example, add/remove", "clip_norm": config.clip_norm,
             "delta_warning": warning}
    if not config.private:
        return {**block, "epsilon": None, "epsilon_reported": None, "epsilon_by_epoch": [], "gdp_mu": None}
    eps = accounting.epsilons(sigma, sample_rate, steps, config.delta)
    return {**block, "epsilon": eps, "epsilon_reported": eps[config.accountant],
            "epsilon_by_epoch": accounting.epsilon_by_epoch(sigma, sample_rate, steps_per_epoch,
                                                             config.epochs, config.delta),
            "epsilon_by_epoch_method": "rdp: Opacus; prv, pld: explorer.numeric (fast twins, ≤0.2 % apart)",
            "gdp_mu": accounting.gdp_mu(sigma, sample_rate, steps)}


def run(config: RunConfig, progress: Progress | None = None, cancel=None, data_dir=None,
        csv=None, target: str | None = None) -> dict:
    """Train and evaluate one configuration; returns its RunRecord (a dict, not yet stored)."""
    t0 = time.perf_counter()
    ds = data.load(config.dataset, data_dir=data_dir, csv=csv, target=target)
    if progress:
        progress({"stage": "data", "n_train": ds.n_train})
    result = train(config, ds.x_train, ds.y_train, ds.num_classes, ds.x_test, ds.y_test,
                   progress=progress, cancel=cancel)
    t1 = time.perf_counter()
    privacy = privacy_block(config, result.noise_multiplier, result.sample_rate, result.steps,
                            result.steps // config.epochs, ds.n_train)
    t2 = time.perf_counter()
    attacks: dict = {}
    utility = {"test_accuracy": result.test_accuracy, "train_accuracy": result.train_accuracy,
               "history": result.history}
    timing = {"train_s": round(result.seconds, 3), "accounting_s": round(t2 - t1, 3),
              "attacks_s": 0.0, "total_s": round(time.perf_counter() - t0, 3)}
    return records.new_record(config, privacy, utility, attacks, timing, ds.summary())
