"""Your data: a budget study on a user's table, then the decision and the impact-assessment report.

Upload → the columns' inferred types (overridable; identifier-like columns proposed for exclusion) and
the reading notes → the target, budgets, seeds, δ and, for a large table, consent to a subsample → the
study runs in the background (explorer.live.LiveStudy, polled by a fragment) with progress, ETA and
Cancel → its results, the decision (tab_decision.panel) and the downloads. A saved study re-opens with
the same decision view.

The rows stay in this browser session's memory (its session state); nothing is written to disk. Only the
study — aggregates, never a row or a cell value — can be downloaded, and only when the user asks. Every
problem is one message.
"""
from __future__ import annotations

import json
import logging
from functools import partial

import streamlit as st

from .. import report, study, tables
from ..errors import ExplorerError
from ..live import LiveStudy
from . import components, tab_decision

PREFIX = "yd"  # widget keys of this tab, and of its decision panel
EPSILON_CHOICES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
DELTA_DEFAULT = "default: 1/(10·n) rounded down to a power of ten"
DELTA_CHOICES = (DELTA_DEFAULT, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3)
_log = logging.getLogger(__name__)


def _state():
    return st.session_state


def render() -> None:
    st.markdown(f"Upload a table (CSV, at most {tables.MAX_UPLOAD_MB} MB). Its rows stay in this browser session's "
                "memory: nothing is written to disk or to the run store, and closing the page drops them. A study "
                "trains the model at several budgets with the canary audit and a membership attack (RMIA), then "
                "you state what accuracy you need and what risk you accept.")
    left, right = st.columns(2)
    upload = left.file_uploader("Your table (CSV)", type=["csv", "txt", "tsv"], key="csv",
                                max_upload_size=tables.MAX_UPLOAD_MB,
                                help="comma, semicolon, tab or | separated, with a header row; UTF-8 or Latin-1")
    saved = right.file_uploader("…or re-open a saved study (JSON)", type=["json"], key=f"{PREFIX}_reopen",
                                help="a study downloaded from this tab: aggregates only, no rows")
    if saved is not None:
        _reopen(saved)
    if upload is not None:
        _table(upload)
    else:
        _state().pop(f"{PREFIX}_table", None)
    if _state().get(f"{PREFIX}_live") is not None:  # the fragment polls only while a study runs
        _progress()
    _outcome()
    result = _state().get(f"{PREFIX}_study")
    if result is not None:
        _results(result)


# ---------------------------------------------------------------- reading and choosing
def _read(upload) -> tuple[tables.Table | None, str | None]:
    """The uploaded table, read once per file (kept in this session's memory), or the one message why not."""
    state, key = _state(), f"{PREFIX}_table"
    held = state.get(key)
    if held is None or held["id"] != upload.file_id:
        table, error = None, None
        try:
            table = tables.read_table(upload.getvalue())
        except ExplorerError as e:
            error = str(e)
        except Exception as e:  # one message, never a traceback; the log has the details
            _log.exception("reading an uploaded table")
            error = f"could not read this file ({type(e).__name__}); save it as CSV UTF-8 with a header row"
        held = state[key] = {"id": upload.file_id, "table": table, "error": error, "prepared": {}}
        for choice in ("target", "types", "subsample"):  # a new file starts with its own choices
            state.pop(f"{PREFIX}_{choice}", None)
    return held["table"], held["error"]


def _types_editor(table: tables.Table, target: str | None) -> dict[str, str]:
    """The inferred types, one row per column, the type column editable; returns the overrides (the
    target's row is ignored: it is the target)."""
    import pandas as pd

    rows = table.preview()
    frame = pd.DataFrame(rows)  # the same rows whatever the target, so the editor's edits stay on their row
    edited = st.data_editor(
        frame, key=f"{PREFIX}_types", hide_index=True, width="stretch", num_rows="fixed",
        disabled=["column", "distinct", "missing", "note"],
        column_config={"type": st.column_config.SelectboxColumn("type", options=list(tables.TYPES), required=True,
                                                                help="numeric, categorical, or excluded (left out)"),
                       "distinct": st.column_config.NumberColumn("distinct values"),
                       "missing": st.column_config.NumberColumn("missing cells")})
    inferred = {r["column"]: r["type"] for r in rows}
    chosen = dict(zip(edited["column"], edited["type"]))
    return {c: t for c, t in chosen.items() if c != target and t in tables.TYPES and t != inferred.get(c)}


