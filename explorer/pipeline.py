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
from .evidence import membership_split, reference_models, run_attacks, training_set, warm_up
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
        csv=None, target: str | None = None, device: str = "auto", public_csv=None) -> dict:
    """Train and evaluate one configuration; returns its RunRecord (a dict, not yet stored).

    The RMIA reference models do not depend on the target model, so a second thread trains them while
    this one trains the target, then loads the attack libraries and computes the record's accounting
    (evidence.warm_up), after which the target may use every thread (not in a reproducible run); the
    accountant Opacus kept is read beside the attacks (docs/performance.md). Every model is trained
    exactly as it would be alone (own seeds and generators), so a `reproducible` record does not depend
    on the overlap. `device`: auto (CUDA when
    available), cpu or cuda; a run option, not part of the config (it does not change the key).
    `public_csv`: the public table (path, bytes or file) of a run pre-trained on "public-csv:…".

    Techniques (docs/techniques.md): a pre-trained run starts DP-SGD from weights trained on public data
    (explorer/pretrain.py; no ε spent); a PATE run (explorer/pate.py) releases a student labelled by the
    teachers' noisy votes, and its attacks see the population without the student's public records.
    RMIA's reference models follow the same recipe: the same public starting weights, or PATE itself."""
    from .train import accuracy, resolve_device, train  # torch loads here, not when the UI only previews

    t0 = time.perf_counter()
    device = str(resolve_device(device))  # a missing CUDA fails here, before any data is loaded
    ds = data.load(config.dataset, data_dir=data_dir, csv=csv, target=target)
    if config.model in features.EXTRACTORS:  # fixed, per-example features: no privacy cost
        ds = features.apply(config.model, ds)
    summary = ds.summary()
    public, init_state, pretrained = None, None, None
    if config.technique == "pate":
        from . import pate

        public = pate.public_split(config, ds)
        ds = public[2]  # the attacks' view: the population without the student's public records
        summary = {**ds.summary(), "n_public_unlabeled": config.queries, "public_note": pate.PUBLIC_NOTE}
    if config.pretrain:
        from . import pretrain

        table = None
        if public_csv is not None:
            table = pretrain.public_table(public_csv, ds, _table_target(config, csv, target))
        init_state, pretrained = pretrain.initial_state(config, ds, table)
    if progress:
        progress({"stage": "data", "n_train": ds.n_train})
    canaries, x_train, y_train = training_set(config, ds)
    stop = threading.Event()  # set when this run ends early, so the helper thread stops too

    def stopped():
        return stop.is_set() or is_cancelled(cancel)

    sigma = None
    if config.technique == "pate":  # the target and its reference models answer with the same σ
        pate.check_teachers(len(y_train), config.teachers)
        if config.attacks and config.reference_models:
            sp = membership_split(config, ds, canaries)
            pate.check_teachers((len(sp.ref_train_index) + len(sp.ref_pop_index)) // 2, config.teachers,
                                "rows in each RMIA reference model's half of the reference pool")
        sigma = pate.noise_for_epsilon(config.target_epsilon, config.queries, config.delta, config.accountant)
    with ThreadPoolExecutor(max_workers=1) as helper:
        refs = None
        if config.attacks and config.reference_models:
            if config.technique == "dp-sgd" and not config.pretrain:
                refs = helper.submit(_single_threaded, reference_models, config, ds, canaries, stopped, device)
            else:
                fit = _recipe_fit(config, ds, stopped, device, init_state, public and public[0], sigma)
                refs = helper.submit(_single_threaded, reference_models, config, ds, canaries, None, device, fit)
        # next on the helper, while the target trains on: the attack libraries' imports and the record's
        # accounting, which the stage after training would otherwise start with (evidence.warm_up)
        warm = helper.submit(_unless, stopped, warm_up, config, len(y_train))
        # a reproducible run keeps one thread throughout: a count that changed with the helper's timing
        # would change its rounding (1 and 2 threads differ by ~3e-8 after an epoch), so its record
        threads = (_threads_until(helper.submit(lambda: None)) if refs is not None and not config.reproducible
                   else None)
        try:
            with _torch_threads(1 if refs is not None else None):
                if config.technique == "pate":
                    result = pate.fit(config, x_train, y_train, public[0], ds.num_classes, ds.x_test, ds.y_test,
                                      progress=progress, cancel=cancel, device=device, sigma=sigma)
                else:
                    result = train(config, x_train, y_train, ds.num_classes, ds.x_test, ds.y_test,
                                   progress=progress, cancel=cancel, device=device, init_state=init_state,
                                   threads=threads)
            t1 = time.perf_counter()
            if config.technique == "pate":
                privacy = helper.submit(_timed, pate.privacy_block, config, result, len(y_train), public[1])
            else:
                privacy = helper.submit(_timed, privacy_block, config, result.noise_multiplier, result.sample_rate,
                                        result.steps, result.steps // config.epochs, len(y_train), result.engine,
                                        result.accountant)
            # jax must be imported whole before this thread touches scipy again: scipy's array-API checks
            # read sys.modules["jax"], and a half-imported jax there raises (seen in a Ray worker)
            warm.result()
            attacks = (run_attacks(config, ds, result.model, canaries, progress, stopped, refs)
                       if config.attacks else {})
            privacy, accounting_s = privacy.result()
        finally:
            stop.set()
    if pretrained is not None:
        privacy["pretrain"] = pretrained
    # train accuracy on the real training records: planted canaries carry wrong labels on purpose
    utility = {"test_accuracy": result.test_accuracy,
               "train_accuracy": accuracy(result.model, ds.x_train, ds.y_train),
               "history": result.history, "canaries_in_training": int(canaries.included.sum()) if canaries else 0}
    # accounting_s overlaps attacks_s (wall time after training, reference models included)
    timing = {"train_s": round(result.seconds, 3), "accounting_s": round(accounting_s, 3),
              "attacks_s": round(time.perf_counter() - t1, 3), "total_s": round(time.perf_counter() - t0, 3)}
    return records.new_record(config, privacy, utility, attacks, timing, summary, device=result.device)


