"""The decision: a person states an accuracy floor and a risk ceiling; the studied budgets that meet both,
the recommended ε, or why none does and what would help (explorer.decision), with its figure.

`panel` is the view over any decision points: the "Your data" tab's study and, in the main view's
"Decide ε" tab (`render`), a shipped dataset's stored runs of one recipe at a time. Widget keys carry a
prefix, so both panels live on one page; `preset` sets a panel's thresholds (a re-opened study's).
"""
from __future__ import annotations

import streamlit as st

from .. import answer, decision, plots, report
from ..decision import Ceiling, Floor, Point
from ..errors import ExplorerError
from . import components

WITHIN, ABSOLUTE = "within some points of the non-private model", "an absolute test accuracy"
POSTERIOR, TPR, NO_CEILING = "what an attacker may come to believe", "what a membership test may find", "no ceiling"
FPR_STOPS = (0.001, 0.01, 0.1)
# the recipe of a stored run: every setting but the budget, the seed and how the budget was set
_NOT_RECIPE = ("mode", "target_epsilon", "noise_multiplier", "seed")


def _keys(prefix: str) -> dict:
    return {name: f"{prefix}_{name}" for name in
            ("floor_kind", "floor_points", "floor_abs", "ceiling_kind", "prior", "posterior", "fpr", "tpr")}


PERCENT_MIN, PRIOR_MAX = 1e-4, 99.9999  # the ceiling's inputs' range, in percent


def preset(prefix: str, decided: dict) -> list[str]:
    """Put a saved decision's thresholds into the panel's widgets (call before the panel is drawn).
    Returns the thresholds it could not show (outside the inputs' ranges), in words; those start from
    the panel's defaults instead."""
    k, state = _keys(prefix), st.session_state
    f, c = decided.get("floor") or {}, decided.get("ceiling")
    if f.get("kind") == "relative":
        state[k["floor_kind"]], state[k["floor_points"]] = WITHIN, 100 * f["value"]
    elif f.get("kind") == "absolute":
        state[k["floor_kind"]], state[k["floor_abs"]] = ABSOLUTE, 100 * f["value"]
    if c is None:
        state[k["ceiling_kind"]] = NO_CEILING
        return []
    percents = [100 * c["limit"]] + ([100 * c["prior"]] if c["kind"] == "posterior" else [])
    if min(percents) < PERCENT_MIN or c["kind"] == "posterior" and 100 * c["prior"] > PRIOR_MAX:
        return [f"the saved risk ceiling ({c.get('stated', c['kind'])}) uses a rate outside {PERCENT_MIN:g}–"
                f"{PRIOR_MAX:g} %, which this panel cannot show; it starts from its default ceiling instead"]
    if c["kind"] == "posterior":
        state[k["ceiling_kind"]], state[k["prior"]], state[k["posterior"]] = POSTERIOR, 100 * c["prior"], 100 * c["limit"]
    elif c["kind"] == "tpr":
        state[k["ceiling_kind"]], state[k["fpr"]], state[k["tpr"]] = TPR, c["fpr"], 100 * c["limit"]
    return []


def _start(key: str, value, options=None) -> None:
    """A widget's starting value, kept in session state (so `preset` can set it without a clash)."""
    state = st.session_state
    if key not in state or (options is not None and state[key] not in options):
        state[key] = value


