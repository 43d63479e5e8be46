"""Plotly figures: pure functions of RunRecords (no training, no I/O), `plotly.graph_objects.Figure` out.

The app draws them with st.plotly_chart and the HTML report embeds the same figures. Every trace has a
name, and legends show each series' colour, dash and marker, so a reader can tell the series apart
(and `series_names` lists them for tests). Rates of 0 on the log-log ROC panels are drawn on FLOOR.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go

from . import accounting
from .answer import label

# Accountants told apart by colour, dash, marker and width: PRV is drawn widest and first, so PLD (which
# often coincides with it) lies on top as a thin dotted line and PRV still shows around it.
ACCOUNTANT_STYLE = {"PRV": dict(color="#1f77b4", dash="solid", symbol="circle", width=5),
                    "RDP": dict(color="#8c564b", dash="dash", symbol="square", width=2.5),
                    "PLD": dict(color="#2ca02c", dash="dot", symbol="diamond", width=2)}
SERIES_COLOURS = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
SHOWN, ASKED, BOUND, GDP, CHANCE = "#d62728", "#ff7f0e", "#d62728", "#ff7f0e", "#7f7f7f"
FLOOR = 1e-4  # log axes of the ROC panels start here
HEIGHT = 400
# st.plotly_chart's config: no Plotly logo, no tools a reader of three small panels does not need
CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"]}


def _figure(title: str, x_title: str, y_title: str, x_log: bool = False, y_log: bool = False) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=dict(text=title, x=0, xanchor="left", font=dict(size=15)), height=HEIGHT,
                      margin=dict(l=55, r=10, t=40, b=10), hovermode="closest",
                      legend=dict(orientation="h", yref="container", yanchor="bottom", y=0, x=0, xanchor="left"))
    fig.update_xaxes(title_text=x_title, type="log" if x_log else "linear")
    fig.update_yaxes(title_text=y_title, type="log" if y_log else "linear")
    return fig


def _private(records):
    return [r for r in records if r["privacy"]["epsilon"] is not None]


def by_clip(record: dict) -> str:
    """The frontier's default series: DP-SGD runs by clip norm (runs driven by σ apart)."""
    c = record["config"]
    return f"C={c['clip_norm']:g}" + (" (driven by σ)" if c["mode"] == "noise" else "")


def by_technique(record: dict) -> str:
    """The frontier's series: plain DP-SGD runs by clip norm (by_clip), every other technique its own
    series (pre-trained runs by clip norm too; adaptive clipping starts from the clip norm it adapts)."""
    from .choices import ADAPTIVE, DP_SGD, PRETRAINED, technique_label

    label = technique_label(record["config"])
    if label == DP_SGD:
        return by_clip(record)
    if label == ADAPTIVE:
        return "adaptive clipping" + (" (driven by σ)" if record["config"]["mode"] == "noise" else "")
    if label == PRETRAINED:
        return f"pre-trained on digits, {by_clip(record)}"
    return label


