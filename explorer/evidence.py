"""Privacy evidence wired to a run: which records are canaries, members, non-members, the z population
and the reference pool; the reference models; and the attacks on one trained model. `pipeline.run`
calls these; the attack algorithms themselves live in explorer/attacks/.

Importing this module loads neither torch nor jax: the app imports it on its first render."""
from __future__ import annotations

import numpy as np

from . import data
from .config import RunConfig, plan
from .errors import RunCancelled, is_cancelled


def training_set(config: RunConfig, ds):
    """(canaries or None, x, y): the real training records plus the planted canaries that were drawn in."""
    if not config.canaries:
        return None, ds.x_train, ds.y_train
    from .attacks import canaries as canary_kinds

    planted = canary_kinds.plant(config, ds)
    return (planted, *planted.training_set(ds.x_train, ds.y_train))


def _reserved(canaries) -> np.ndarray:
    return canaries.source_index if canaries is not None else np.zeros(0, np.int64)


def membership_split(config: RunConfig, ds, canaries):
    """Disjoint index sets: evaluated members, evaluated non-members, RMIA's z population, reference pool."""
    from .attacks import mia

    return mia.split(ds.n_train, len(ds.y_pop), _reserved(canaries), config.seed)


def reference_models(config: RunConfig, ds, canaries, cancel=None, device: str = "cpu", fit=None):
    """RMIA's reference models (`attacks.mia.References`): the target's recipe, each on a random half of
    the reference pool, which holds no evaluated record and no z record. `fit(config, x, y) -> model`
    trains one by a technique's own recipe (pipeline: public pre-training, PATE); plain DP-SGD when None."""
    from .attacks.mia import References

    if fit is None:
        from .train import train

        def fit(c, x, y):
            return train(c, x, y, ds.num_classes, cancel=cancel, verify_sigma=False, device=device).model

    sp = membership_split(config, ds, canaries)
    pool_x = np.concatenate([ds.x_train[sp.ref_train_index], ds.x_pop[sp.ref_pop_index]])
    pool_y = np.concatenate([ds.y_train[sp.ref_train_index], ds.y_pop[sp.ref_pop_index]])
    rng = np.random.default_rng([config.seed, 17])
    models, trained_on = [], np.zeros((config.reference_models, len(pool_y)), bool)
    for k in range(config.reference_models):
        half = rng.permutation(len(pool_y))[: len(pool_y) // 2]
        trained_on[k, half] = True
        models.append(fit(config.replace(seed=config.seed * 1000 + k + 1), pool_x[half], pool_y[half]))
    return References(models, pool_x, pool_y, sp.ref_train_index, sp.ref_pop_index, trained_on)


def warm_up(config: RunConfig, n_train: int) -> None:
    """What the stage after training would otherwise begin with, done ahead where a core is idle
    (pipeline.run queues it behind the reference models, while the target still trains): load the
    attack libraries — jax-privacy for the audit bounds, scikit-learn for the ROC curves, 1.5–2.5 s of
    imports on the 2-core machine — and compute the accounting of the record's privacy block (σ as
    train() calibrates it; ε by the accountants Opacus does not follow; ε per epoch). accounting
    memoises those calls, so the privacy block gets the very same values back. Changes no result."""
    if config.attacks:
        import sklearn.metrics  # noqa: F401  (attacks.metrics' ROC)
        if config.canaries:
            from jax_privacy import auditing  # noqa: F401  (attacks.audit's bounds)
    if not config.private or config.technique != "dp-sgd":
        return
    from . import accounting
    from .train import accountant_name

    q, steps = plan(config, n_train)
    sigma = (config.noise_multiplier if config.mode == "noise" else
             accounting.noise_for_epsilon(config.target_epsilon, config.delta, q, steps, config.accountant,
                                          verify=True))
    for name in accounting.ACCOUNTANTS:
        if name != accountant_name(config):  # that one's ε comes from the accountant Opacus kept
            accounting.epsilon(sigma, q, steps, config.delta, name)
    accounting.epsilon_by_epoch(sigma, q, steps // config.epochs, config.epochs, config.delta)


def guarantee(config: RunConfig, ds, canaries) -> float | None:
    """The run's ε, for the statements: the target for mode "epsilon", the accountant's for mode "noise"."""
    if not config.private:
        return None
    if config.mode == "epsilon":
        return config.target_epsilon
    from .accounting import epsilon

    n = ds.n_train + (int(canaries.included.sum()) if canaries is not None else 0)
    q, steps = plan(config, n)
    return epsilon(config.noise_multiplier, q, steps, config.delta, config.accountant)


def run_attacks(config: RunConfig, ds, model, canaries, progress=None, cancel=None, refs=None) -> dict:
    """Canary audit, LOSS, RMIA (reference models by the same recipe; `refs` a Future of them when they
    are already being trained) and class prototypes on one trained model; each block with its statement."""
    from .attacks import audit, inversion, mia
    from .attacks.statements import audit_statement, mia_statement

    def note(name):
        if is_cancelled(cancel):
            raise RunCancelled()
        if progress:
            progress({"stage": "attack", "name": name})

    eps = guarantee(config, ds, canaries)
    out = {}
    if canaries is not None:
        note("canary audit")
        out["audit"] = audit.audit(model, canaries, config.delta)
        out["audit"]["statement"] = audit_statement(out["audit"], eps)
    sp = membership_split(config, ds, canaries)
    x_mem, y_mem = ds.x_train[sp.member_index], ds.y_train[sp.member_index]
    x_non, y_non = ds.x_pop[sp.nonmember_index], ds.y_pop[sp.nonmember_index]
    note("LOSS attack")
    out["loss_attack"] = mia.loss_attack(model, x_mem, y_mem, x_non, y_non)
    out["loss_attack"]["statement"] = mia_statement(out["loss_attack"], eps, config.delta, "The LOSS attack")
    if config.reference_models:
        note(f"{config.reference_models} reference model(s)")
        refs = refs.result() if refs is not None else reference_models(config, ds, canaries, cancel)
        note("RMIA")
        out["mia"] = mia.rmia(model, refs, x_mem, y_mem, x_non, y_non, ds.x_pop[sp.z_index], ds.y_pop[sp.z_index],
                              seed=config.seed)
        out["mia"]["statement"] = mia_statement(out["mia"], eps, config.delta)
    note("class prototypes")
    image = ds.kind == "image"
    out["inversion"] = inversion.run(model, ds.num_classes, ds.kind, ds.x_pop,
                                     data.MNIST_MEAN if image else 0.0, data.MNIST_STD if image else 1.0)
    return out