def thresholds(prefix: str, baseline_mean: float | None) -> tuple[Floor, Ceiling | None]:
    """The two thresholds' widgets; raises ExplorerError when they make no sense together."""
    k = _keys(prefix)
    left, right = st.columns(2)
    with left:
        st.markdown("**Accuracy floor**: the model must keep")
        kinds = (WITHIN, ABSOLUTE) if baseline_mean is not None else (ABSOLUTE,)
        _start(k["floor_kind"], kinds[0], kinds)
        kind = st.radio("floor", kinds, key=k["floor_kind"], label_visibility="collapsed")
        if kind == WITHIN:
            _start(k["floor_points"], 2.0)
            pts = st.number_input("at most this many points below the non-private model", 0.0, 100.0, step=0.5,
                                  key=k["floor_points"], format="%g",
                                  help=f"the non-private model's mean test accuracy is {baseline_mean:.1%}")
            floor = Floor.within_points(float(pts))
        else:
            _start(k["floor_abs"], 80.0 if baseline_mean is None else max(0.0, float(round(100 * baseline_mean - 5))))
            pct = st.number_input("test accuracy of at least (%)", 0.0, 100.0, step=0.5, key=k["floor_abs"],
                                  format="%g")
            floor = Floor.absolute(float(pct) / 100)
    with right:
        st.markdown("**Risk ceiling**, from the guarantee: limit")
        _start(k["ceiling_kind"], POSTERIOR, (POSTERIOR, TPR, NO_CEILING))
        ck = st.radio("ceiling", (POSTERIOR, TPR, NO_CEILING), key=k["ceiling_kind"], label_visibility="collapsed")
        ceiling = None
        if ck == POSTERIOR:
            _start(k["prior"], 1.0)
            _start(k["posterior"], 10.0)
            prior = st.number_input("an attacker's prior that a given person is in the data (%)", PERCENT_MIN, PRIOR_MAX,
                                    step=0.5, key=k["prior"], format="%g")
            post = st.number_input("their belief after seeing the model, at most (%)", PERCENT_MIN, 100.0, step=1.0,
                                   key=k["posterior"], format="%g")
            ceiling = Ceiling.posterior(float(prior) / 100, float(post) / 100)
        elif ck == TPR:
            # a saved decision may have used another rate (the CLI takes any): it joins the stops
            saved = st.session_state.get(k["fpr"])
            stops = tuple(sorted(set(FPR_STOPS) | ({saved} if isinstance(saved, float) and 0 < saved <= 0.5 else set())))
            _start(k["fpr"], 0.01, stops)
            _start(k["tpr"], 5.0)
            fpr = st.selectbox("at a false-positive rate of", stops, key=k["fpr"],
                               format_func=lambda v: f"{100 * v:g} %")
            tpr = st.number_input("a membership test finds at most this share of the people in the data (%)",
                                  PERCENT_MIN, 100.0, step=1.0, key=k["tpr"], format="%g")
            ceiling = Ceiling.tpr(float(fpr), float(tpr) / 100)
    return floor, ceiling


def _check(ok: bool) -> str:
    return "✓" if ok else "✗"


def _table(decided: dict) -> str:
    c = decided["ceiling"]
    risk = ("risk bound" if c is None else "attacker's belief, at most" if c["kind"] == "posterior" else
            f"TPR at {100 * c['fpr']:g} % FPR, at most")
    rows = [f"| target ε | ε spent | accuracy (mean ± s.d.) | mean − s.d. | meets the floor | {risk} | "
            "meets the ceiling |", "|---|---|---|---|---|---|---|"]
    for r in decided["points"]:
        risk = "–" if r["risk"] is None else f"{100 * r['risk']:.3g} %"
        rows.append(f"| {r['epsilon']:g} | {r['epsilon_spent']:.3f} | {100 * r['mean']:.1f} ± {100 * r['sd']:.1f} % | "
                    f"{100 * r['conservative']:.1f} % | {_check(r['meets_floor'])} | {risk} | "
                    f"{_check(r['meets_ceiling'])} |")
    return "\n".join(rows)


def show(decided: dict, points: list[Point], prefix: str) -> None:
    """The decision in words, its figure and the per-budget checks."""
    (st.success if decided["verdict"] == "recommend" else st.warning)(decided["message"])
    if decided["interval"]:
        a, b = decided["interval"]
        st.markdown(f"**Studied ε meeting both:** {', '.join(f'{e:g}' for e in decided['meeting'])} "
                    f"(interval {a:g} – {b:g}) · **recommended ε = {decided['recommended']:g}**")
    if decided["advice"]:
        st.markdown("**What would help:**\n" + "\n".join(f"- {a}" for a in decided["advice"]))
    components.chart(plots.decision(decided, points), f"{prefix}_decision_chart")
    st.markdown(_table(decided))
    st.caption(f"Rule: {decided['rule']}. The ceiling is checked against the ε each budget spent (the largest "
               "over its seeds), from the guarantee, not from the attacks.")
    for note in decided["notes"]:
        st.caption(f"Note: {note}")


