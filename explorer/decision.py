"""The decision: results per budget and a person's two thresholds → the ε that meet both, and one to use.

- Accuracy floor: absolute ("at least 85 %") or relative ("within 2 points of the non-private model").
  A budget meets it when its *conservative* accuracy, mean − sample standard deviation over the seeds,
  reaches the floor: with two seeds that is a little below the worse seed, so one lucky seed cannot
  carry a budget. With one seed no spread is measured, and the decision says so.
- Risk ceiling, from the guarantee (not from the attacks, which only bound risk from below): either the
  most an attacker may come to believe that a person was in the data, from a stated prior
  (`accounting.posterior`), or the highest TPR a membership test may reach at a stated FPR
  (`accounting.tradeoff_tpr`). Both grow with ε, so the ceiling is an ε maximum. The ε checked is the one
  each run spent by its reported accountant (the largest over seeds), not the target.

Pure functions of plain values: records in (a study's, or a shipped dataset's cached RunRecords), dicts out.
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from . import accounting
from .errors import ExplorerError

RULE = ("a budget meets the floor when mean − standard deviation of its test accuracy over the seeds "
        "(sample s.d.; 0 with one seed) is at least the floor")
_TOL = 1e-12


@dataclass(frozen=True)
class Floor:
    """kind "absolute": `value` is the accuracy to reach (0–1); kind "relative": `value` is how far below
    the non-private model's mean accuracy one may go, as a fraction (0.02 = 2 percentage points)."""
    kind: str
    value: float

    def __post_init__(self):
        if self.kind not in ("absolute", "relative"):
            raise ExplorerError(f"accuracy floor kind must be absolute or relative; got {self.kind!r}")
        if not (isinstance(self.value, (int, float)) and math.isfinite(self.value) and 0 <= self.value <= 1):
            raise ExplorerError(f"accuracy floor must be between 0 and 1 (e.g. 0.85, or 0.02 for 2 points); "
                                f"got {self.value!r}")

    @classmethod
    def absolute(cls, accuracy: float) -> "Floor":
        return cls("absolute", accuracy)

    @classmethod
    def within_points(cls, points: float) -> "Floor":
        """Within `points` percentage points of the non-private model (2 → 0.02)."""
        return cls("relative", points / 100.0)

    def describe(self) -> str:
        return (f"test accuracy at least {100 * self.value:.1f} %" if self.kind == "absolute" else
                f"test accuracy within {100 * self.value:.1f} points of the non-private model")


@dataclass(frozen=True)
class Ceiling:
    """kind "posterior": an attacker starting from belief `prior` that a person is in the data may end
    at most at `limit`; kind "tpr": a membership test may reach at most TPR `limit` at FPR `fpr`."""
    kind: str
    limit: float
    prior: float | None = None
    fpr: float | None = None

    def __post_init__(self):
        if self.kind not in ("posterior", "tpr"):
            raise ExplorerError(f"risk ceiling kind must be posterior or tpr; got {self.kind!r}")
        if not (isinstance(self.limit, (int, float)) and 0 < self.limit <= 1):
            raise ExplorerError(f"the risk ceiling must be a probability in (0, 1]; got {self.limit!r}")
        if self.kind == "posterior" and not (self.prior is not None and 0 < self.prior < 1):
            raise ExplorerError(f"a posterior ceiling needs the attacker's prior in (0, 1); got {self.prior!r}")
        if self.kind == "tpr" and not (self.fpr is not None and 0 < self.fpr <= 0.5):
            raise ExplorerError(f"a TPR ceiling needs a false-positive rate in (0, 0.5]; got {self.fpr!r}")

    @classmethod
    def posterior(cls, prior: float, max_posterior: float) -> "Ceiling":
        return cls("posterior", max_posterior, prior=prior)

    @classmethod
    def tpr(cls, fpr: float, max_tpr: float) -> "Ceiling":
        return cls("tpr", max_tpr, fpr=fpr)

    def risk(self, eps: float, delta: float) -> float:
        """The guarantee's bound on this risk at (ε, δ)."""
        if self.kind == "posterior":
            return accounting.posterior(self.prior, eps, delta)
        return float(accounting.tradeoff_tpr(self.fpr, eps, delta))

    def epsilon_max(self, delta: float) -> float | None:
        """The largest ε whose guarantee keeps the risk within the ceiling (inf: any ε does); None when
        even ε = 0 exceeds it (a ceiling below prior + δ, or below FPR + δ, is met by no model)."""
        if self.kind == "posterior":
            r = self.limit - delta
            if r < self.prior - _TOL:
                return None
            if r >= 1:
                return math.inf
            return max(0.0, math.log(r / (1 - r)) - math.log(self.prior / (1 - self.prior)))
        t, f = self.limit, self.fpr
        if t < f + delta - _TOL:
            return None
        if t >= 1:
            return math.inf
        # TPR bound = min(e^ε·f + δ, 1 − e^−ε·(1 − δ − f)): within t when either term is
        return max(0.0, math.log((t - delta) / f), math.log((1 - delta - f) / (1 - t)))

    def describe(self) -> str:
        if self.kind == "posterior":
            return (f"an attacker who first believes a person is in the data with probability "
                    f"{100 * self.prior:.3g} % may come to believe it at most {100 * self.limit:.3g} %")
        return (f"a membership test may find at most {100 * self.limit:.3g} % of the people in the data at a "
                f"{100 * self.fpr:.3g} % false-positive rate")