def frontier(records: list[dict], shown: dict | None = None, asked_epsilon: float | None = None,
             exact: bool = True, title: str = "Accuracy vs ε",
             series_of: Callable[[dict], str] = by_technique) -> go.Figure:
    """Test accuracy against reported ε. Each series (by default: each technique, plain DP-SGD by clip
    norm; `series_of` may group otherwise) joins its configurations; a point is the mean over seeds with the min–max spread
    as an error bar. The non-private accuracy is a dashed line, the shown run a star, and when the shown
    run stands in for an uncached one the asked ε is a dotted vertical line of its own."""
    fig = _figure(title, "ε spent (log scale)", "test accuracy", x_log=True)
    groups: dict[str, dict[tuple, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in _private(records):
        c = r["config"]
        groups[series_of(r)][(c["mode"], c["target_epsilon"] or c["noise_multiplier"])].append(r)
    xs, ys = [], []
    for i, name in enumerate(sorted(groups)):
        points = []
        for rs in groups[name].values():
            accs = [r["utility"]["test_accuracy"] for r in rs]
            mean = statistics.mean(accs)
            points.append((statistics.mean(r["privacy"]["epsilon_reported"] for r in rs), mean,
                           mean - min(accs), max(accs) - mean, len(rs)))
        points.sort()
        x, y, lo, hi, n = (list(v) for v in zip(*points))
        xs += x
        ys += [a - b for a, b in zip(y, lo)] + [a + b for a, b in zip(y, hi)]
        fig.add_trace(go.Scatter(x=x, y=y, name=name, mode="lines+markers", customdata=n,
                                 line=dict(color=SERIES_COLOURS[i % len(SERIES_COLOURS)], width=2),
                                 error_y=dict(type="data", symmetric=False, array=hi, arrayminus=lo, width=3,
                                              thickness=1.2),
                                 hovertemplate="ε %{x:.2f}<br>accuracy %{y:.3f}<br>%{customdata} seed(s)"
                                               "<extra>%{fullData.name}</extra>"))
    base = [r["utility"]["test_accuracy"] for r in records if r["privacy"]["epsilon"] is None]
    if shown is not None and shown["privacy"]["epsilon"] is not None:
        xs.append(shown["privacy"]["epsilon_reported"])
        ys.append(shown["utility"]["test_accuracy"])
    if asked_epsilon is not None and not exact:
        xs.append(asked_epsilon)
    lo_x, hi_x = (min(xs) / 1.6, max(xs) * 1.6) if xs else (0.1, 20.0)
    if base:
        acc = statistics.mean(base)
        ys.append(acc)
        fig.add_trace(go.Scatter(x=[lo_x, hi_x], y=[acc, acc], mode="lines", name=f"no privacy ({acc:.1%})",
                                 line=dict(color="black", dash="dash", width=1.5),
                                 hovertemplate=f"no privacy: accuracy {acc:.3f}<extra></extra>"))
    if shown is not None and shown["privacy"]["epsilon"] is not None:
        fig.add_trace(go.Scatter(x=[shown["privacy"]["epsilon_reported"]], y=[shown["utility"]["test_accuracy"]],
                                 mode="markers", name="this run" if exact else "shown: nearest cached run",
                                 marker=dict(symbol="star", size=17, color=SHOWN, line=dict(color="white", width=1)),
                                 hovertemplate=f"{label(shown)}<br>accuracy %{{y:.3f}}<extra></extra>"))
    if asked_epsilon is not None and not exact and ys:
        span = [min(ys) - 0.02, max(ys) + 0.02]
        fig.add_trace(go.Scatter(x=[asked_epsilon, asked_epsilon], y=span, mode="lines",
                                 name=f"asked: ε = {asked_epsilon:.3g} (not cached)",
                                 line=dict(color=ASKED, dash="dot", width=2.5),
                                 hovertemplate=f"asked ε = {asked_epsilon:.3g}: not trained yet<extra></extra>"))
    ticks = [t for t in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100) if lo_x <= t <= hi_x]
    fig.update_xaxes(range=[np.log10(lo_x), np.log10(hi_x)], tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])
    return fig


def budget(record: dict) -> go.Figure:
    """ε spent after each epoch by each accountant, with the target ε as a line."""
    p, c = record["privacy"], record["config"]
    fig = _figure("Privacy budget spent", "epoch", "ε")
    if p["epsilon"] is None:
        fig.add_annotation(text="no privacy: ε is unbounded", x=0.5, y=0.5, xref="paper", yref="paper",
                           showarrow=False, font=dict(size=15))
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
        return fig
    if p.get("epsilon_by_query"):  # PATE spends its budget per answered query, not per epoch
        return _budget_by_query(record)
    rows = p["epsilon_by_epoch"]
    return _spent(fig, [e["epoch"] for e in rows], rows, "after epoch %{x}", c.get("target_epsilon"))


def _spent(fig: go.Figure, xs: list, rows: list[dict], after: str, target: float | None) -> go.Figure:
    """ε by each accountant along `xs` (told apart by dash and marker), and the target as a line."""
    for name, s in ACCOUNTANT_STYLE.items():
        fig.add_trace(go.Scatter(x=xs, y=[r[name.lower()] for r in rows], name=name, mode="lines+markers",
                                 line=dict(color=s["color"], dash=s["dash"], width=s["width"]),
                                 marker=dict(symbol=s["symbol"], size=7 if name == "PRV" else 6, color=s["color"]),
                                 hovertemplate=f"{name}: ε %{{y:.3f}} {after}<extra></extra>"))
    if target:
        fig.add_trace(go.Scatter(x=[min(xs), max(xs)], y=[target, target], mode="lines", name=f"target ε = {target:g}",
                                 line=dict(color=SHOWN, dash="dashdot", width=1.5),
                                 hovertemplate=f"target ε = {target:g}<extra></extra>"))
    return fig


def _budget_by_query(record: dict) -> go.Figure:
    """PATE: ε spent after each number of answered GNMax queries, by each accountant, and the target."""
    p, c = record["privacy"], record["config"]
    fig = _figure("Privacy budget spent (PATE: per answered query)", "queries answered", "ε")
    rows = p["epsilon_by_query"]
    return _spent(fig, [r["queries"] for r in rows], rows, "after %{x} queries", c.get("target_epsilon"))


