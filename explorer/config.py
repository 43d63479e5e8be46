"""RunConfig: what one run is. Frozen, validated at construction, with a stable key.

Fields left as None take the dataset's defaults (DATASET_DEFAULTS, chosen on a validation split carved
from the training data by `bench/tune.py` — never on the test split). The key is a hash of the canonical
JSON of the resolved fields, so the same run always lands on the same record.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, fields, replace

from .errors import ExplorerError

MODES = ("epsilon", "noise", "non_private")
DATASETS = ("mnist-5k", "mnist", "adult", "breast-cancer", "csv")
MODEL_NAMES = ("logreg", "mlp", "cnn", "scatternet")
ACCOUNTANT_NAMES = ("rdp", "prv", "pld")
CLIPPING = ("flat", "adaptive")
# How the released model is made private (docs/techniques.md): DP-SGD (Opacus; optionally after public
# pre-training, `pretrain`) or PATE (Papernot et al. 2017, 2018: teachers on disjoint parts of the
# private data, a student on public unlabeled data labelled by the GNMax aggregate of their votes).
TECHNIQUES = ("dp-sgd", "pate")
# Public pre-training sources: "digits" (scikit-learn's 8×8 digits resized to 28×28, for images) and
# "public-csv:<fingerprint>" (a table the user declares public, with the private table's columns)
PRETRAIN_SOURCES = ("digits", "public-csv")
DEFAULT_TARGET_QUANTILE = 0.5  # adaptive clipping aims at the median per-sample gradient norm

# How Opacus forms per-sample gradients (its `grad_sample_mode`). Opacus also has "ew" (ExpandedWeights),
# which fails on the empty batches Poisson sampling draws (Opacus 1.6), so it is not offered.
GRAD_SAMPLE_MODES = ("hooks", "functorch", "ghost")
# Each model's default: the fastest DP step measured with `python -m explorer bench` (the dp_overhead
# table, docs/performance.md). Adaptive clipping takes the second column: Opacus' AdaClipDPOptimizer
# needs materialised per-sample gradients, which ghost clipping never forms.
GRAD_SAMPLE_DEFAULTS: dict[str, tuple[str, str]] = {
    "logreg": ("hooks", "hooks"), "mlp": ("ghost", "hooks"), "cnn": ("hooks", "hooks"),
    "scatternet": ("ghost", "hooks"),
}

# Chosen on a validation split of the training rows by bench/tune.py; its table is docs/tuning.json.
# The DP recipe (plain SGD: clipped, noisy gradients want a large step) and the non-private baseline's
# own recipe under "baseline" (SGD with momentum, trained to convergence, as a fair baseline must be).
# Canary counts (issue 14, docs/privacy-evidence.md): 500 noise images let the non-private mnist-5k
# baseline's one-run audit bound reach 3.3-3.5 (ceiling 3.8) at no accuracy cost; tables get
# least-variance canaries, each along its own direction of least variance (Adult 60, breast-cancer 20).
DATASET_DEFAULTS: dict[str, dict] = {
    "mnist-5k": dict(model="cnn", epochs=15, batch_size=256, learning_rate=2.0, clip_norm=0.5, momentum=0.0,
                     canaries=500, baseline=dict(learning_rate=0.05, momentum=0.9, epochs=30)),
    # full MNIST: a linear head on ScatterNet features (Tramèr & Boneh 2021), large batches, momentum;
    # tuned at ε = 3, the app's default budget (at ε ≤ 1 lr 2, 40 epochs won: grids/mnist.json uses it)
    "mnist": dict(model="scatternet", epochs=80, batch_size=4096, learning_rate=4.0, clip_norm=0.1,
                  momentum=0.9, canaries=200, baseline=dict(learning_rate=1.0, momentum=0.9, epochs=80)),
    "adult": dict(model="logreg", epochs=5, batch_size=512, learning_rate=2.0, clip_norm=1.0, momentum=0.0,
                  canaries=60, baseline=dict(learning_rate=0.5, momentum=0.0)),
    "breast-cancer": dict(model="logreg", epochs=20, batch_size=32, learning_rate=0.1, clip_norm=0.5,
                          momentum=0.0, canaries=20, baseline=dict(learning_rate=0.05, momentum=0.0)),
    # a user's table: untuned, middle-of-the-road values
    "csv": dict(model="mlp", epochs=10, batch_size=64, learning_rate=0.5, clip_norm=1.0, momentum=0.0,
                canaries=0, baseline=dict(learning_rate=0.1, momentum=0.0)),
}

# PATE's recipe per dataset (explorer/pate.py): the number of teachers, the public queries the student
# gets labelled, and the non-private recipe both the teachers and the student train with (batch capped
# at half their rows). mnist-5k and adult: chosen on a validation split at ε = 1 by bench/techniques.py
# (docs/tuning.json; their grids take each ε's own Q); the others are untuned, middle-of-the-road values.
PATE_DEFAULTS: dict[str, dict] = {
    "mnist-5k": dict(teachers=200, queries=50, model="cnn", epochs=20, batch_size=32, learning_rate=0.05,
                     momentum=0.9),
    "mnist": dict(teachers=250, queries=2000, model="cnn", epochs=20, batch_size=64, learning_rate=0.05,
                  momentum=0.9),
    "adult": dict(teachers=250, queries=100, model="logreg", epochs=20, batch_size=32, learning_rate=0.5,
                  momentum=0.0),
    "breast-cancer": dict(teachers=10, queries=50, model="logreg", epochs=40, batch_size=8, learning_rate=0.1,
                          momentum=0.0),
    "csv": dict(teachers=20, queries=200, model="mlp", epochs=20, batch_size=32, learning_rate=0.5, momentum=0.0),
}

# (low, high, low inclusive?) for every numeric field a user may set
RANGES = {
    "target_epsilon": (0.0, 100.0, False), "noise_multiplier": (0.0, 200.0, False),
    "clip_norm": (0.0, 100.0, False), "delta": (0.0, 0.1, False), "epochs": (1, 500, True),
    "batch_size": (1, 1_000_000, True), "learning_rate": (0.0, 100.0, False), "momentum": (0.0, 0.99, True), "seed": (0, 2**31 - 1, True),
    "canaries": (0, 100_000, True), "reference_models": (0, 64, True),
    "teachers": (2, 100_000, True), "queries": (1, 1_000_000, True),
}


@dataclass(frozen=True)
class RunConfig:
    dataset: str = "mnist-5k"
    mode: str = "epsilon"
    target_epsilon: float | None = 3.0
    noise_multiplier: float | None = None
    clip_norm: float | None = None
    delta: float = 1e-5
    model: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    momentum: float | None = None
    seed: int = 0
    accountant: str = "prv"
    attacks: bool = True  # canary audit, LOSS + RMIA membership inference, model inversion
    canaries: int | None = None  # None: the dataset's default; each is in training w.p. ½
    reference_models: int = 2  # for RMIA; 0 skips RMIA
    csv_sha256: str | None = None  # identifies an uploaded table without storing it
    # True: the noise and Poisson-sampling generators are seeded from `seed` (demonstrations, shipped
    # grids) — not private against anyone who holds the seed. False: seeded from OS entropy, never stored.
    reproducible: bool = False
    clipping: str = "flat"  # "adaptive": the clip norm follows a quantile of the gradient norms (Andrew et al. 2021)
    target_quantile: float | None = None  # adaptive clipping's target fraction of unclipped examples
    grad_sample_mode: str | None = None  # None: the model's measured default (GRAD_SAMPLE_DEFAULTS)
    technique: str = "dp-sgd"  # or "pate" (TECHNIQUES)
    pretrain: str | None = None  # public pre-training source (PRETRAIN_SOURCES); None: from scratch
    teachers: int | None = None  # PATE: teachers, each on its own part of the private data
    queries: int | None = None  # PATE: public records the student gets labelled (the answered queries)

    def __post_init__(self):
        if self.dataset not in DATASETS:
            raise ExplorerError(f"dataset must be one of {', '.join(DATASETS)}; got {self.dataset!r}")
        if self.mode not in MODES:
            raise ExplorerError(f"mode must be one of {', '.join(MODES)}; got {self.mode!r}")
        if self.technique not in TECHNIQUES:
            raise ExplorerError(f"technique must be one of {', '.join(TECHNIQUES)}; got {self.technique!r}")
        if self.mode == "non_private":  # the baseline is one recipe, whatever technique it is compared with
            object.__setattr__(self, "technique", "dp-sgd")
            object.__setattr__(self, "teachers", None)
            object.__setattr__(self, "queries", None)
        defaults = dict(DATASET_DEFAULTS[self.dataset])
        baseline = defaults.pop("baseline")
        if self.mode == "non_private":
            defaults.update(baseline)
        if self.technique == "pate":
            self._check_pate()
            defaults.update(PATE_DEFAULTS[self.dataset])
        elif self.teachers is not None or self.queries is not None:
            raise ExplorerError("teachers and queries are PATE's settings: add --technique pate (or leave them out)")
        for k, v in defaults.items():
            if getattr(self, k) is None:
                object.__setattr__(self, k, v)
        # the fields a mode does not use are cleared, so equal runs get equal keys
        if self.mode != "epsilon":
            object.__setattr__(self, "target_epsilon", None)
        if self.mode != "noise":
            object.__setattr__(self, "noise_multiplier", None)
        if self.technique == "pate":
            object.__setattr__(self, "clip_norm", None)  # PATE clips nothing: its votes are bounded by design
        if self.mode == "non_private":
            object.__setattr__(self, "clip_norm", None)  # nothing is clipped
            object.__setattr__(self, "clipping", "flat")
            object.__setattr__(self, "grad_sample_mode", None)  # no per-sample gradients
            # no secret randomness to protect: a baseline's shuffling always follows the seed
            object.__setattr__(self, "reproducible", True)
        if not isinstance(self.reproducible, bool):
            raise ExplorerError(f"reproducible must be true or false; got {self.reproducible!r}")
        if self.clipping not in CLIPPING:
            raise ExplorerError(f"clipping must be one of {', '.join(CLIPPING)}; got {self.clipping!r}")
        if self.clipping == "flat":
            object.__setattr__(self, "target_quantile", None)
        elif self.target_quantile is None:
            object.__setattr__(self, "target_quantile", DEFAULT_TARGET_QUANTILE)
        if self.target_quantile is not None:
            q = self.target_quantile
            if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 < q < 1:
                raise ExplorerError(f"target_quantile must be a number in (0, 1); got {q!r}")
            object.__setattr__(self, "target_quantile", float(q))
        if not isinstance(self.attacks, bool):
            raise ExplorerError(f"attacks must be true or false; got {self.attacks!r}")
        if not self.attacks:  # no attack, so nothing planted and no reference model
            object.__setattr__(self, "canaries", 0)
            object.__setattr__(self, "reference_models", 0)
        if self.mode == "epsilon" and self.target_epsilon is None:
            raise ExplorerError("mode 'epsilon' needs target_epsilon (e.g. --epsilon 3)")
        if self.mode == "noise" and self.noise_multiplier is None:
            raise ExplorerError("mode 'noise' needs noise_multiplier (e.g. --noise-multiplier 1.0)")
        if self.model not in MODEL_NAMES:
            raise ExplorerError(f"model must be one of {', '.join(MODEL_NAMES)}; got {self.model!r}")
        if self.model in ("cnn", "scatternet") and self.dataset not in ("mnist", "mnist-5k"):
            raise ExplorerError(f"model {self.model!r} is for image datasets (mnist, mnist-5k); "
                                "use logreg or mlp")
        self._check_pretrain()
        if self.private and self.technique == "dp-sgd":
            self._resolve_grad_sample_mode()
        if self.accountant not in ACCOUNTANT_NAMES:
            raise ExplorerError(f"accountant must be one of {', '.join(ACCOUNTANT_NAMES)}; "
                                f"got {self.accountant!r}")
        for name, (lo, hi, inclusive) in RANGES.items():
            v = getattr(self, name)
            if v is None:
                continue
            integer = isinstance(lo, int)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and int(v) != v):
                raise ExplorerError(f"{name} must be {'an integer' if integer else 'a number'}; got {v!r}")
            if not math.isfinite(v) or not ((lo <= v) if inclusive else (lo < v)) or v > hi:
                left = "[" if inclusive else "("
                raise ExplorerError(f"{name} must be in {left}{lo}, {hi}]; got {v}")
            object.__setattr__(self, name, int(v) if integer else float(v))
        if self.dataset == "csv" and not self.csv_sha256:
            raise ExplorerError("a csv run needs csv_sha256, the fingerprint of its table")

    def _check_pate(self):
        if self.mode != "epsilon":
            raise ExplorerError("PATE is driven by a target ε (--epsilon): its GNMax noise is calibrated for the "
                                "answered queries; --noise-multiplier drives DP-SGD only")
        if self.clipping != "flat":
            raise ExplorerError("adaptive clipping is a DP-SGD option; PATE clips nothing (use --clipping flat)")
        if self.pretrain is not None:
            raise ExplorerError("public pre-training is offered for DP-SGD; PATE's student already learns from "
                                "public data (leave --pretrain out)")
        if self.grad_sample_mode is not None:
            raise ExplorerError("grad_sample_mode is a DP-SGD setting; PATE trains without per-sample gradients")

    def _check_pretrain(self):
        source = self.pretrain
        if source is None:
            return
        if not isinstance(source, str):
            raise ExplorerError(f"pretrain must be a source name; got {source!r}")
        kind, _, fingerprint = source.partition(":")
        if kind not in PRETRAIN_SOURCES or (kind == "digits" and fingerprint) or (kind == "public-csv" and not fingerprint):
            raise ExplorerError(f"unknown pretrain source {source!r}: use digits (scikit-learn's public 8×8 digits, for "
                                "images) or public-csv with --public-csv FILE (a public table with your table's columns)")
        image = self.dataset in ("mnist", "mnist-5k")
        if kind == "digits" and not image:
            raise ExplorerError(f"pretrain source digits is for the image datasets (mnist, mnist-5k), not {self.dataset}; "
                                "for a table pre-train on a public CSV (--pretrain public-csv --public-csv FILE)")
        if kind == "digits" and self.model == "scatternet":
            raise ExplorerError("pre-training on digits is offered for the cnn, mlp and logreg models on raw pixels, "
                                "not for the linear head on ScatterNet features (use --model cnn)")
        if kind == "public-csv" and image:
            raise ExplorerError(f"{self.dataset} holds images: pre-train it on digits (--pretrain digits), not on a CSV")

    def _resolve_grad_sample_mode(self):
        mode = self.grad_sample_mode
        if mode is None:
            flat, adaptive = GRAD_SAMPLE_DEFAULTS[self.model]
            object.__setattr__(self, "grad_sample_mode", adaptive if self.clipping == "adaptive" else flat)
            return
        if mode not in GRAD_SAMPLE_MODES:
            why = (" (Opacus' ExpandedWeights mode fails on the empty batches Poisson sampling draws)"
                   if mode == "ew" else "")
            raise ExplorerError(f"grad_sample_mode must be one of {', '.join(GRAD_SAMPLE_MODES)}; "
                                f"got {mode!r}{why}")
        if mode == "ghost" and self.clipping == "adaptive":
            raise ExplorerError("Opacus' ghost clipping supports flat clipping only: with clipping "
                                "'adaptive' use grad_sample_mode hooks or functorch (or leave it unset)")
        if mode == "functorch" and self.model == "cnn":
            raise ExplorerError("grad_sample_mode 'functorch' fails on the CNN's empty Poisson batches "
                                "(Opacus 1.6, Conv2d under vmap); use hooks or ghost (or leave it unset)")

    @property
    def private(self) -> bool:
        return self.mode != "non_private"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ExplorerError(f"unknown config field(s): {', '.join(sorted(unknown))}")
        return cls(**d)

    @property
    def key(self) -> str:
        """Hash of the canonical JSON of the fields that differ from their declared defaults: a field
        added later with a default leaves every existing key unchanged, and distinct configs still get
        distinct keys (the record's own config is checked against its key when it is read)."""
        declared = {f.name: f.default for f in fields(self)}
        values = {k: v for k, v in self.to_dict().items() if v != declared[k]}
        canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def replace(self, **changes) -> "RunConfig":
        return replace(self, **changes)


def plan(config: RunConfig, n: int) -> tuple[float, int]:
    """(sample rate, steps) of training on n records: q = 1/ceil(n/B) and ceil(n/B) steps per epoch,
    the values Opacus' make_private_with_epsilon would calibrate with (q = 1/len(data_loader))."""
    if config.batch_size >= n:
        raise ExplorerError(f"batch_size {config.batch_size} must be smaller than the training set "
                            f"({n} records); Poisson sampling needs a sample rate below 1")
    per_epoch = -(-n // config.batch_size)
    return 1.0 / per_epoch, per_epoch * config.epochs