def _table(upload) -> None:
    table, error = _read(upload)
    if error:
        st.error(error)
        return
    state = _state()
    how = ", ".join(x for x in (table.encoding, tables.SEPARATORS.get(table.separator, "") + "-separated") if x)
    st.caption(f"{upload.name}: {table.n_rows:,} rows, {len(table.columns)} columns kept ({how}).")
    if table.notes:
        st.info("\n".join(f"- {n}" for n in table.notes))
    names = [c.name for c in table.columns]
    target = st.selectbox("Target column: what the model should predict", names, index=None,
                          placeholder="choose the target column", key=f"{PREFIX}_target")
    st.markdown("**Column types** (change a type to include or leave out a column; identifier-like columns are "
                "proposed for exclusion)")
    overrides = _types_editor(table, target)
    if target is None:
        st.info("Choose the target column to set up the study.")
        return
    subsample = False
    if table.n_rows > study.MAX_STUDY_ROWS:
        st.warning(f"The table has {table.n_rows:,} rows; a study here trains on at most {study.MAX_STUDY_ROWS:,}.")
        subsample = st.checkbox(f"Allow a random subsample of {study.MAX_STUDY_ROWS:,} rows (stratified by the "
                                "target); the report will say so", key=f"{PREFIX}_subsample")
    c1, c2, c3, c4 = st.columns(4)
    epsilons = c1.multiselect("Budgets ε to study", EPSILON_CHOICES, default=list(study.DEFAULT_EPSILONS),
                              key=f"{PREFIX}_epsilons", format_func=lambda e: f"{e:g}")
    seeds = c2.number_input("Seeds per budget", 1, 5, study.DEFAULT_SEEDS, key=f"{PREFIX}_seeds",
                            help="trainings per budget; two or more measure the spread the decision allows for")
    refs = c3.number_input("RMIA reference models", study.MIN_REFERENCE_MODELS, 8, 2, key=f"{PREFIX}_refs")
    delta = c4.selectbox("δ", DELTA_CHOICES, key=f"{PREFIX}_delta",
                         format_func=lambda d: d if isinstance(d, str) else f"{d:.0e}")
    try:
        spec = tables.TableSpec(target, types=tuple(overrides.items()), subsample=subsample)
        prepared = _prepare(table, spec)
        n = prepared.dataset.n_train
        d, rule, warnings = study.delta_policy(n, None if isinstance(delta, str) else float(delta))
    except ExplorerError as e:
        st.error(str(e))
        return
    s = prepared.summary
    recipe = study.size_recipe(n)
    st.caption(f"To study: {s['rows_used']:,} rows ({s['n_train']} train / {s['n_test']} test / {s['n_population']} "
               f"as the attacks' population), {s['features']} model inputs, {s['num_classes']} classes. "
               f"{recipe['why']}. δ = {d:g} ({rule}). The model and learning rate are tuned on a validation split "
               "of the training rows first.")
    for w in warnings:
        st.warning(w)
    public = _public_table()
    live = state.get(f"{PREFIX}_live")
    runs = (len(epsilons) + 1) * int(seeds)
    if st.button(f"Run the study ({runs} runs, each with {int(refs)} reference models)", key=f"{PREFIX}_start",
                 type="primary", disabled=live is not None or not epsilons):
        state[f"{PREFIX}_live"] = LiveStudy(prepared, epsilons=tuple(epsilons), seeds=int(seeds), reference_models=int(refs),
                                            delta=None if isinstance(delta, str) else float(delta), public=public)
        state.pop(f"{PREFIX}_outcome", None)
        st.rerun()
    if not epsilons:
        st.caption("Choose at least one budget.")


