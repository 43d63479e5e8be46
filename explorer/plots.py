"""Plotly figures: pure functions of RunRecords (no training, no I/O)."""
from __future__ import annotations

import statistics
from collections import defaultdict

import numpy as np
import plotly.graph_objects as go

from . import accounting

ACC_COLOURS = {"rdp": "#8c564b", "prv": "#1f77b4", "pld": "#2ca02c"}
LAYOUT = dict(height=340, margin=dict(l=50, r=10, t=40, b=45), legend=dict(orientation="h", y=-0.25),
              template="plotly_white")


def _private(records):
    return [r for r in records if r["privacy"]["epsilon"] is not None]


def frontier(records: list[dict], current: dict | None = None, title: str = "Accuracy vs ε") -> go.Figure:
    """Test accuracy against reported ε: cached runs (mean ± spread over seeds per configuration),
    the non-private accuracy as a line, and the current run marked."""
    fig = go.Figure()
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in _private(records):
        c = r["config"]
        groups[(c["clip_norm"], c["target_epsilon"] or round(r["privacy"]["epsilon_reported"], 2))].append(r)
    by_clip: dict[float, list[tuple]] = defaultdict(list)
    for (clip, _), rs in groups.items():
        eps = statistics.mean(r["privacy"]["epsilon_reported"] for r in rs)
        accs = [r["utility"]["test_accuracy"] for r in rs]
        spread = (max(accs) - min(accs)) / 2 if len(accs) > 1 else 0.0
        by_clip[clip].append((eps, statistics.mean(accs), spread, len(rs)))
    for clip in sorted(by_clip):
        pts = sorted(by_clip[clip])
        fig.add_trace(go.Scatter(
            x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers", name=f"cached, C = {clip:g}",
            error_y=dict(type="data", array=[p[2] for p in pts], visible=True),
            customdata=[p[3] for p in pts],
            hovertemplate="ε %{x:.2f}<br>accuracy %{y:.3f}<br>%{customdata} seed(s)<extra></extra>"))
    baseline = [r["utility"]["test_accuracy"] for r in records if r["privacy"]["epsilon"] is None]
    if baseline:
        fig.add_hline(y=statistics.mean(baseline), line_dash="dash", line_color="black",
                      annotation_text=f"no privacy {statistics.mean(baseline):.3f}",
                      annotation_position="bottom right")
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=dict(dash="dash", color="black"),
                                 name="non-private"))
    if current is not None and current["privacy"]["epsilon"] is not None:
        fig.add_trace(go.Scatter(
            x=[current["privacy"]["epsilon_reported"]], y=[current["utility"]["test_accuracy"]],
            mode="markers", name="this run", marker=dict(symbol="star", size=16, color="#d62728"),
            hovertemplate="this run<br>ε %{x:.2f}<br>accuracy %{y:.3f}<extra></extra>"))
    fig.update_layout(title=title, xaxis=dict(title="ε (reported accountant)", type="log"),
                      yaxis=dict(title="test accuracy"), **LAYOUT)
    return fig


