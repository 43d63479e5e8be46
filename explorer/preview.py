"""What a configuration would spend, without training: for the sidebar's live σ / ε."""
from __future__ import annotations

from . import accounting, data
from .config import RunConfig, plan
from .evidence import training_set


def preview(config: RunConfig, data_dir=None, csv=None, target=None) -> dict:
    """What a run of `config` would spend, without training: the derived σ (driving by ε) or ε
    (driving by σ), from the fast calibration (tens of ms). For sliders."""
    _, _, y_train = training_set(config, data.load(config.dataset, data_dir=data_dir, csv=csv, target=target))
    n_total = len(y_train)  # exactly the set training will use, canaries included
    q, steps = plan(config, n_total)
    out = {"n_train": n_total, "sample_rate": q, "steps": steps, "delta_warning": accounting.delta_warning(config.delta, n_total)}
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