def _roc_figure(title: str) -> go.Figure:
    fig = _figure(title, "false positive rate (log)", "true positive rate (log)", x_log=True, y_log=True)
    ticks = dict(tickvals=[1e-4, 1e-3, 1e-2, 1e-1, 1], ticktext=["0.0001", "0.001", "0.01", "0.1", "1"],
                 range=[np.log10(FLOOR), 0.02])
    fig.update_xaxes(**ticks)
    fig.update_yaxes(**ticks)
    return fig


def _floor(v) -> list[float]:
    return [round(float(a), 6) for a in np.maximum(np.asarray(v, float), FLOOR)]


def _reference(fig: go.Figure, name: str, colour: str, dash: str, fpr, tpr) -> None:
    fig.add_trace(go.Scatter(x=_floor(fpr), y=_floor(tpr), name=name, mode="lines",
                             line=dict(color=colour, dash=dash, width=2),
                             hovertemplate=f"{name}<br>FPR %{{x:.4f}}, TPR %{{y:.4f}}<extra></extra>"))


def _attack(fig: go.Figure, name: str, colour: str, roc: dict) -> None:
    fig.add_trace(go.Scatter(x=_floor(roc["fpr"]), y=_floor(roc["tpr"]), name=name, mode="lines",
                             line=dict(color=colour, width=2, shape="hv"),
                             hovertemplate=f"{name}<br>FPR %{{x:.4f}}, TPR %{{y:.4f}}<extra></extra>"))


ATTACKS = (("audit", "canary audit", "#9467bd"), ("mia", "RMIA", "#1f77b4"), ("loss_attack", "LOSS", "#7f7f7f"))


def attack_roc(record: dict) -> go.Figure:
    """Attack ROC on log-log axes: canary audit, RMIA and LOSS, the diagonal, and the curves no attack
    can beat under the run's (ε, δ) and (approximately) its GDP μ."""
    fig = _roc_figure("Attacks vs the guarantee")
    fpr = np.geomspace(FLOOR, 1, 120)
    _reference(fig, "chance", CHANCE, "dot", fpr, fpr)
    p = record["privacy"]
    if p["epsilon"] is not None:
        _reference(fig, f"(ε={p['epsilon_reported']:.2f}, δ) bound", BOUND, "solid",
                   fpr, accounting.tradeoff_tpr(fpr, p["epsilon_reported"], p["delta"]))
        if p.get("gdp_mu"):
            _reference(fig, f"GDP μ={p['gdp_mu']:.2f} bound (approx.)", GDP, "dash", fpr, accounting.gdp_tpr(fpr, p["gdp_mu"]))
    for key, name, colour in ATTACKS:
        block = record["attacks"].get(key)
        if block and block.get("roc"):
            _attack(fig, f"{name} (AUC {block['auc']:.2f})", colour, block["roc"])
    return fig


def audit_histogram(record: dict) -> go.Figure:
    """Canary scores of members and non-members, overlaid on the same bins."""
    fig = _figure("Canary scores (logit-scaled confidence)", "score", "canaries")
    block = record["attacks"].get("audit")
    scores = (block or {}).get("scores")
    if not scores:
        fig.add_annotation(text="no canary audit in this run", x=0.5, y=0.5, xref="paper", yref="paper",
                           showarrow=False)
        return fig
    both = [float(s) for s in scores["members"] + scores["nonmembers"]]
    lo, hi = min(both), max(both)
    bins = dict(start=lo, end=hi + 1e-9, size=(hi - lo) / 30 or 1.0)
    for kind, name, colour in (("members", "canaries trained on", SHOWN), ("nonmembers", "canaries left out", "#1f77b4")):
        fig.add_trace(go.Histogram(x=scores[kind], name=name, xbins=bins, marker=dict(color=colour), opacity=0.6,
                                   hovertemplate=f"{name}: %{{y}} with score in %{{x}}<extra></extra>"))
    fig.update_layout(barmode="overlay", bargap=0)
    return fig


def compare(records: list[dict]) -> go.Figure:
    """Overlaid attack ROCs of pinned runs (canary audit where present, else RMIA)."""
    fig = _roc_figure("Pinned runs: attack ROC")
    fpr = np.geomspace(FLOOR, 1, 60)
    _reference(fig, "chance", CHANCE, "dot", fpr, fpr)
    for i, r in enumerate(records):
        block = r["attacks"].get("audit") or r["attacks"].get("mia")
        if block and block.get("roc"):
            _attack(fig, label(r), SERIES_COLOURS[i % len(SERIES_COLOURS)], block["roc"])
    return fig


