"""A budget study on a user's table: for each ε and the non-private baseline, × seeds, one run through
`pipeline.run` (the canary audit and RMIA with K ≥ 2 reference models included), a recipe adapted to the
table's size, and hyper-parameters chosen on a validation split of the training rows.

The rows stay in memory. The study returned (and saved only when asked, by `save_study`) holds
aggregates: the runs' records, column names and counts, never a row or a cell value. `load_study`
re-opens a saved one for the same decision view (explorer/decision.py).
"""
from __future__ import annotations

import json
import math
import os
import time
from datetime import datetime, timezone

import numpy as np

from . import __version__, decision, records
from .config import RunConfig
from .errors import ExplorerError, RunCancelled, is_cancelled
from .fileio import write_json_atomic
from .tables import PreparedTable, Table, TableSpec, prepare

KIND, SCHEMA = "explorer-study", 1
DEFAULT_EPSILONS = (0.5, 1.0, 2.0, 4.0, 8.0)
DEFAULT_SEEDS = 2
MAX_STUDY_ROWS = 20_000  # beyond this a study is subsampled, only with the user's consent
MIN_REFERENCE_MODELS = 2
VALIDATION_SHARE = 0.2
VALIDATION_SEED = 2024
CLIP_NORM = 1.0
# the tuning grid: tried in this order, the first best validation accuracy wins (so ties go to the
# simpler model and the smaller step)
MODELS = ("logreg", "mlp")
DP_LEARNING_RATES = (0.1, 0.5, 2.0)
BASELINE_LEARNING_RATES = (0.05, 0.2)
BASELINE_MOMENTUM = 0.9
TARGET_STEPS = 400  # DP-SGD steps a run aims at; epochs follow from it


def default_delta(n: int) -> float:
    """1/(10·n) rounded down to a power of ten: δ well below 1/n for the n training rows."""
    if n < 1:
        raise ExplorerError(f"δ needs the number of training rows; got {n}")
    return 10.0 ** math.floor(math.log10(1.0 / (10 * n)) + 1e-12)


def delta_policy(n: int, delta: float | None = None) -> tuple[float, str, list[str]]:
    """(δ, how it was chosen, warnings): the default for n training rows, or the user's δ with a warning
    whenever it exceeds 1/n."""
    if delta is None:
        return default_delta(n), f"default: 1/(10·n) rounded down to a power of ten for n = {n} training rows", []
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not 0 < delta <= 0.1:
        raise ExplorerError(f"δ must be a number in (0, 0.1]; got {delta!r}")
    warnings = []
    if delta > 1.0 / n:
        warnings.append(f"δ = {delta:g} is above 1/n = {1 / n:.2g} for n = {n} training rows: a mechanism with such "
                        "a δ may publish a few records outright; use δ ≤ 1/(10·n)")
    elif delta > 1.0 / (10 * n):
        warnings.append(f"δ = {delta:g} is close to 1/n = {1 / n:.2g} (n = {n}); the default would be "
                        f"{default_delta(n):g}")
    return float(delta), "chosen by the user", warnings