def _public_table() -> bytes | None:
    """An optional second upload that the user declares public: the DP runs pre-train on it (no ε spent)."""
    with st.expander("Public pre-training (optional)"):
        st.caption("A table with your table's columns that holds no one from your table and that you may publish "
                   "(for example an open dataset of the same kind). Every DP model first learns from it without "
                   "privacy; ε does not cover it, and the report says so.")
        upload = st.file_uploader("Public table (CSV)", type=["csv", "txt", "tsv"], key=f"{PREFIX}_public",
                                  max_upload_size=tables.MAX_UPLOAD_MB)
        declared = st.checkbox("I declare this table public", key=f"{PREFIX}_public_ok", disabled=upload is None)
    if upload is None:
        return None
    if not declared:
        st.caption("The public table is not used until you declare it public.")
        return None
    return upload.getvalue()


def _prepare(table: tables.Table, spec: tables.TableSpec) -> tables.PreparedTable:
    """tables.prepare once per (file, options), kept with the file in this session's memory."""
    held = _state()[f"{PREFIX}_table"]["prepared"]
    key = json.dumps(spec.to_dict(), sort_keys=True)
    if key not in held:
        held.clear()  # one prepared table at a time: the rows are held once more in it
        held[key] = tables.prepare(table, spec, row_limit=study.MAX_STUDY_ROWS)
    return held[key]


# ---------------------------------------------------------------- the running study
@st.fragment(run_every=0.5)
def _progress() -> None:
    """The running study's progress with ETA and Cancel; when it ends, its study (if any) becomes this
    session's result and the page reruns to show it."""
    state = _state()
    live: LiveStudy | None = state.get(f"{PREFIX}_live")
    if live is None:
        return
    if not live.done:
        s = live.status()
        eta = components.duration(s.get("eta_s"))
        st.progress(float(s.get("fraction") or 0.0),
                    text=f"Study: {s.get('label') or s.get('phase')} · {100 * (s.get('fraction') or 0):.0f} % · "
                         f"{components.duration(s['elapsed_s'])} elapsed, ETA {eta}")
        if st.button("Cancel the study", key=f"{PREFIX}_cancel"):
            live.cancel()
            st.caption("Cancelling after the current step…")
        return
    del state[f"{PREFIX}_live"]
    state[f"{PREFIX}_outcome"] = live.outcome()
    if live.study is not None:
        state[f"{PREFIX}_study"] = live.study
        state[f"{PREFIX}_source"] = "studied in this session"
    st.rerun(scope="app")


def _outcome() -> None:
    held = _state().get(f"{PREFIX}_outcome")
    if held is None:
        return
    kind, sentence = held
    {"done": st.success, "cancelled": st.info, "failed": st.error}[kind](sentence)


# ---------------------------------------------------------------- re-opening a saved study
def _reopen(saved) -> None:
    """A saved study becomes this session's result, once per file, with its decision's thresholds."""
    state, key = _state(), f"{PREFIX}_reopened"
    held = state.get(key)
    if held is None or held["id"] != saved.file_id:
        error = None
        try:
            loaded = study.validate_study(json.loads(saved.getvalue().decode("utf-8")))
        except ExplorerError as e:
            error = f"{saved.name}: {e}"
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            error = f"{saved.name} is not a readable study JSON ({type(e).__name__}); choose a study downloaded from this tab"
        else:
            state[f"{PREFIX}_study"] = loaded
            state[f"{PREFIX}_source"] = f"re-opened from {saved.name}"
            decided = loaded.get("decision")
            state[f"{PREFIX}_preset_notes"] = tab_decision.preset(PREFIX, decided) if isinstance(decided, dict) else []
        held = state[key] = {"id": saved.file_id, "error": error}
    if held["error"]:
        st.error(held["error"])
    for note in state.get(f"{PREFIX}_preset_notes", []):
        st.warning(note)


