"""The one chain of stages: RunConfig → data → model → train → attacks → RunRecord.

The CLI, the sweep runner and the app all call `run`; nothing else strings the stages together.
"""
from __future__ import annotations

import contextlib
import hashlib
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor


from . import accounting, data, features, records
from .config import RunConfig
from .evidence import reference_models, run_attacks, training_set
from .errors import is_cancelled


def csv_fingerprint(raw: bytes) -> str:
    """Identifies an uploaded table in a config key without storing the table."""
    return hashlib.sha256(raw).hexdigest()[:16]


def privacy_block(config: RunConfig, sigma: float | None, sample_rate: float | None, steps: int,
                  steps_per_epoch: int, n_train: int, engine: dict | None = None,
                  opacus_accountant=None) -> dict:
    """The record's privacy block. `engine`: how Opacus trained the model (TrainResult.engine).
    `opacus_accountant`: the accountant Opacus kept during training; its ε is the record's ε for that
    accountant (the same library computation on the steps it recorded)."""
    warning = accounting.delta_warning(config.delta, n_train)
    if warning:
        warnings.warn(warning, stacklevel=2)
    block = {"noise_multiplier": sigma, "sample_rate": sample_rate, "steps": steps, "delta": config.delta,
             "poisson_sampling": config.private, "accountant": config.accountant,
             "unit": "one example, add/remove", "clip_norm": config.clip_norm,
             "delta_warning": warning, "engine": engine}
    if not config.private:
        return {**block, "epsilon": None, "epsilon_reported": None, "epsilon_by_epoch": [], "gdp_mu": None}
    followed = None
    if opacus_accountant is not None:
        name = opacus_accountant.mechanism()
        followed = {"name": name, "steps": int(sum(s for _, _, s in opacus_accountant.history)),
                    "history": [[float(s), float(q), int(t)] for s, q, t in opacus_accountant.history],
                    "epsilon": _accountant_epsilon(opacus_accountant, config.delta)}
        eps = {n: (followed["epsilon"] if n == name else accounting.epsilon(sigma, sample_rate, steps,
                                                                          config.delta, n))
               for n in accounting.ACCOUNTANTS}
    else:
        eps = accounting.epsilons(sigma, sample_rate, steps, config.delta)
    return {**block, "opacus_accountant": followed, "epsilon": eps, "epsilon_reported": eps[config.accountant],
            "epsilon_by_epoch": accounting.epsilon_by_epoch(sigma, sample_rate, steps_per_epoch,
                                                             config.epochs, config.delta),
            "epsilon_by_epoch_method": "rdp: Opacus; prv, pld: explorer.numeric (fast twins, ≤0.2 % apart)",
            "gdp_mu": accounting.gdp_mu(sigma, sample_rate, steps)}


def _accountant_epsilon(accountant, delta: float) -> float:
    with warnings.catch_warnings():  # as accounting.epsilon: RDP's "optimal order" note is no error
        warnings.simplefilter("ignore")
        return float(accountant.get_epsilon(delta))


def run(config: RunConfig, progress=None, cancel=None, data_dir=None,
        csv=None, target: str | None = None, device: str = "auto") -> dict:
    """Train and evaluate one configuration; returns its RunRecord (a dict, not yet stored).

    The RMIA reference models do not depend on the target model, so a second thread trains them while
    this one trains the target, and the accounting runs beside the attacks: on two cores this takes
    ~2 s off a live mnist-5k run. Every model is trained exactly as it would be alone (own seeds and
    generators), so a `reproducible` record does not depend on the overlap. `device`: auto (CUDA when
    available), cpu or cuda; a run option, not part of the config (it does not change the key)."""
    from .train import accuracy, resolve_device, train  # torch loads here, not when the UI only previews

    t0 = time.perf_counter()
    device = str(resolve_device(device))  # a missing CUDA fails here, before any data is loaded
    ds = data.load(config.dataset, data_dir=data_dir, csv=csv, target=target)
    if config.model in features.EXTRACTORS:  # fixed, per-example features: no privacy cost
        ds = features.apply(config.model, ds)
    if progress:
        progress({"stage": "data", "n_train": ds.n_train})
    canaries, x_train, y_train = training_set(config, ds)
    stop = threading.Event()  # set when this run ends early, so the helper thread stops too

    def stopped():
        return stop.is_set() or is_cancelled(cancel)

    with ThreadPoolExecutor(max_workers=1) as helper:
        refs = (helper.submit(_single_threaded, reference_models, config, ds, canaries, stopped, device)
                if config.attacks and config.reference_models else None)
        try:
            with _torch_threads(1 if refs is not None else None):
                result = train(config, x_train, y_train, ds.num_classes, ds.x_test, ds.y_test,
                               progress=progress, cancel=cancel, device=device)
            t1 = time.perf_counter()
            privacy = helper.submit(_timed, privacy_block, config, result.noise_multiplier, result.sample_rate,
                                    result.steps, result.steps // config.epochs, len(y_train), result.engine,
                                    result.accountant)
            attacks = (run_attacks(config, ds, result.model, canaries, progress, stopped, refs)
                       if config.attacks else {})
            privacy, accounting_s = privacy.result()
        finally:
            stop.set()
    # train accuracy on the real training records: planted canaries carry wrong labels on purpose
    utility = {"test_accuracy": result.test_accuracy,
               "train_accuracy": accuracy(result.model, ds.x_train, ds.y_train),
               "history": result.history, "canaries_in_training": int(canaries.included.sum()) if canaries else 0}
    # accounting_s overlaps attacks_s (wall time after training, reference models included)
    timing = {"train_s": round(result.seconds, 3), "accounting_s": round(accounting_s, 3),
              "attacks_s": round(time.perf_counter() - t1, 3), "total_s": round(time.perf_counter() - t0, 3)}
    return records.new_record(config, privacy, utility, attacks, timing, ds.summary(), device=result.device)


@contextlib.contextmanager
def _torch_threads(n: int | None):
    """torch's intra-op threads for the calling thread (OpenMP keeps the count per thread) while the
    target and the reference models train side by side: two trainings of two threads each fought over
    two cores (live mnist-5k run, training phase: 20.9–22.7 s against 18.1–19.2 s with one thread each,
    alternating runs on the shared machine)."""
    import torch

    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _single_threaded(fn, *args):
    with _torch_threads(1):
        return fn(*args)


def _timed(fn, *args):
    t = time.perf_counter()
    return fn(*args), time.perf_counter() - t


