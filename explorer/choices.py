"""The sidebar's stops and the configuration they ask for: plain values in, a RunConfig out.

The stops are few and chosen so that every one of the default dataset is shipped in cached_runs/
(grids mnist-5k-stops.json and mnist-5k-sigma.json expand to them; tests/test_answer.py checks it):
ε spans the four plain-language tiers, the clip norms bracket the tuned default, and the noise
multipliers cover ε ≈ 0.2–23 at the default clip norm.
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import RunConfig

DATASETS = ("mnist-5k", "breast-cancer", "adult", "mnist")
DEFAULT_DATASET = "mnist-5k"
NO_PRIVACY = "no privacy"
BY_EPSILON, BY_SIGMA = "ε", "noise multiplier σ"
DRIVES = (BY_EPSILON, BY_SIGMA)
EPSILON_STOPS = (0.1, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 20.0)  # strong ≤ 1 < moderate ≤ 5 < weak ≤ 10 < very weak
CLIP_STOPS = (0.1, 0.5, 1.0, 2.0)
SIGMA_STOPS = (0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0)
DELTA_STOPS = (1e-7, 1e-6, 1e-5, 1e-4, 1e-3)
DEFAULT_EPSILON, DEFAULT_SIGMA, DEFAULT_DELTA = 3.0, 1.0, 1e-5
ACCOUNTANTS = ("prv", "rdp", "pld")


def defaults(dataset: str) -> dict:
    """The advanced settings' starting values: the dataset's tuned DP recipe (config.DATASET_DEFAULTS)."""
    c = RunConfig(dataset=dataset)
    return {"clip_norm": c.clip_norm, "epochs": c.epochs, "batch_size": c.batch_size,
            "learning_rate": c.learning_rate, "canaries": c.canaries, "reference_models": c.reference_models,
            "seed": 0, "delta": DEFAULT_DELTA, "accountant": c.accountant}


@dataclass(frozen=True)
class Choices:
    """What the sidebar's widgets say; None takes the dataset's default."""
    dataset: str = DEFAULT_DATASET
    drive: str = BY_EPSILON
    epsilon: float | str = DEFAULT_EPSILON  # or NO_PRIVACY
    clip_norm: float | None = None
    noise_multiplier: float = DEFAULT_SIGMA
    delta: float = DEFAULT_DELTA
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    seed: int = 0
    canaries: int | None = None
    reference_models: int | None = None
    accountant: str = "prv"

    @property
    def private(self) -> bool:
        return not (self.drive == BY_EPSILON and self.epsilon == NO_PRIVACY)


def asked(ch: Choices) -> RunConfig:
    """The run the sidebar asks for (raises ExplorerError for an impossible one). The non-private
    baseline keeps its own tuned recipe: only the seed and the evidence settings apply to it."""
    common = dict(dataset=ch.dataset, seed=int(ch.seed), accountant=ch.accountant,
                  canaries=None if ch.canaries is None else int(ch.canaries))
    if ch.reference_models is not None:
        common["reference_models"] = int(ch.reference_models)
    if not ch.private:
        return RunConfig(mode="non_private", **common)
    knobs = dict(clip_norm=ch.clip_norm, delta=float(ch.delta), epochs=ch.epochs, batch_size=ch.batch_size,
                 learning_rate=ch.learning_rate)
    knobs = {k: v for k, v in knobs.items() if v is not None}
    if ch.drive == BY_EPSILON:
        return RunConfig(mode="epsilon", target_epsilon=float(ch.epsilon), **knobs, **common)
    return RunConfig(mode="noise", noise_multiplier=float(ch.noise_multiplier), **knobs, **common)


def stops(dataset: str = DEFAULT_DATASET, seed: int = 0) -> list[Choices]:
    """Every slider position with the other settings at their defaults: each ε stop at each clip stop,
    each σ stop at the dataset's default clip norm, and no privacy."""
    out = [Choices(dataset=dataset, epsilon=e, clip_norm=c, seed=seed) for e in EPSILON_STOPS for c in CLIP_STOPS]
    out += [Choices(dataset=dataset, drive=BY_SIGMA, noise_multiplier=s, seed=seed) for s in SIGMA_STOPS]
    return out + [Choices(dataset=dataset, epsilon=NO_PRIVACY, seed=seed)]