@dataclass
class Point:
    """One budget's runs: target ε (None = non-private), each seed's test accuracy, the ε spent."""
    epsilon: float | None
    accuracies: list[float]
    epsilon_spent: float | None = None  # the largest reported ε over the runs
    delta: float | None = None
    seeds: list[int] = field(default_factory=list)
    evidence: dict = field(default_factory=dict)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.accuracies)

    @property
    def sd(self) -> float:
        return statistics.stdev(self.accuracies) if len(self.accuracies) > 1 else 0.0

    @property
    def conservative(self) -> float:
        return self.mean - self.sd

    def to_dict(self) -> dict:
        return {"epsilon": self.epsilon, "epsilon_spent": self.epsilon_spent, "delta": self.delta,
                "seeds": self.seeds, "runs": len(self.accuracies),
                "test_accuracy": {"values": [round(a, 4) for a in self.accuracies], "mean": round(self.mean, 4),
                                  "sd": round(self.sd, 4), "min": round(min(self.accuracies), 4),
                                  "max": round(max(self.accuracies), 4), "conservative": round(self.conservative, 4)},
                "evidence": self.evidence}


def _get(d, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def _evidence(records: list[dict]) -> dict:
    """The attacks' figures over a budget's runs, read by name; a block or field absent stays None."""
    def collect(*path):
        return [v for r in records if isinstance(v := _get(r, "attacks", *path), (int, float))]

    def mean(*path):
        vals = collect(*path)
        return round(statistics.fmean(vals), 4) if vals else None

    lbs = collect("audit", "epsilon_lower_bound")
    return {"audit_epsilon_lower_bound_max": max(lbs) if lbs else None,
            "audit_ceiling": mean("audit", "ceiling"), "audit_auc": mean("audit", "auc"),
            "rmia_auc": mean("mia", "auc"), "rmia_tpr_at_0.001": mean("mia", "tpr_at_fpr", "0.001"),
            "rmia_tpr_at_0.01": mean("mia", "tpr_at_fpr", "0.01"), "loss_auc": mean("loss_attack", "auc"),
            "runs_with_audit": len(lbs), "runs_with_rmia": len(collect("mia", "auc"))}


def points_from_records(records: list[dict], match: dict | None = None) -> tuple[list[Point], list[str]]:
    """Group RunRecords by target ε (non-private runs together): the study's runs or a shipped dataset's
    cached ones. `match` keeps only the private records whose config has these values (e.g.
    {"dataset": "adult", "clip_norm": 1.0}), so one recipe is compared across budgets; the non-private
    baseline has its own recipe and is matched on "dataset" only. A group that still mixes recipes is
    named in the notes. Runs driven by σ have no target ε and are left out (counted in the notes)."""
    groups: dict[float | None, list[dict]] = {}
    notes, by_sigma = [], 0
    for r in records:
        c = r["config"]
        if match and any(c.get(k) != v for k, v in match.items()
                         if c["mode"] != "non_private" or k == "dataset"):
            continue
        if c["mode"] == "epsilon":
            groups.setdefault(float(c["target_epsilon"]), []).append(r)
        elif c["mode"] == "non_private":
            groups.setdefault(None, []).append(r)
        else:
            by_sigma += 1
    if by_sigma:
        notes.append(f"{by_sigma} run(s) set by noise multiplier rather than a target ε are not used")
    points = []
    for eps, rs in groups.items():
        spent = [v for r in rs if isinstance(v := _get(r, "privacy", "epsilon_reported"), (int, float))]
        deltas = {r["config"]["delta"] for r in rs}
        recipes = {tuple(sorted((k, str(v)) for k, v in r["config"].items() if k not in ("seed",))) for r in rs}
        if len(recipes) > 1:
            notes.append(f"{'no privacy' if eps is None else f'ε = {eps:g}'}: {len(rs)} runs of {len(recipes)} "
                         "different recipes pooled")
        points.append(Point(eps, [float(r["utility"]["test_accuracy"]) for r in rs],
                            max(spent) if spent else None, max(deltas), sorted(r["config"]["seed"] for r in rs),
                            _evidence(rs)))
    points.sort(key=lambda p: (p.epsilon is None, p.epsilon or 0.0))
    return points, notes


def decide(points: list[Point], floor: Floor, ceiling: Ceiling | None = None) -> dict:
    """The studied budgets that meet both thresholds, the recommended (smallest) one, or why none does
    and what would help. Plain JSON-able dict; `message` is the answer in one paragraph."""
    private = sorted((p for p in points if p.epsilon is not None), key=lambda p: p.epsilon)
    baseline = next((p for p in points if p.epsilon is None), None)
    if not private:
        raise ExplorerError("no private runs to decide from: study at least one ε")
    if floor.kind == "relative":
        if baseline is None:
            raise ExplorerError("a floor relative to the non-private model needs non-private runs; study the "
                                "baseline too or state an absolute floor")
        floor_acc = baseline.mean - floor.value
    else:
        floor_acc = floor.value
    rows, notes = [], []
    for p in private:
        eps = p.epsilon_spent if p.epsilon_spent is not None else p.epsilon
        delta = p.delta or 0.0
        risk = ceiling.risk(eps, delta) if ceiling else None
        rows.append({"epsilon": p.epsilon, "epsilon_spent": eps, "delta": delta, "mean": round(p.mean, 4),
                     "sd": round(p.sd, 4), "conservative": round(p.conservative, 4), "runs": len(p.accuracies),
                     "meets_floor": p.conservative >= floor_acc - _TOL,
                     "risk": None if risk is None else round(risk, 6),
                     "meets_ceiling": True if ceiling is None else risk <= ceiling.limit + _TOL})
    deltas = [r["delta"] for r in rows]
    eps_max = ceiling.epsilon_max(max(deltas)) if ceiling else math.inf
    meeting = [r["epsilon"] for r in rows if r["meets_floor"] and r["meets_ceiling"]]
    floor_ok = [r["epsilon"] for r in rows if r["meets_floor"]]
    if any(len(p.accuracies) < 2 for p in private):
        notes.append("some budgets have one run only: no spread was measured, so the floor check takes its "
                     "accuracy as it is; study two or more seeds")
    for a, b in zip(rows, rows[1:]):
        if a["meets_floor"] and not b["meets_floor"]:
            notes.append(f"accuracy is not monotone in ε here (ε = {a['epsilon']:g} meets the floor, "
                         f"ε = {b['epsilon']:g} does not): the seeds disagree; more seeds would settle it")
            break
    if baseline is not None and max(p.mean for p in private) > baseline.mean:
        notes.append("a private model scored above the non-private one: on a small test split the difference may "
                     "be noise, and DP's noise can act as regularisation; a relative floor is measured from the "
                     "non-private mean all the same")
    out = {"floor": {"kind": floor.kind, "value": floor.value, "accuracy": round(floor_acc, 4),
                     "stated": floor.describe(),
                     "baseline_mean": None if baseline is None else round(baseline.mean, 4)},
           "ceiling": None if ceiling is None else {"kind": ceiling.kind, "limit": ceiling.limit,
                                                    "prior": ceiling.prior, "fpr": ceiling.fpr,
                                                    "stated": ceiling.describe(),
                                                    "epsilon_max": _num(eps_max),
                                                    "epsilon_max_unbounded": eps_max == math.inf},
           "rule": RULE, "points": rows, "meeting": meeting,
           "interval": [min(meeting), max(meeting)] if meeting else None,
           "recommended": min(meeting) if meeting else None, "notes": notes, "advice": []}
    studied = "ε = " + ", ".join(f"{r['epsilon']:g}" for r in rows)
    if ceiling is not None and eps_max is None:
        out["verdict"] = "ceiling-unreachable"
        out["message"] = (f"No model can meet the risk ceiling ({ceiling.describe()}): even ε = 0 allows "
                          f"{100 * ceiling.risk(0.0, max(deltas)):.3g} % (the prior or FPR plus δ). Raise the ceiling.")
        return out
    if meeting:
        lo = out["interval"][0]
        rec = next(r for r in rows if r["epsilon"] == lo)
        out["verdict"] = "recommend"
        out["message"] = (f"Use ε = {lo:g}: the smallest studied budget whose accuracy meets the floor "
                          f"({100 * rec['conservative']:.1f} % = mean {100 * rec['mean']:.1f} % − s.d. "
                          f"{100 * rec['sd']:.1f} % over {rec['runs']} seed(s), floor {100 * floor_acc:.1f} %)"
                          + (f" within the risk ceiling (allows ε up to {_fmt(eps_max)})" if ceiling else "")
                          + f". Studied budgets meeting both: ε = {', '.join(f'{e:g}' for e in meeting)}.")
        if lo == rows[0]["epsilon"]:
            out["notes"].append(f"the smallest studied budget already meets the floor; budgets below ε = {lo:g} "
                                "were not studied and may meet it too")
        return out
    advice = _advice(rows, baseline, floor_acc, eps_max)
    out["advice"] = advice
    if not floor_ok:
        best = max(rows, key=lambda r: r["conservative"])
        if baseline is not None and baseline.conservative < floor_acc - _TOL:
            out["verdict"] = "baseline-misses-floor"
            out["message"] = (f"No budget can meet the floor ({100 * floor_acc:.1f} %): even the non-private model "
                              f"reaches only {100 * baseline.conservative:.1f} % (mean − s.d.). No ε helps; the "
                              "floor, the model or the data must change.")
        else:
            out["verdict"] = "none-meets-floor"
            out["message"] = (f"No studied budget ({studied}) meets the floor of {100 * floor_acc:.1f} %; the best, "
                              f"ε = {best['epsilon']:g}, reaches {100 * best['conservative']:.1f} % (mean − s.d.).")
    else:
        out["verdict"] = "ceiling-excludes-floor"
        out["message"] = (f"The floor needs ε ≥ {min(floor_ok):g} among the studied budgets, but the risk ceiling "
                          f"allows at most ε ≈ {_fmt(eps_max)}: no studied budget meets both.")
    return out


def _advice(rows, baseline, floor_acc, eps_max) -> list[str]:
    if baseline is not None and baseline.conservative < floor_acc - _TOL:
        return ["lower the floor: the model without privacy does not reach it",
                "improve the model or the data first (more informative columns, more rows)"]
    out = []
    largest = rows[-1]["epsilon"]
    if eps_max is not None and eps_max > largest and not rows[-1]["meets_floor"]:
        out.append(f"a larger ε: study budgets above ε = {largest:g}"
                   + (f" (the ceiling allows up to {_fmt(eps_max)})" if math.isfinite(eps_max) else ""))
    out += ["more rows: at a fixed ε the noise's share of each update shrinks as the training set grows",
            "fewer features: drop columns that carry little signal, or merge rare categories — noise is added "
            "to every parameter",
            "public pre-training: start from features or a model trained on public data of the same kind, so "
            "fewer private steps are needed",
            "or revisit the thresholds: a lower floor or a higher risk ceiling"]
    return out


def _fmt(eps) -> str:
    return "any ε" if eps is None or not math.isfinite(eps) else f"{eps:.3g}"


def _num(v):
    return None if v is None or not math.isfinite(v) else round(v, 4)