def panel(points: list[Point], notes: list[str], prefix: str) -> dict | None:
    """Thresholds → decision.decide → the decision shown; returns it (None when it cannot be made, after
    one message saying why)."""
    baseline = next((p for p in points if p.epsilon is None), None)
    try:
        floor, ceiling = thresholds(prefix, baseline.mean if baseline is not None else None)
        decided = decision.decide(points, floor, ceiling)
    except ExplorerError as e:
        st.error(str(e))
        return None
    show(decided, points, prefix)
    for note in notes:
        st.caption(f"Note: {note}")
    return decided


# ---------------------------------------------------------------- the main view: shipped datasets
def recipe(config: dict) -> dict:
    """The settings runs must share to be compared across budgets (decision.points_from_records' match)."""
    return {k: v for k, v in config.items() if k not in _NOT_RECIPE}


def recipe_label(r: dict) -> str:
    from ..choices import DP_SGD, technique_label

    technique = technique_label(r)
    head = "" if technique == DP_SGD else f"{technique}: "
    if r.get("technique") == "pate":
        head += f"{r['teachers']} teachers, {r['queries']} queries, "
    clip = "" if r.get("clip_norm") is None else f"C = {r['clip_norm']:g}, "
    return (f"{head}{clip}{r['model']}, {r['epochs']} epochs, batch {r['batch_size']}, "
            f"lr {r['learning_rate']:g}, δ = {r['delta']:g}")


def render(ans: answer.Answer, records: list[dict]) -> dict | None:
    """The decision over a shipped dataset's stored runs of one recipe (chosen; the shown run's by default)."""
    dataset = ans.asked.dataset
    recipes: dict[str, dict] = {}
    for r in records:
        if r["config"]["mode"] == "epsilon":
            rec = recipe(r["config"])
            recipes.setdefault(recipe_label(rec), rec)
    if not recipes:
        st.info(f"No stored run of {dataset} has a target ε to decide over.")
        return None
    labels = sorted(recipes)
    shown = ans.record
    default = recipe_label(recipe(shown["config"])) if shown is not None and shown["config"]["mode"] == "epsilon" else None
    chosen = st.selectbox("Recipe (runs compared across budgets share every other setting)", labels,
                          index=labels.index(default) if default in labels else 0, key=f"decide_recipe_{dataset}")
    points, notes = decision.points_from_records(records, match=recipes[chosen])
    budgets = [p for p in points if p.epsilon is not None]
    seeds = sorted({len(p.accuracies) for p in budgets})
    st.caption(f"Deciding over the stored runs of {dataset} with {chosen}: {len(budgets)} budget(s), "
               f"{'/'.join(map(str, seeds))} seed(s) each; the non-private baseline has its own tuned recipe.")
    decided = panel(points, notes, "main")
    if decided is not None and shown is not None:
        _downloads(ans, decided, records)
    return decided


def _downloads(ans: answer.Answer, decided: dict, records: list[dict]) -> None:
    from functools import partial

    record = ans.record
    baseline = answer.baseline(record, records)
    name = f"dp-report-{record['key']}-decision"
    st.caption(f"The report of the run shown, **{answer.label(record)}**"
               + (" (the nearest cached run, not the asked one)" if ans.stand_in else "")
               + ", with this decision and its thresholds:")
    a, b, c = st.columns(3)
    a.download_button("Markdown", partial(report.markdown, record, baseline, decided), file_name=f"{name}.md",
                      key="main_dl_md", on_click="ignore")
    b.download_button("HTML (figures, offline)", partial(report.html_with_figures, record, baseline, records, decided),
                      file_name=f"{name}.html", mime="text/html", key="main_dl_html", on_click="ignore")
    c.download_button("JSON", partial(report.json_report, record, baseline, decided), file_name=f"{name}.json",
                      mime="application/json", key="main_dl_json", on_click="ignore")
