"""Privacy evidence wired to a run: which records are canaries, members and non-members, the
reference models, and the attacks on one trained model. `pipeline.run` calls these; the attack
algorithms themselves live in explorer/attacks/."""
from __future__ import annotations

import numpy as np

from . import data
from .attacks import audit
from .config import RunConfig
from .errors import RunCancelled, is_cancelled


def training_set(config: RunConfig, ds):
    """(canaries or None, x, y): the real training records plus the planted canaries that were drawn in."""
    if not config.canaries:
        return None, ds.x_train, ds.y_train
    canaries = audit.plant(ds.x_pop, ds.y_pop, ds.num_classes, config.canaries, config.seed)
    return (canaries, *canaries.training_set(ds.x_train, ds.y_train))


def membership_split(config: RunConfig, ds, canaries):
    from .attacks import mia

    return mia.split(ds.n_train, len(ds.y_pop), canaries.source_index if canaries else np.array([], int),
                     config.seed)


def reference_models(config: RunConfig, ds, canaries, cancel=None) -> list:
    """RMIA's reference models: the target's recipe, each on a random half of the pool the membership
    split leaves out of the evaluation sets."""
    from .train import train

    sp = membership_split(config, ds, canaries)
    pool_x = np.concatenate([ds.x_train[sp.ref_train_index], ds.x_pop[sp.ref_pop_index]])
    pool_y = np.concatenate([ds.y_train[sp.ref_train_index], ds.y_pop[sp.ref_pop_index]])
    rng = np.random.default_rng([config.seed, 17])
    refs = []
    for k in range(config.reference_models):
        half = rng.permutation(len(pool_y))[: len(pool_y) // 2]
        ref_config = config.replace(seed=config.seed * 1000 + k + 1)
        refs.append(train(ref_config, pool_x[half], pool_y[half], ds.num_classes,
                          cancel=cancel, verify_sigma=False).model)
    return refs


def run_attacks(config: RunConfig, ds, model, canaries, progress=None, cancel=None, refs=None) -> dict:
    """Audit, LOSS, RMIA (reference models by the same recipe; `refs` a Future of them when they are
    already being trained) and inversion on one trained model."""
    from .attacks import inversion, mia

    def note(name):
        if is_cancelled(cancel):
            raise RunCancelled()
        if progress:
            progress({"stage": "attack", "name": name})

    out = {}
    if canaries is not None:
        note("canary audit")
        out["audit"] = audit.audit(model, canaries, config.delta)
    sp = membership_split(config, ds, canaries)
    x_mem, y_mem = ds.x_train[sp.member_index], ds.y_train[sp.member_index]
    x_non, y_non = ds.x_pop[sp.nonmember_index], ds.y_pop[sp.nonmember_index]
    note("LOSS attack")
    out["loss_attack"] = mia.loss_attack(model, x_mem, y_mem, x_non, y_non)
    if config.reference_models:
        note(f"{config.reference_models} reference model(s)")
        refs = refs.result() if refs is not None else reference_models(config, ds, canaries, cancel)
        note("RMIA")
        out["mia"] = mia.rmia(model, refs, x_mem, y_mem, x_non, y_non)
    note("model inversion")
    out["inversion"] = inversion.run(model, ds.num_classes, ds.kind, x_mem, y_mem, x_non, y_non, config.seed,
                                     data.MNIST_MEAN if ds.kind == "image" else 0.0,
                                     data.MNIST_STD if ds.kind == "image" else 1.0)
    return out