def budget(record: dict) -> go.Figure:
    """ε spent after each epoch by each accountant, with the target as a line."""
    fig = go.Figure()
    p, c = record["privacy"], record["config"]
    if p["epsilon"] is None:
        fig.add_annotation(text="no privacy: ε is unbounded", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper")
    else:
        epochs = [e["epoch"] for e in p["epsilon_by_epoch"]]
        for name in ("prv", "rdp", "pld"):
            fig.add_trace(go.Scatter(x=epochs, y=[e[name] for e in p["epsilon_by_epoch"]], mode="lines+markers",
                                     name=name.upper(), line=dict(color=ACC_COLOURS[name])))
        if c.get("target_epsilon"):
            fig.add_hline(y=c["target_epsilon"], line_dash="dot", line_color="#d62728",
                          annotation_text=f"target ε = {c['target_epsilon']:g}")
    fig.update_layout(title="Privacy budget spent", xaxis=dict(title="epoch"), yaxis=dict(title="ε"), **LAYOUT)
    return fig


def attack_roc(record: dict) -> go.Figure:
    """Attack ROC on log-log axes: canary audit and RMIA (and LOSS), the diagonal, and the curves no
    attack can beat under the run's (ε, δ) and GDP μ."""
    fig = go.Figure()
    fpr = np.geomspace(1e-4, 1, 200)
    fig.add_trace(go.Scatter(x=fpr, y=fpr, mode="lines", name="chance", line=dict(color="grey", dash="dot")))
    p = record["privacy"]
    if p["epsilon"] is not None:
        fig.add_trace(go.Scatter(x=fpr, y=np.maximum(accounting.tradeoff_tpr(fpr, p["epsilon_reported"], p["delta"]), 1e-4),
                                 mode="lines", name=f"(ε={p['epsilon_reported']:.2f}, δ) bound",
                                 line=dict(color="#d62728")))
        if p.get("gdp_mu"):
            fig.add_trace(go.Scatter(x=fpr, y=accounting.gdp_tpr(fpr, p["gdp_mu"]), mode="lines",
                                     name=f"GDP μ={p['gdp_mu']:.2f} (approx.)",
                                     line=dict(color="#ff7f0e", dash="dash")))
    for key, label, colour in (("audit", "canary audit", "#9467bd"), ("mia", "RMIA", "#1f77b4"),
                               ("loss_attack", "LOSS", "#7f7f7f")):
        block = record["attacks"].get(key)
        if block:
            x = np.maximum(block["roc"]["fpr"], 1e-4)
            y = np.maximum(block["roc"]["tpr"], 1e-4)
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=f"{label} (AUC {block['auc']:.2f})",
                                     line=dict(color=colour, shape="hv")))
    fig.update_layout(title="Attacks vs the guarantee",
                      xaxis=dict(title="false positive rate", type="log", range=[-4, 0]),
                      yaxis=dict(title="true positive rate", type="log", range=[-4, 0]), **LAYOUT)
    return fig


def audit_histogram(record: dict) -> go.Figure:
    fig = go.Figure()
    block = record["attacks"].get("audit")
    if block:
        for kind, colour in (("members", "#d62728"), ("nonmembers", "#1f77b4")):
            fig.add_trace(go.Histogram(x=block["scores"][kind], name=f"canaries {kind.replace('non', 'not ')}",
                                       opacity=0.6, marker_color=colour, nbinsx=30))
        fig.update_layout(barmode="overlay")
    fig.update_layout(title="Canary scores (logit-scaled confidence)", xaxis=dict(title="score"),
                      yaxis=dict(title="canaries"), **LAYOUT)
    return fig


def compare(records: list[dict]) -> go.Figure:
    """Overlaid attack ROCs of pinned runs (canary audit where present, else RMIA)."""
    fig = go.Figure()
    fpr = np.geomspace(1e-4, 1, 100)
    fig.add_trace(go.Scatter(x=fpr, y=fpr, mode="lines", name="chance", line=dict(color="grey", dash="dot")))
    for r in records:
        block = r["attacks"].get("audit") or r["attacks"].get("mia")
        if block:
            fig.add_trace(go.Scatter(x=np.maximum(block["roc"]["fpr"], 1e-4), y=np.maximum(block["roc"]["tpr"], 1e-4),
                                     mode="lines", name=label(r), line=dict(shape="hv")))
    fig.update_layout(title="Pinned runs: attack ROC", xaxis=dict(title="FPR", type="log", range=[-4, 0]),
                      yaxis=dict(title="TPR", type="log", range=[-4, 0]), **LAYOUT)
    return fig


def label(record: dict) -> str:
    c, p = record["config"], record["privacy"]
    eps = "no privacy" if p["epsilon"] is None else f"ε={p['epsilon_reported']:.2f}"
    clip = f", C={c['clip_norm']:g}" if c.get("clip_norm") else ""
    return f"{c['dataset']} {eps}{clip}, seed {c['seed']}"