def _table_target(config: RunConfig, csv, target):
    """The target column a public table must share with the private one."""
    from .pretrain import TABLE_TARGETS

    spec = getattr(csv, "spec", None)
    return target or (spec.target if spec is not None else None) or TABLE_TARGETS.get(config.dataset)


def _recipe_fit(config: RunConfig, ds, cancel, device: str, init_state, x_public, sigma):
    """How a reference model of this run's recipe is trained on (config, x, y): DP-SGD from the same
    public pre-trained weights (public, so the attacker has them too), or PATE with the same public
    queries and σ (its GNMax noise seeded from the reference model's seed: an attacker's simulation)."""
    from .train import train

    if config.technique == "pate":
        import numpy as np

        from . import pate

        return lambda c, x, y: pate.fit(c, x, y, x_public, ds.num_classes, cancel=cancel, device=device, sigma=sigma,
                                        noise=np.random.default_rng([c.seed, 29])).model
    return lambda c, x, y: train(c, x, y, ds.num_classes, cancel=cancel, verify_sigma=False, device=device,
                                 init_state=init_state).model


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


def _threads_until(idle):
    """torch threads for the target's training: one while the helper works beside it (reference models,
    then evidence.warm_up), then as many as the process had, for what is left of it, once `idle` (a
    future queued behind that work) is done."""
    import torch

    every = torch.get_num_threads()
    return lambda: every if idle.done() else 1


def _single_threaded(fn, *args):
    with _torch_threads(1):
        return fn(*args)


def _unless(stopped, fn, *args):
    if not stopped():
        fn(*args)


def _timed(fn, *args):
    t = time.perf_counter()
    return fn(*args), time.perf_counter() - t


