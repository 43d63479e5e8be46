"""Canaries for the one-run audit: crafted records a non-private model must memorise one by one.

Each canary goes into training independently with probability ½ (Steinke, Nasr & Jagielski 2023
need exactly this), drawn from the run's seed. None is a copy of a population record, so canaries
use up no record that the membership attacks need.

- "image" datasets: random binary-noise images (20 % of pixels on), each with a uniformly random
  label. Nothing in the data explains a label, so a model that fits an included canary has memorised
  it, and an excluded one stays at chance.
- "tabular" and "features" datasets (vectors): ClipBKD-style records (Jagielski, Ullman & Oprea 2020).
  Canary j is s·v_j, with v_j the j-th direction of least variance of the POPULATION split's
  features (centred, orthogonal to the mean): the real rows barely move a model along v_j, so only
  the canary does. Its label is the class that a labeller ranks lowest at s·v_j: the run's own model
  and seeded initialisation, trained without privacy on the POPULATION split. An excluded canary then
  looks to the released model much as it looks to the labeller (wrong), while an included one must be
  learned against it. Built from population records and the public initialisation only: no training
  record is used, so building canaries costs no privacy of the training data.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

NOISE_DENSITY = 0.2  # share of "on" pixels in a noise canary
SCALE = 8.0  # a least-variance canary's norm, in multiples of the largest population row norm


@dataclass
class Canaries:
    x: np.ndarray
    y: np.ndarray  # the labels they are trained with
    included: np.ndarray  # bool per canary: drawn into training (w.p. ½ each)
    kind: str  # "noise-images" | "least-variance"
    description: str
    # population rows copied into canaries; crafted canaries copy none, but the membership split
    # keeps honouring the field so a future kind that copies rows cannot leak into its evaluation sets
    source_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def training_set(self, x_train: np.ndarray, y_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.concatenate([x_train, self.x[self.included].astype(x_train.dtype)]),
                np.concatenate([y_train, self.y[self.included]]))


def plant(config, ds) -> Canaries:
    """config.canaries canaries of the kind that suits `ds` (see the module docstring), drawn from the
    run's seed; least-variance canaries are labelled by the run's recipe trained on the population."""
    from ..errors import ExplorerError

    m, seed = config.canaries, config.seed
    if m < 2:
        raise ExplorerError(f"the canary audit needs at least 2 canaries; got {m} (use 0 to skip it)")
    rng = np.random.default_rng([seed, 7])
    included = rng.random(m) < 0.5
    if ds.kind == "image":
        return _noise_images(ds, m, rng, included)
    return _least_variance(config, ds, included)


def _noise_images(ds, m: int, rng: np.random.Generator, included: np.ndarray) -> Canaries:
    from ..data import MNIST_MEAN, MNIST_STD

    off, on = (0.0 - MNIST_MEAN) / MNIST_STD, (1.0 - MNIST_MEAN) / MNIST_STD
    x = np.where(rng.random((m, *ds.input_shape)) < NOISE_DENSITY, on, off).astype(np.float32)
    y = rng.integers(0, ds.num_classes, size=m).astype(np.int64)
    return Canaries(x, y, included, "noise-images",
                    f"random binary-noise images ({NOISE_DENSITY:.0%} of pixels on), uniformly random labels")


def least_variance_directions(x_pop: np.ndarray, m: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """(m unit directions, how many are orthogonal eigen-directions): the directions of least variance
    of the centred population features, orthogonal to their mean. Beyond the d − 1 such directions the
    rest are random unit vectors in their span, which overlap and weaken the audit."""
    x = x_pop.astype(np.float64)
    mu = x.mean(axis=0)
    d = x.shape[1]
    if np.linalg.norm(mu) > 0:  # an orthonormal basis of the mean's orthogonal complement
        complement = np.linalg.svd(mu[None, :])[2][1:].T
    else:
        complement = np.eye(d)
    cov = np.atleast_2d(np.cov(x, rowvar=False)) if len(x) > 1 else np.zeros((d, d))
    values, vectors = np.linalg.eigh(complement.T @ cov @ complement)
    basis = (complement @ vectors[:, np.argsort(values, kind="stable")]).T  # least variance first
    k = min(m, len(basis))
    dirs = basis[:k]
    if m > k:
        extra = rng.normal(size=(m - k, len(basis))) @ basis
        dirs = np.concatenate([dirs, extra / np.linalg.norm(extra, axis=1, keepdims=True)])
    return dirs, k


def _least_variance(config, ds, included: np.ndarray) -> Canaries:
    from ..train import predict_logits, train

    m = len(included)
    rng = np.random.default_rng([config.seed, 8])
    dirs, orthogonal = least_variance_directions(ds.x_pop, m, rng)
    scale = SCALE * float(np.linalg.norm(ds.x_pop, axis=1).max())
    x = (scale * dirs).astype(np.float32)
    # the labeller: this run's model, initialisation and recipe, without privacy, on the population
    labeller = config.replace(mode="non_private", attacks=False,
                              batch_size=max(1, min(config.batch_size, len(ds.y_pop) // 2)))
    model = train(labeller, ds.x_pop, ds.y_pop, ds.num_classes, verify_sigma=False).model
    y = predict_logits(model, x).argmin(axis=1).astype(np.int64)
    return Canaries(x, y, included, "least-variance",
                    f"ClipBKD: population directions of least variance ({orthogonal} orthogonal of {m}) "
                    f"scaled to norm {scale:.3g}, labelled with the class a model trained without privacy "
                    "on the population split ranks lowest")
