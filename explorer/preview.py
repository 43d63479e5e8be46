"""What a configuration would spend, without training: for the sidebar's live σ / ε.

The training-set size n (real records plus the canaries drawn in) fixes the sampling plan. It comes
from a stored record of the same dataset, seed and canary count when there is one (exact, and no data
needs loading), else from the data when its files are on this machine, else from any record of the
dataset with the expected canary count (marked approximate). So datasets whose files are absent still
preview, and nothing here downloads.
"""
from __future__ import annotations

from . import accounting, data
from .config import RunConfig, plan
from .errors import ExplorerError


def training_size(config: RunConfig, records=(), data_dir=None, csv=None, target=None) -> tuple[int, str]:
    """(n, source): source is "record" (exact, from a stored run), "data" (exact, loaded) or
    "estimate" (a stored run's real records plus half the canaries, each drawn in w.p. ½)."""
    same = [r for r in records if r["config"]["dataset"] == config.dataset and r.get("dataset", {}).get("n_train")]
    for r in same:
        c = r["config"]
        if c["canaries"] == config.canaries and (not config.canaries or c["seed"] == config.seed):
            return r["dataset"]["n_train"] + (r["utility"].get("canaries_in_training", 0) if config.canaries else 0), "record"
    if config.dataset == "csv" or data.availability(config.dataset, data_dir) is None:
        from .evidence import training_set

        _, _, y_train = training_set(config, data.load(config.dataset, data_dir=data_dir, csv=csv, target=target))
        return len(y_train), "data"
    if same:
        return same[0]["dataset"]["n_train"] + round(config.canaries / 2), "estimate"
    raise ExplorerError(f"No stored run of {config.dataset} gives its size and its files are not here. "
                        + data.availability(config.dataset, data_dir))


def preview(config: RunConfig, data_dir=None, csv=None, target=None, records=()) -> dict:
    """What a run of `config` would spend, without training: the derived σ (driving by ε) or ε
    (driving by σ), from the fast calibration (tens of ms). For sliders. `records`: stored runs that
    may give the training-set size without loading the data."""
    n_total, source = training_size(config, records, data_dir, csv, target)
    q, steps = plan(config, n_total)
    out = {"n_train": n_total, "n_source": source, "sample_rate": q, "steps": steps,
           "delta_warning": accounting.delta_warning(config.delta, n_total)}
    if config.mode == "epsilon":
        out.update(noise_multiplier=accounting.noise_for_epsilon(config.target_epsilon, config.delta, q, steps,
                                                                 config.accountant), epsilon=config.target_epsilon)
    elif config.mode == "noise":
        out.update(noise_multiplier=config.noise_multiplier,
                   epsilon=accounting.FAST_ACCOUNTANTS[config.accountant](config.noise_multiplier, q, steps,
                                                                          config.delta))
    else:
        out.update(noise_multiplier=None, epsilon=None)
    return out
