"""Which record answers the configuration a user asks for, and how to say so.

The rules the UI follows, as plain functions of configs and records (no Streamlit):
- the asked configuration's own record answers when the store or this session has it (`exact`);
- otherwise the nearest stored run stands in (`stand-in`), and every place that shows it names both
  the asked and the shown configuration. "Nearest" is Store.nearest's distance, measured in ε: in σ
  mode the asked σ is first turned into the ε it spends (the sidebar's figure), so the stand-in is the
  run whose privacy is closest to what was asked, not the one with the closest knob;
- the non-private baseline beside a run is the one with the same seed when there is one;
- a training-time estimate scales stored runs' times by the work asked.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from .config import RunConfig

EXACT, SESSION, STAND_IN, NONE = "cached", "session", "stand-in", "none"


def _fmt(v: float) -> str:
    return f"{v:.3g}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"


def describe(config: RunConfig | dict, epsilon: float | None = None) -> str:
    """A configuration in words, e.g. "mnist-5k, ε = 0.1, C = 0.5, seed 0"; in σ mode with the ε it
    spends when given ("σ = 20 (ε ≈ 0.18)")."""
    c = config if isinstance(config, dict) else config.to_dict()
    if c["mode"] == "non_private":
        privacy = "no privacy"
    elif c["mode"] == "epsilon":
        privacy = f"ε = {c['target_epsilon']:g}"
    else:
        privacy = f"σ = {c['noise_multiplier']:g}" + (f" (ε ≈ {_fmt(epsilon)})" if epsilon is not None else "")
    clip = f", C = {c['clip_norm']:g}" if c.get("clip_norm") is not None else ""
    return f"{c['dataset']}{_technique(c)}, {privacy}{clip}, seed {c['seed']}"


def _technique(c: dict) -> str:
    """", PATE" etc. for a technique other than plain DP-SGD (plain runs are named as before)."""
    from .choices import DP_SGD, technique_label

    label = technique_label(c)
    return "" if label == DP_SGD or c["mode"] == "non_private" else f", {label}"


def label(record: dict) -> str:
    """A stored run in words, with the ε it spent: "mnist-5k ε=2.98, C=0.5, seed 0"."""
    c, p = record["config"], record["privacy"]
    if p["epsilon"] is None:
        eps = "no privacy"
    elif c["mode"] == "noise":
        eps = f"σ={c['noise_multiplier']:g} (ε={p['epsilon_reported']:.2f})"
    else:
        eps = f"ε={p['epsilon_reported']:.2f}"
    clip = f", C={c['clip_norm']:g}" if c.get("clip_norm") else ""
    return f"{c['dataset']}{_technique(c)} {eps}{clip}, seed {c['seed']}"


_NAMES = {"epochs": "epochs", "batch_size": "batch", "learning_rate": "lr", "delta": "δ", "model": "model",
          "canaries": "canaries", "reference_models": "reference models", "momentum": "momentum",
          "accountant": "accountant", "technique": "technique", "pretrain": "pre-training", "clipping": "clipping",
          "teachers": "teachers", "queries": "queries"}


def differences(asked: RunConfig, shown: dict) -> list[str]:
    """The settings other than ε / σ, C and seed in which a shown run differs from the asked one (a field
    a record predates counts as its default)."""
    from dataclasses import fields

    want = asked.to_dict()
    declared = {f.name: f.default for f in fields(RunConfig)}
    shown = {**{f: declared[f] for f in _NAMES if f in declared}, **shown}
    return [f"{name} {shown[f]:g} instead of {want[f]:g}" if isinstance(want[f], (int, float))
            and isinstance(shown.get(f), (int, float)) else f"{name} {shown.get(f)} instead of {want[f]}"
            for f, name in _NAMES.items() if f in want and shown.get(f) != want[f]]


# Shipped records run RMIA with this many reference models (issue 14: ≥ 4 shipped, 2 for live runs).
SHIPPED_REFERENCE_MODELS = 4


def cache_keys(config: RunConfig) -> list[str]:
    """Keys that answer exactly this configuration, best first: its own; the same run with seeded
    noise (the shipped demo runs are `reproducible`; secret noise is the only difference in how the
    model is trained); and the same run attacked by RMIA with the shipped number of reference models
    (the trained model does not depend on them; only the attack is stronger)."""
    variants = [config]
    if not config.reproducible:
        variants.append(config.replace(reproducible=True))
    if config.attacks and 0 < config.reference_models < SHIPPED_REFERENCE_MODELS:
        variants += [v.replace(reference_models=SHIPPED_REFERENCE_MODELS) for v in variants]
    return list(dict.fromkeys(v.key for v in variants))


def nearest(config: RunConfig, asked_epsilon: float | None, store) -> dict | None:
    """The stored run nearest the asked one, in ε (σ mode: the ε the asked σ spends)."""
    if config.mode == "noise" and asked_epsilon is not None:
        config = config.replace(mode="epsilon", target_epsilon=float(asked_epsilon))
    return store.nearest(config)


@dataclass(frozen=True)
class Answer:
    asked: RunConfig
    asked_epsilon: float | None  # the ε the asked run spends (target, or computed from σ); None: no privacy
    record: dict | None  # what the dashboard shows
    kind: str  # EXACT, SESSION, STAND_IN or NONE

    @property
    def exact(self) -> bool:
        return self.kind in (EXACT, SESSION)

    @property
    def stand_in(self) -> bool:
        return self.kind == STAND_IN

    @property
    def asked_text(self) -> str:
        return describe(self.asked, self.asked_epsilon)

    def banner(self) -> str | None:
        """The stand-in's announcement, naming both configurations (Markdown)."""
        if not self.stand_in:
            return None
        other = differences(self.asked, self.record["config"])
        return (f"**Not cached:** you asked for **{self.asked_text}**. Everything below shows the nearest "
                f"cached run instead, **{label(self.record)}**"
                + (f" ({'; '.join(other)})" if other else "") + ". Train the asked configuration to see its own results.")

    def caption(self) -> str | None:
        """Under each card of a stand-in."""
        return f"nearest cached: {label(self.record)}" if self.stand_in else None