def size_recipe(n_train: int) -> dict:
    """Batch size, epochs and canaries for n training rows, with the reason in words.

    B ≈ n/20 as a power of two in [8, 512]: a sampling rate near 5 %, where DP-SGD's noise is shared by
    enough records per step; epochs so the run takes about TARGET_STEPS steps (5–40 epochs); canaries
    n/8 in [20, 200], so the audit has some power without flooding a small table."""
    batch = int(min(512, max(8, 2 ** round(math.log2(max(n_train, 1) / 20)))))
    while batch >= n_train * (1 - VALIDATION_SHARE) and batch > 1:  # tuning trains on the validation remainder
        batch //= 2
    per_epoch = math.ceil(n_train / batch)
    epochs = int(min(40, max(5, round(TARGET_STEPS / per_epoch))))
    canaries = int(min(200, max(20, n_train // 8)))
    return {"batch_size": batch, "epochs": epochs, "canaries": canaries,
            "why": (f"{n_train} training rows: batch {batch} (sampling rate {batch / n_train:.3g}), {epochs} epochs "
                    f"≈ {per_epoch * epochs} steps, {canaries} canaries; rules: batch ≈ n/20 as a power of two "
                    f"in [8, 512], epochs for ≈ {TARGET_STEPS} steps in [5, 40], canaries n/8 in [20, 200]")}


def _epsilons(values) -> tuple[float, ...]:
    try:
        out = tuple(sorted({float(v) for v in values}))
    except (TypeError, ValueError):
        raise ExplorerError(f"budgets must be numbers, e.g. 0.5,1,2,4,8; got {values!r}") from None
    if not out:
        raise ExplorerError("study at least one budget ε")
    for e in out:
        if not (math.isfinite(e) and 0 < e <= 100):
            raise ExplorerError(f"each budget ε must be in (0, 100]; got {e:g}")
    return out


def _seeds(seeds) -> list[int]:
    out = list(range(seeds)) if isinstance(seeds, int) else sorted({int(s) for s in seeds})
    if not out or (isinstance(seeds, int) and seeds < 1):
        raise ExplorerError(f"a study needs at least one seed; got {seeds!r}")
    return out


class _Clock:
    """Progress in work units (≈ training steps), elapsed time and a naive ETA for the UI and the CLI."""

    def __init__(self, total: float, progress):
        self.total, self.done, self.progress = total, 0.0, progress
        self.start = time.perf_counter()

    def emit(self, current: float = 0.0, **event):
        if not self.progress:
            return
        done = min(self.total, self.done + current)
        elapsed = time.perf_counter() - self.start
        fraction = done / self.total if self.total else 1.0
        eta = elapsed * (1 - fraction) / fraction if fraction >= 0.02 else None
        self.progress({"stage": "study", "fraction": round(fraction, 4), "elapsed_s": round(elapsed, 1),
                       "eta_s": None if eta is None else round(eta, 1), "units_done": round(done, 1),
                       "units_total": round(self.total, 1), **event})


def _train_split(ds):
    """(fit rows, validation rows) of the training set: the only rows tuning looks at."""
    rng = np.random.default_rng(VALIDATION_SEED)
    perm = rng.permutation(ds.n_train)
    k = max(1, int(round(ds.n_train * VALIDATION_SHARE)))
    return perm[k:], perm[:k]


def tune(prepared: PreparedTable, recipe: dict, epsilon: float, delta: float, clock: _Clock | None = None,
         cancel=None, public=None) -> dict:
    """Model and learning rate for the DP runs (at `epsilon`) and for the non-private baseline, chosen by
    accuracy on a validation split of the training rows; the test rows are never looked at. `public`:
    (x, y, info) of a public table (pretrain.public_table): the DP trials start from its weights."""
    from .train import train

    ds = prepared.dataset
    fit, val = _train_split(ds)
    xf, yf, xv, yv = ds.x_train[fit], ds.y_train[fit], ds.x_train[val], ds.y_train[val]
    common = dict(dataset="csv", csv_sha256=prepared.fingerprint, delta=delta, batch_size=recipe["batch_size"],
                  epochs=recipe["epochs"], attacks=False)
    grid = ([("dp", m, lr) for m in MODELS for lr in DP_LEARNING_RATES]
            + [("baseline", m, lr) for m in MODELS for lr in BASELINE_LEARNING_RATES])
    trials, steps, starts = [], recipe["epochs"] * math.ceil(len(fit) / recipe["batch_size"]), {}
    for i, (kind, model, lr) in enumerate(grid):
        if is_cancelled(cancel):
            raise RunCancelled()
        cfg = (RunConfig(mode="epsilon", target_epsilon=epsilon, model=model, learning_rate=lr, clip_norm=CLIP_NORM,
                         momentum=0.0, pretrain=public and public[2]["source"], **common) if kind == "dp" else
               RunConfig(mode="non_private", model=model, learning_rate=lr, momentum=BASELINE_MOMENTUM, **common))
        label = f"tuning {i + 1}/{len(grid)}: {'DP' if kind == 'dp' else 'non-private'} {model}, lr {lr:g}"

        def on_progress(e, _label=label, _trial=i + 1):
            if clock and e.get("stage") == "train" and e.get("steps"):
                clock.emit(steps * e.get("step", 0) / e["steps"], phase="tuning", label=_label,
                           trial=_trial, trials=len(grid))

        if clock:
            clock.emit(phase="tuning", label=label, trial=i + 1, trials=len(grid))
        t = time.perf_counter()
        # σ from the fast accountant twin (≤ 0.2 % from the library's): a tuning model is never released
        result = train(cfg, xf, yf, ds.num_classes, xv, yv, progress=on_progress if clock else None, cancel=cancel,
                       verify_sigma=False, init_state=_public_start(cfg, ds, public, starts))
        trials.append({"kind": kind, "model": model, "learning_rate": lr, "validation_accuracy":
                       round(float(result.test_accuracy), 4), "seconds": round(time.perf_counter() - t, 2)})
        if clock:
            clock.done += steps
    chosen = {}
    for kind in ("dp", "baseline"):
        rows = [t for t in trials if t["kind"] == kind]
        best = max(rows, key=lambda t: t["validation_accuracy"])  # first best: grid order breaks ties
        chosen[kind] = {"model": best["model"], "learning_rate": best["learning_rate"]}
    return {"split": f"{len(fit)} fit / {len(val)} validation rows, drawn from the training rows (seed "
                     f"{VALIDATION_SEED}); the test rows are never used",
            "epsilon": epsilon, "delta": delta, "clip_norm": CLIP_NORM, "baseline_momentum": BASELINE_MOMENTUM,
            "rule": "highest validation accuracy; ties go to the earlier grid entry (logreg before mlp, smaller "
                    "learning rate first)",
            "trials": trials, "chosen": chosen}


def _public_start(cfg: RunConfig, ds, public, starts: dict):
    """The public table's pre-trained weights for a DP trial's model (one pre-training per model)."""
    if public is None or not cfg.private:
        return None
    from .pretrain import initial_state

    if cfg.model not in starts:
        starts[cfg.model] = initial_state(cfg, ds, public)[0]
    return starts[cfg.model]


def run_study(table: Table | PreparedTable, spec: TableSpec | None = None, epsilons=DEFAULT_EPSILONS,
              seeds=DEFAULT_SEEDS, delta: float | None = None, reference_models: int = 2, progress=None,
              cancel=None, public=None) -> dict:
    """Every budget in `epsilons` and the non-private baseline, each with `seeds` seeds, through
    `pipeline.run` with the canary audit and RMIA. `progress` receives {"stage": "study", "phase",
    "label", "fraction", "elapsed_s", "eta_s", ...}; `cancel` (an Event or callable) stops it with
    RunCancelled. `public`: a public table (CSV path, bytes or file) with the same columns, which the user
    declares public: every DP run is pre-trained on it first (explorer/pretrain.py; no ε spent, disclosed).
    Returns the study dict (aggregates only); nothing is written."""
    from . import pipeline

    start = time.perf_counter()
    if progress:
        progress({"stage": "study", "phase": "preparing", "label": "preparing the table", "fraction": 0.0,
                  "elapsed_s": 0.0, "eta_s": None})
    eps_list, seed_list = _epsilons(epsilons), _seeds(seeds)
    if not isinstance(reference_models, int) or reference_models < MIN_REFERENCE_MODELS:
        raise ExplorerError(f"RMIA needs at least {MIN_REFERENCE_MODELS} reference models; got {reference_models!r}")
    if isinstance(table, PreparedTable):
        prepared = table
    else:
        if spec is None:
            raise ExplorerError("choose the target column (spec) for the study")
        prepared = prepare(table, spec, row_limit=MAX_STUDY_ROWS)
    ds, n = prepared.dataset, prepared.dataset.n_train
    pub = None
    if public is not None:
        from .pretrain import public_table
        from .tables import read_bytes

        public = read_bytes(public)  # once: the runs read the same bytes again
        pub = public_table(public, ds, prepared.spec.target)
    delta, delta_rule, warnings = delta_policy(n, delta)
    if len(seed_list) < 2:
        warnings.append("one seed: the spread between trainings is not measured, so the decision cannot allow for it")
    if len(ds.y_test) < 100:
        warnings.append(f"the test split has {len(ds.y_test)} rows: each test accuracy moves in steps of "
                        f"{100 / len(ds.y_test):.1f} points")
    recipe = size_recipe(n)
    k = reference_models
    run_steps = recipe["epochs"] * math.ceil(n / recipe["batch_size"])
    run_units = run_steps * (1 + 0.5 * k) * 1.3  # the target, K reference models on half a pool, the attacks
    tune_units = (len(MODELS) * (len(DP_LEARNING_RATES) + len(BASELINE_LEARNING_RATES)) * recipe["epochs"]
                  * math.ceil(n * (1 - VALIDATION_SHARE) / recipe["batch_size"]))
    plan = [(e, s) for e in [*eps_list, None] for s in seed_list]
    clock = _Clock(tune_units + run_units * len(plan), progress)
    reference_eps = float(np.median(eps_list)) if len(eps_list) % 2 else eps_list[len(eps_list) // 2 - 1]
    t = time.perf_counter()
    tuned = tune(prepared, recipe, reference_eps, delta, clock, cancel, pub)
    tuned["note"] = (f"the DP recipe was tuned once, at ε = {reference_eps:g} (the middle studied budget), and serves "
                     "every budget; the non-private baseline was tuned on its own")
    tuning_s = time.perf_counter() - t
    dp, base = tuned["chosen"]["dp"], tuned["chosen"]["baseline"]
    common = dict(dataset="csv", csv_sha256=prepared.fingerprint, delta=delta, batch_size=recipe["batch_size"],
                  epochs=recipe["epochs"], canaries=recipe["canaries"], reference_models=k)
    runs = []
    for i, (eps, seed) in enumerate(plan):
        label = f"run {i + 1}/{len(plan)}: {'no privacy' if eps is None else f'ε = {eps:g}'}, seed {seed}"
        cfg = (RunConfig(mode="epsilon", target_epsilon=eps, model=dp["model"], learning_rate=dp["learning_rate"],
                         clip_norm=CLIP_NORM, momentum=0.0, seed=seed, pretrain=pub and pub[2]["source"], **common)
               if eps is not None else
               RunConfig(mode="non_private", model=base["model"], learning_rate=base["learning_rate"],
                         momentum=BASELINE_MOMENTUM, seed=seed, **common))

        def on_progress(e, _label=label, _i=i, _eps=eps, _seed=seed):
            share = None
            if e.get("stage") == "train" and e.get("steps"):
                share = 0.6 * e.get("step", 0) / e["steps"]
            elif e.get("stage") == "attack":
                share = 0.8
            if share is not None:
                clock.emit(run_units * share, phase="runs", label=_label, run=_i + 1, runs=len(plan),
                           epsilon=_eps, seed=_seed, detail=e.get("name"))

        clock.emit(phase="runs", label=label, run=i + 1, runs=len(plan), epsilon=eps, seed=seed)
        record = pipeline.run(cfg, progress=on_progress, cancel=cancel, csv=prepared, target=prepared.spec.target,
                              public_csv=public if cfg.pretrain else None)
        runs.append(_aggregate_only(record))
        clock.done += run_units
    points, notes = decision.points_from_records(runs)
    study = {
        "kind": KIND, "schema": SCHEMA, "explorer": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "table": prepared.summary,
        "settings": {"epsilons": list(eps_list), "seeds": seed_list, "delta": delta, "delta_rule": delta_rule,
                     "delta_times_n": round(delta * n, 6), "reference_models": k, "accountant": runs[0]["config"]["accountant"],
                     "recipe": {**recipe, "clip_norm": CLIP_NORM, "dp": dp, "baseline": {**base, "momentum":
                                                                                         BASELINE_MOMENTUM}},
                     "tuning": tuned,
                     "public_table": pub and {k: pub[2][k] for k in ("source", "rows", "features_matched", "features")}},
        "summary": [p.to_dict() for p in points],
        "runs": runs,
        "warnings": warnings + notes,
        "disclosures": disclosures(prepared.summary, tuned, delta, n, len(plan), pub and pub[2]),
        "timing": {"total_s": round(time.perf_counter() - start, 1), "tuning_s": round(tuning_s, 1),
                   "runs_s": round(sum(r["timing"]["total_s"] for r in runs), 1)},
    }
    if progress:
        clock.done = clock.total
        clock.emit(phase="done", label=f"{len(plan)} runs done")
    return validate_study(study)


def _aggregate_only(record: dict) -> dict:
    """A run's record without the per-class prototype vectors of model inversion: they are clamped to the
    population rows' range, so a coordinate at its bound is a real row's extreme value."""
    inv = record.get("attacks", {}).get("inversion")
    if isinstance(inv, dict) and "vectors" in inv:
        record = {**record, "attacks": {**record["attacks"], "inversion": {
            **{k: v for k, v in inv.items() if k != "vectors"},
            "vectors_withheld": "class prototypes are not saved for a user's table"}}}
    return record


def disclosures(table: dict, tuned: dict, delta: float, n: int, models: int, public: dict | None = None) -> list[str]:
    """What ε does not cover, and what the numbers do not show, in plain words. `public`: the public
    table's info (pretrain.public_table) when the DP runs were pre-trained on one."""
    out = [
        f"Hyper-parameters: the model and learning rate were chosen by {len(tuned.get('trials', []))} trainings on "
        "a validation split of the training rows (the test rows were never used). This choice is not covered by ε.",
        "Preprocessing: each numeric column's mean and standard deviation, and each categorical column's set of "
        "levels, were computed from the training rows. They shape the model's inputs and are not covered by ε.",
        "Recipe and architecture: batch size, epochs, canary count and the model's input size follow from the "
        "table's shape (rows, columns, levels, classes), which ε does not cover.",
        f"Each run's ε covers one released model. This study trained {models} models (plus reference models) on the "
        "same rows to compare budgets; release one. Releasing several spends their budgets together.",
        f"δ = {delta:g} for n = {n} training rows (δ·n = {delta * n:.3g}); the privacy unit is one row, "
        "added or removed.",
        "The canary audit and the membership attacks give empirical lower bounds on leakage, not guarantees: "
        "a low attack score does not show the model is private; only ε does.",
    ]
    if public:
        out.append(f"Public pre-training: every DP model first learned, without privacy, from a table the user declared "
                   f"public ({public['source']}, {public['rows']:,} rows, {public['features_matched']} of "
                   f"{public['features']} inputs matched). ε does not cover that table; if it is not public, ε "
                   "understates the risk.")
    if table.get("subsampled"):
        s = table["subsampled"]
        out.append(f"The table was subsampled from {s['from']:,} to {s['to']:,} rows, with the user's agreement; "
                   "the results describe a model trained on the subsample.")
    return out


# ---------------------------------------------------------------- saving and re-opening
_REQUIRED = {"kind": str, "schema": int, "created": str, "table": dict, "settings": dict, "summary": list,
             "runs": list, "warnings": list, "disclosures": list}


def validate_study(study: dict) -> dict:
    """Check a study's shape and each run record; raise ExplorerError saying what is wrong."""
    if not isinstance(study, dict) or study.get("kind") != KIND:
        raise ExplorerError("not an explorer study: the file lacks kind = \"explorer-study\"")
    if study.get("schema") != SCHEMA:
        raise ExplorerError(f"study schema {study.get('schema')!r} is not the one this version reads ({SCHEMA}); "
                            "run the study again")
    for name, kind in _REQUIRED.items():
        if not isinstance(study.get(name), kind):
            raise ExplorerError(f"study field {name!r} is missing or not a {kind.__name__}")
    if not study["runs"]:
        raise ExplorerError("the study holds no runs")
    if "decision" in study and not isinstance(study["decision"], dict):
        raise ExplorerError("study field 'decision' is not an object")
    fp = study["table"].get("fingerprint")
    for r in study["runs"]:
        records.validate(r)
        if r["config"]["dataset"] != "csv" or r["config"].get("csv_sha256") != fp:
            raise ExplorerError("a run in the study is not on the study's table (its fingerprint differs)")
    return study


def save_study(study: dict, path: str | os.PathLike):
    """Write the study (aggregates only) atomically; only when the user asks."""
    return write_json_atomic(path, validate_study(study))


def load_study(path: str | os.PathLike) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            study = json.load(f)
    except FileNotFoundError:
        raise ExplorerError(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ExplorerError(f"{path}: not a readable study JSON ({type(e).__name__})") from None
    return validate_study(study)


def points(study: dict) -> tuple[list, list[str]]:
    """The study's runs as decision points (decision.decide takes them)."""
    return decision.points_from_records(study["runs"])


def attach_decision(study: dict, floor: decision.Floor, ceiling: decision.Ceiling | None = None) -> dict:
    """The study with the person's thresholds and the decision they lead to (for saving and the report)."""
    points_, _ = points(study)
    return {**study, "decision": decision.decide(points_, floor, ceiling)}


def summary_rows(study: dict) -> list[dict]:
    """One row per budget, for a table in the app or the CLI: accuracy over the seeds and the evidence."""
    rows = []
    for p in study["summary"]:
        a, ev = p["test_accuracy"], p.get("evidence") or {}
        rows.append({"budget": "no privacy" if p["epsilon"] is None else f"ε = {p['epsilon']:g}",
                     "epsilon_spent": p["epsilon_spent"], "delta": p["delta"], "runs": p["runs"],
                     "accuracy_mean": a["mean"], "accuracy_sd": a["sd"], "accuracy_conservative": a["conservative"],
                     "audit_epsilon_lower_bound": ev.get("audit_epsilon_lower_bound_max"),
                     "audit_ceiling": ev.get("audit_ceiling"), "rmia_auc": ev.get("rmia_auc"),
                     "rmia_tpr_at_0.001": ev.get("rmia_tpr_at_0.001"), "loss_auc": ev.get("loss_auc")})
    return rows


def describe(study: dict) -> str:
    """The study in a few lines of text (the CLI prints it)."""
    t, st = study["table"], study["settings"]
    r = st["recipe"]
    lines = [f"table {t['fingerprint']}: {t['rows_used']} rows ({t['n_train']} train / {t['n_test']} test / "
             f"{t['n_population']} population), {t['features']} model inputs, {t['num_classes']} classes",
             f"recipe: {r['why']}",
             f"DP: {r['dp']['model']}, lr {r['dp']['learning_rate']:g}, clip {r['clip_norm']:g}; non-private: "
             f"{r['baseline']['model']}, lr {r['baseline']['learning_rate']:g}, momentum {r['baseline']['momentum']:g} "
             f"(tuned on {st['tuning']['split']})",
             f"δ = {st['delta']:g} ({st['delta_rule']})", ""]

    def f(v, spec):
        return "—" if v is None else format(v, spec)

    lines.append(f"{'budget':>11} {'ε spent':>8} {'accuracy':>15} {'audit ε≥':>9} {'RMIA AUC':>9} {'TPR@0.1%':>9}")
    for row in summary_rows(study):
        acc = f"{100 * row['accuracy_mean']:.1f} ± {100 * row['accuracy_sd']:.1f} %"
        lines.append(f"{row['budget']:>11} {f(row['epsilon_spent'], '.3f'):>8} {acc:>15} "
                     f"{f(row['audit_epsilon_lower_bound'], '.2f'):>9} {f(row['rmia_auc'], '.3f'):>9} "
                     f"{f(row['rmia_tpr_at_0.001'], '.3f'):>9}")
    lines += [""] + [f"note: {n}" for n in t.get("notes", [])] + [f"warning: {w}" for w in study["warnings"]]
    if study.get("decision"):
        d = study["decision"]
        lines += ["", f"decision: {d['message']}"] + [f"  would help: {a}" for a in d["advice"]] + \
                 [f"  note: {n}" for n in d["notes"]]
    return "\n".join(lines)