# ---------------------------------------------------------------- results, decision, downloads
def _fmt(v, spec=".3f") -> str:
    return "not recorded" if v is None else format(v, spec)


def _bound(v) -> str:
    return "not recorded" if v is None else "none certified" if v <= 0 else f"≥ {v:.2f}"


def _summary(result: dict) -> str:
    rows = ["| budget | ε spent | test accuracy (mean ± s.d.) | mean − s.d. | audit: ε lower bound | RMIA AUC | "
            "RMIA TPR at 0.1 % FPR | LOSS AUC |", "|---|---|---|---|---|---|---|---|"]
    for r in study.summary_rows(result):
        spent = "∞ (none)" if r["budget"] == "no privacy" else _fmt(r["epsilon_spent"])
        rows.append(f"| {r['budget']} | {spent} | {100 * r['accuracy_mean']:.1f} ± "
                    f"{100 * r['accuracy_sd']:.1f} % | {100 * r['accuracy_conservative']:.1f} % | "
                    f"{_bound(r['audit_epsilon_lower_bound'])} | {_fmt(r['rmia_auc'])} | "
                    f"{_fmt(r['rmia_tpr_at_0.001'])} | {_fmt(r['loss_auc'])} |")
    return "\n".join(rows)


def _results(result: dict) -> None:
    state = _state()
    t, s = result["table"], result["settings"]
    st.subheader("Study results")
    st.caption(f"{state.get(f'{PREFIX}_source', '')}: table {t['fingerprint']} ({t['rows_used']:,} rows, target "
               f"{t['target']!r}), {len(result['runs'])} runs, δ = {s['delta']:g}, {s['reference_models']} RMIA reference "
               f"models; DP recipe {s['recipe']['dp']['model']}, lr {s['recipe']['dp']['learning_rate']:g}, "
               f"clip {s['recipe']['clip_norm']:g}; {result['timing']['total_s']:.0f} s.")
    st.markdown(_summary(result))
    if result["warnings"]:
        st.warning("\n".join(f"- {w}" for w in result["warnings"]))
    st.subheader("Decision")
    points, notes = study.points(result)
    decided = state[f"{PREFIX}_decision"] = tab_decision.panel(points, notes, PREFIX)
    shared = {**result, "decision": decided} if decided is not None else {k: v for k, v in result.items()
                                                                          if k != "decision"}
    st.markdown("**Downloads** (built only when you press a button; aggregates only, never a row or a cell value)")
    name = f"dp-study-{t['fingerprint']}"
    a, b, c, d = st.columns(4)
    a.download_button("Study (JSON, re-opens here)", partial(_study_json, shared), file_name=f"{name}.json",
                      mime="application/json", key=f"{PREFIX}_dl_study", on_click="ignore")
    b.download_button("Report (Markdown)", partial(report.study_markdown, shared), file_name=f"{name}-report.md",
                      key=f"{PREFIX}_dl_md", on_click="ignore")
    c.download_button("Report (HTML, figures, offline)", partial(report.study_html, shared),
                      file_name=f"{name}-report.html", mime="text/html", key=f"{PREFIX}_dl_html", on_click="ignore")
    d.download_button("Report (JSON)", partial(report.study_json, shared), file_name=f"{name}-report.json",
                      mime="application/json", key=f"{PREFIX}_dl_json", on_click="ignore")
    st.caption("Reproduce this study on your table:")
    st.code(report.study_command(result), language="bash")
    if st.button("Close these results", key=f"{PREFIX}_close"):
        for k in ("study", "source", "outcome"):
            state.pop(f"{PREFIX}_{k}", None)
        st.rerun()


def _study_json(result: dict) -> str:
    """The study as saved by study.save_study (checked, no NaN), for the download button."""
    return json.dumps(study.validate_study(result), indent=1, allow_nan=False)