def answer(config: RunConfig, asked_epsilon: float | None, store, session_runs: dict | None = None) -> Answer:
    """The record that answers `config`: its own (stored, or trained in this session), else the
    nearest stored run as a marked stand-in, else none."""
    session_runs = session_runs or {}
    for key in cache_keys(config):
        if (r := store.get(key)) is not None:
            return Answer(config, asked_epsilon, r, EXACT)
        if key in session_runs:
            return Answer(config, asked_epsilon, session_runs[key], SESSION)
    r = nearest(config, asked_epsilon, store)
    return Answer(config, asked_epsilon, r, STAND_IN if r is not None else NONE)


def baseline(record: dict | None, records: list[dict]) -> dict | None:
    """The non-private run to compare `record` with: same dataset, the same seed when there is one.
    None for a non-private record itself (nothing to compare with) or when none is stored."""
    if record is None or record["privacy"]["epsilon"] is None:
        return None
    c = record["config"]
    pool = [r for r in records if r["privacy"]["epsilon"] is None and r["config"]["dataset"] == c["dataset"]]
    return min(pool, key=lambda r: (r["config"]["seed"] != c["seed"], r["config"]["seed"]), default=None)


def _work(c: dict) -> float:
    """Relative cost of a run: epochs of the target plus its reference models (same recipe)."""
    return c["epochs"] * (1 + (c.get("reference_models") or 0))


def estimate_seconds(config: RunConfig, records: list[dict]) -> float | None:
    """Seconds a run of `config` should take here: the median stored run of the same dataset and model
    (private or not, as asked), scaled by epochs × (1 + reference models). None without a basis."""
    want = config.to_dict()
    basis = [r for r in records if r["config"]["dataset"] == want["dataset"] and r["config"]["model"] == want["model"]
             and (r["privacy"]["epsilon"] is None) == (not config.private) and r.get("timing", {}).get("total_s")]
    if not basis:
        return None
    rates = [r["timing"]["total_s"] / _work(r["config"]) for r in basis]
    return statistics.median(rates) * _work(want)