def series_names(fig) -> list[str]:
    """The legend entries a figure draws, in order; takes a Figure or its JSON dict (AppTest's proto)."""
    data = fig["data"] if isinstance(fig, dict) else fig.data
    return [t["name"] if isinstance(t, dict) else t.name for t in data]


def _accuracies(point) -> tuple[float | None, list[float]]:
    """(ε spent, each seed's accuracy) of a decision.Point or its to_dict() (a study's summary row)."""
    if isinstance(point, dict):
        return point.get("epsilon_spent"), list(point["test_accuracy"]["values"]) if point["epsilon"] is not None else []
    return point.epsilon_spent, list(point.accuracies) if point.epsilon is not None else []


def decision(decided: dict, points: list | None = None, title: str = "Accuracy vs ε: the decision") -> go.Figure:
    """The decision (explorer.decision.decide's dict) drawn: each studied budget's mean accuracy over its
    seeds against the ε it spent, ± one s.d., with mean − s.d. (what the floor is checked against) as open
    markers; each seed's accuracy as dots when `points` (decision Points or a study's summary rows) are
    given; the accuracy floor and the non-private accuracy as lines; the risk ceiling's largest ε as a
    vertical line; the studied budgets meeting both shaded; the recommended budget a star."""
    fig = _figure(title, "ε spent (log scale)", "test accuracy", x_log=True)
    rows = [r for r in decided["points"] if r.get("epsilon_spent") is not None]
    xs = [r["epsilon_spent"] for r in rows]
    ys = [r["mean"] - r["sd"] for r in rows] + [r["mean"] + r["sd"] for r in rows]
    floor, ceiling = decided["floor"], decided.get("ceiling")
    eps_max = (ceiling or {}).get("epsilon_max")
    if eps_max is not None:
        xs.append(eps_max)
    lo_x, hi_x = (min(xs) / 1.6, max(xs) * 1.6) if xs else (0.1, 20.0)
    ys.append(floor["accuracy"])
    if floor.get("baseline_mean") is not None:
        ys.append(floor["baseline_mean"])
    for p in points or []:
        eps, accs = _accuracies(p)
        ys += accs
    y_lo, y_hi = max(0.0, min(ys) - 0.03), min(1.0, max(ys) + 0.03)
    meeting = [r for r in rows if r["epsilon"] in (decided.get("meeting") or [])]
    if meeting:
        a, b = min(r["epsilon_spent"] for r in meeting), max(r["epsilon_spent"] for r in meeting)
        a, b = a / 1.15, b * 1.15  # a band around the points, so a single budget still shows
        budgets = ", ".join(f"{r['epsilon']:g}" for r in meeting)
        fig.add_trace(go.Scatter(x=[a, b, b, a, a], y=[y_lo, y_lo, y_hi, y_hi, y_lo], fill="toself", mode="lines",
                                 line=dict(width=0), fillcolor="rgba(44,160,44,0.13)",
                                 name=f"meets both: ε = {budgets}",
                                 hoverinfo="skip"))
    seeds_x, seeds_y = [], []
    for p in points or []:
        eps, accs = _accuracies(p)
        if eps is not None:
            seeds_x += [eps] * len(accs)
            seeds_y += accs
    if seeds_x:
        fig.add_trace(go.Scatter(x=seeds_x, y=seeds_y, mode="markers", name="each seed",
                                 marker=dict(color=CHANCE, size=6, symbol="circle"),
                                 hovertemplate="ε %{x:.2f}: accuracy %{y:.3f} (one seed)<extra></extra>"))
    if rows:
        targets = [r["epsilon"] for r in rows]
        fig.add_trace(go.Scatter(x=[r["epsilon_spent"] for r in rows], y=[r["mean"] for r in rows],
                                 mode="lines+markers", name="mean over seeds (± s.d.)", customdata=targets,
                                 line=dict(color=SERIES_COLOURS[0], width=2), marker=dict(size=8),
                                 error_y=dict(type="data", array=[r["sd"] for r in rows], width=3, thickness=1.2),
                                 hovertemplate="target ε %{customdata:g}, spent %{x:.2f}<br>mean accuracy %{y:.3f}"
                                               "<extra></extra>"))
        for meets, name, symbol in ((True, "mean − s.d.: meets the floor", "circle"),
                                    (False, "mean − s.d.: below the floor", "x-thin-open")):
            part = [r for r in rows if r["meets_floor"] == meets]
            if part:
                fig.add_trace(go.Scatter(x=[r["epsilon_spent"] for r in part], y=[r["conservative"] for r in part],
                                         mode="markers", name=name, customdata=[r["epsilon"] for r in part],
                                         marker=dict(symbol=symbol, size=10, color=SERIES_COLOURS[0], line=dict(width=2)),
                                         hovertemplate="target ε %{customdata:g}: mean − s.d. %{y:.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[lo_x, hi_x], y=[floor["accuracy"]] * 2, mode="lines",
                             name=f"accuracy floor ({100 * floor['accuracy']:.1f} %)",
                             line=dict(color=SHOWN, dash="dash", width=2),
                             hovertemplate=f"{floor['stated']}<extra></extra>"))
    if floor.get("baseline_mean") is not None:
        acc = floor["baseline_mean"]
        fig.add_trace(go.Scatter(x=[lo_x, hi_x], y=[acc, acc], mode="lines", name=f"no privacy ({acc:.1%})",
                                 line=dict(color="black", dash="dot", width=1.5),
                                 hovertemplate=f"no privacy: mean accuracy {acc:.3f}<extra></extra>"))
    if eps_max is not None:
        fig.add_trace(go.Scatter(x=[eps_max, eps_max], y=[y_lo, y_hi], mode="lines",
                                 name=f"risk ceiling: ε ≤ {eps_max:.3g}", line=dict(color=ASKED, width=2.5),
                                 hovertemplate=f"{ceiling['stated']}: ε ≤ {eps_max:.3g}<extra></extra>"))
    elif ceiling is not None and not ceiling.get("epsilon_max_unbounded"):
        fig.add_annotation(text="no ε meets the risk ceiling", x=0.5, y=0.95, xref="paper", yref="paper",
                           showarrow=False, font=dict(color=ASKED, size=14))
    rec = next((r for r in rows if r["epsilon"] == decided.get("recommended")), None)
    if rec is not None:
        fig.add_trace(go.Scatter(x=[rec["epsilon_spent"]], y=[rec["mean"]], mode="markers",
                                 name=f"recommended: ε = {rec['epsilon']:g}",
                                 marker=dict(symbol="star", size=18, color=SHOWN, line=dict(color="white", width=1)),
                                 hovertemplate=f"recommended: target ε = {rec['epsilon']:g}, spent "
                                               f"{rec['epsilon_spent']:.2f}<extra></extra>"))
    ticks = [t for t in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100) if lo_x <= t <= hi_x]
    fig.update_xaxes(range=[np.log10(lo_x), np.log10(hi_x)], tickvals=ticks, ticktext=[f"{t:g}" for t in ticks])
    fig.update_yaxes(range=[y_lo, y_hi], tickformat=".0%")
    return fig


