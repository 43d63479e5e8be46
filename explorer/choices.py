"""The sidebar's stops and the configuration they ask for: plain values in, a RunConfig out.

The stops are few and chosen so that every one of the default dataset is shipped in cached_runs/
(grids mnist-5k-stops.json and mnist-5k-sigma.json expand to them; tests/test_answer.py checks it):
ε spans the four plain-language tiers, the clip norms bracket the tuned default, and the noise
multipliers cover ε ≈ 0.2–23 at the default clip norm.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

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

# The techniques of docs/techniques.md: the config fields that select each, and what each assumes.
DP_SGD, ADAPTIVE, PRETRAINED, PATE = ("DP-SGD", "DP-SGD + adaptive clipping", "DP-SGD + public pre-training", "PATE")
TECHNIQUES = (DP_SGD, ADAPTIVE, PRETRAINED, PATE)
TECHNIQUE_FIELDS = {DP_SGD: {}, ADAPTIVE: {"clipping": "adaptive"}, PRETRAINED: {"pretrain": "digits"},
                    PATE: {"technique": "pate"}}
ASSUMES = {
    DP_SGD: "DP-SGD assumes nothing beyond its accounting: every example's gradient is clipped, noise is added at "
            "every step of Poisson-sampled batches, and ε covers the released model and every intermediate one.",
    ADAPTIVE: "Adaptive clipping assumes what DP-SGD does: the clip norm follows a noisy count of the unclipped "
              "examples (Andrew et al. 2021), and that count's privacy cost is inside ε.",
    PRETRAINED: "Public pre-training assumes a public dataset: the model first learns without privacy from data you "
                "assert is public (scikit-learn's digits for images, your public CSV for a table), which ε does not "
                "cover — if that data is not public, ε understates the risk.",
    PATE: "PATE assumes public unlabeled data: teachers learn without privacy from disjoint parts of the private "
          "data and are never released, and ε covers only the noisy answers that label the public records (here "
          "part of the population split, assumed public) from which the released student learns.",
}
GRIDS = Path(__file__).resolve().parent.parent / "cached_runs" / "grids"
# the knobs a technique's tuned recipe sets (the sidebar's own knobs apply to plain DP-SGD only)
RECIPE_FIELDS = ("model", "clip_norm", "epochs", "batch_size", "learning_rate", "momentum", "target_quantile",
                 "teachers", "queries")


def technique_label(config: dict) -> str:
    """Which of TECHNIQUES a run's config (a RunConfig's dict) uses."""
    if config.get("technique") == "pate":
        return PATE
    if config.get("pretrain"):
        return PRETRAINED if config["pretrain"] == "digits" else f"{DP_SGD} + public pre-training (public CSV)"
    return ADAPTIVE if config.get("clipping") == "adaptive" else DP_SGD


def assumes(config: dict) -> str:
    """What a run's technique assumes, in one sentence."""
    label = technique_label(config)
    return ASSUMES.get(label, ASSUMES[PRETRAINED])


@functools.lru_cache(maxsize=None)
def _grid_runs(dataset: str) -> tuple[RunConfig, ...]:
    """Every private configuration the shipped grids run on `dataset` (the technique recipes' source)."""
    from .sweep import expand, load_grid

    out = []
    for path in sorted(GRIDS.glob("*.json")):
        grid = load_grid(path)
        if grid["dataset"] == dataset:
            out += [c for c in expand(grid) if c.private]
    return tuple(out)


def recipe(dataset: str, technique: str, epsilon: float | None) -> dict:
    """The tuned recipe of a technique other than plain DP-SGD: the fields its shipped grid runs at the
    grid budget nearest `epsilon` (in log; ε 3 when driving by σ), so every budget of a shipped grid is
    answered from the cache. {} when no grid ships the technique for the dataset."""
    want = {"technique": "dp-sgd", "pretrain": None, "clipping": "flat", **TECHNIQUE_FIELDS[technique]}
    runs = [c for c in _grid_runs(dataset) if c.mode == "epsilon" and c.seed == 0
            and all(getattr(c, k) == v for k, v in want.items())]
    if not runs:
        return {}
    aim = math.log(epsilon if epsilon else DEFAULT_EPSILON)
    best = min(runs, key=lambda c: (abs(math.log(c.target_epsilon) - aim), c.target_epsilon))
    return {k: getattr(best, k) for k in RECIPE_FIELDS if getattr(best, k) is not None}


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
    technique: str = DP_SGD  # one of TECHNIQUES

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
    if ch.technique != DP_SGD:  # the technique's tuned recipe (its shipped grid's), else the sidebar's knobs
        tuned = recipe(ch.dataset, ch.technique, float(ch.epsilon) if ch.drive == BY_EPSILON else None)
        knobs = {**({"delta": float(ch.delta), **tuned} if tuned else knobs), **TECHNIQUE_FIELDS[ch.technique]}
        if ch.technique == PATE:
            knobs.pop("clip_norm", None)
    if ch.drive == BY_EPSILON:
        return RunConfig(mode="epsilon", target_epsilon=float(ch.epsilon), **knobs, **common)
    return RunConfig(mode="noise", noise_multiplier=float(ch.noise_multiplier), **knobs, **common)


def stops(dataset: str = DEFAULT_DATASET, seed: int = 0) -> list[Choices]:
    """Every slider position with the other settings at their defaults: each ε stop at each clip stop,
    each σ stop at the dataset's default clip norm, and no privacy."""
    out = [Choices(dataset=dataset, epsilon=e, clip_norm=c, seed=seed) for e in EPSILON_STOPS for c in CLIP_STOPS]
    out += [Choices(dataset=dataset, drive=BY_SIGMA, noise_multiplier=s, seed=seed) for s in SIGMA_STOPS]
    return out + [Choices(dataset=dataset, epsilon=NO_PRIVACY, seed=seed)]