def reconstruction(studies: list[dict]) -> go.Figure:
    """The reconstruction studies (attacks/reconstruction.py) side by side: each budget's success rate
    with its 95 % interval, the ReRo bound DP puts on any such attack at that budget, and the blind
    guess κ. Budgets are categories ("no privacy" first): the bound is a per-study figure, not a curve."""
    fig = _figure("Reconstruction of a training record: success vs the DP bound", "privacy budget",
                  "success rate")
    names = ["no privacy" if s["epsilon"] is None else f"ε = {s['epsilon']:g}" for s in studies]
    rates = [s["success_rate"] for s in studies]
    fig.add_trace(go.Scatter(
        x=names, y=rates, mode="markers", name="attack success (95 % interval)",
        marker=dict(color=SERIES_COLOURS[0], size=11),
        error_y=dict(type="data", symmetric=False, array=[s["interval"][1] - r for s, r in zip(studies, rates)],
                     arrayminus=[r - s["interval"][0] for s, r in zip(studies, rates)], width=5, thickness=1.5),
        customdata=[[s["successes"], s["targets"]] for s in studies],
        hovertemplate="%{x}: %{customdata[0]} of %{customdata[1]} targets<extra></extra>"))
    bounded = [(n, s["bound"]) for n, s in zip(names, studies) if s["bound"] is not None]
    if bounded:
        fig.add_trace(go.Scatter(x=[n for n, _ in bounded], y=[b for _, b in bounded], mode="markers+lines",
                                 name="DP bound on any such attack (ReRo)",
                                 marker=dict(symbol="line-ew-open", size=22, color=BOUND, line=dict(width=3)),
                                 line=dict(color=BOUND, dash="dot", width=1),
                                 hovertemplate="%{x}: no attack succeeds more than %{y:.1%}<extra></extra>"))
    if studies:
        kappa = studies[0]["kappa"]
        fig.add_trace(go.Scatter(x=names, y=[kappa] * len(names), mode="lines", name=f"blind guess (κ = {kappa:g})",
                                 line=dict(color=CHANCE, dash="dash", width=1.5), hoverinfo="skip"))
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%")
    return fig
