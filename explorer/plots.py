"""Vega-Lite chart specs: pure functions of RunRecords (no training, no I/O), plain dicts out.

Vega-Lite rather than Plotly: it is Streamlit's own chart library, and its front-end bundle drew three
charts in headless Chromium about a second sooner than Plotly's 4.7 MB one (docs/performance.md).
Every chart names its legend entries in a `series` field of its layers' data (`series_names` reads
them). Each layer carries its own data: Streamlit converts a spec's top-level data to Arrow (pandas),
which the app's first render would otherwise pay for.
"""
from __future__ import annotations

import statistics
from collections import defaultdict

import numpy as np

from . import accounting

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"
ACC_COLOURS = {"PRV": "#1f77b4", "RDP": "#8c564b", "PLD": "#2ca02c"}
CLIP_COLOURS = ["#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
STAR = "M0,-1L0.24,-0.31L0.95,-0.31L0.38,0.12L0.59,0.81L0,0.38L-0.59,0.81L-0.38,0.12L-0.95,-0.31L-0.24,-0.31Z"
FLOOR = 1e-4  # log axes of the ROC panels start here; rates of 0 are drawn on the floor
HEIGHT = 220  # the plot area; title and legend come on top of it


def _chart(title: str, layers: list[dict], x: dict, y: dict, series: list[tuple[str, str, list | None]],
           legend_columns: int = 2) -> dict:
    """One layered chart with one legend over `series` ((name, colour, stroke dash or None), in legend
    order). Each layer gets the x, y and colour encodings unless it sets its own; a channel a layer sets
    to None is left out of that layer (Vega-Lite's schema has no null channel to unset an inherited one)."""
    domain = [s[0] for s in series]
    shared = {"x": x, "y": y,
              "color": {"field": "series", "type": "nominal", "sort": None, "title": None,
                        "scale": {"domain": domain, "range": [s[1] for s in series]},
                        "legend": {"orient": "bottom", "columns": legend_columns, "labelLimit": 240,
                                   "symbolType": "stroke", "symbolStrokeWidth": 3}}}
    if any(d for _, _, d in series):
        shared["strokeDash"] = {"field": "series", "type": "nominal",  # same field: one legend with dashes
                                "scale": {"domain": domain, "range": [d or [1, 0] for _, _, d in series]}}
    for layer in layers:
        merged = {**shared, **layer.get("encoding", {})}
        layer["encoding"] = {k: v for k, v in merged.items() if v is not None}
    # fit the container's width; the height is the plot area's, so a long legend does not squash it
    return {"$schema": SCHEMA, "title": title, "height": HEIGHT, "autosize": {"type": "fit-x", "contains": "padding"},
            "layer": layers}


def _values(rows: list[dict]) -> dict:
    return {"values": rows}


def _private(records):
    return [r for r in records if r["privacy"]["epsilon"] is not None]


def frontier(records: list[dict], current: dict | None = None, title: str = "Accuracy vs ε") -> dict:
    """Test accuracy against reported ε: cached runs (mean ± half the spread over seeds per
    configuration), the non-private accuracy as a line, and the current run as a star."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in _private(records):
        c = r["config"]
        groups[(c["clip_norm"], c["target_epsilon"] or round(r["privacy"]["epsilon_reported"], 2))].append(r)
    points, series = [], []
    for clip in sorted({clip for clip, _ in groups}):
        name = f"C={clip:g}"  # cached runs by clip norm
        series.append((name, CLIP_COLOURS[len(series) % len(CLIP_COLOURS)], None))
        for (c, _), rs in sorted(groups.items()):
            if c != clip:
                continue
            accs = [r["utility"]["test_accuracy"] for r in rs]
            mean, half = statistics.mean(accs), (max(accs) - min(accs)) / 2
            points.append({"series": name, "x": statistics.mean(r["privacy"]["epsilon_reported"] for r in rs),
                           "y": mean, "lo": mean - half, "hi": mean + half, "seeds": len(rs)})
    points.sort(key=lambda p: (p["series"], p["x"]))
    tooltip = [{"field": "series", "title": "run"}, {"field": "x", "title": "ε", "format": ".2f"},
               {"field": "y", "title": "accuracy", "format": ".3f"}]
    layers = [
        {"data": _values(points), "mark": {"type": "line", "point": True},
         "encoding": {"tooltip": tooltip + [{"field": "seeds", "title": "seeds"}]}},
        {"data": _values([p for p in points if p["seeds"] > 1]), "mark": "rule",
         "encoding": {"y": {"field": "lo", "type": "quantitative"}, "y2": {"field": "hi"}}},
    ]
    baseline = [r["utility"]["test_accuracy"] for r in records if r["privacy"]["epsilon"] is None]
    if baseline:
        line = {"series": "non-private", "y": statistics.mean(baseline), "text": f"no privacy {statistics.mean(baseline):.3f}"}
        series.append(("non-private", "black", [6, 4]))
        layers += [{"data": _values([line]), "mark": "rule", "encoding": {"x": None}},
                   {"data": _values([line]), "mark": {"type": "text", "align": "right", "dy": -7, "color": "black"},
                    "encoding": {"x": {"value": "width"}, "text": {"field": "text"}, "color": None, "strokeDash": None}}]
    if current is not None and current["privacy"]["epsilon"] is not None:
        series.append(("this run", "#d62728", None))
        star = {"series": "this run", "x": current["privacy"]["epsilon_reported"], "y": current["utility"]["test_accuracy"]}
        layers.append({"data": _values([star]), "mark": {"type": "point", "shape": STAR, "size": 260, "filled": True},
                       "encoding": {"tooltip": tooltip}})
    return _chart(title, layers,
                  {"field": "x", "type": "quantitative", "title": "ε (reported accountant)", "scale": {"type": "log"}},
                  {"field": "y", "type": "quantitative", "title": "test accuracy", "scale": {"zero": False}}, series)


def budget(record: dict) -> dict:
    """ε spent after each epoch by each accountant, with the target as a line."""
    p, c = record["privacy"], record["config"]
    x = {"field": "x", "type": "quantitative", "title": "epoch"}
    y = {"field": "y", "type": "quantitative", "title": "ε"}
    if p["epsilon"] is None:
        note = {"x": 0.5, "y": 0.5, "text": "no privacy: ε is unbounded"}
        return _chart("Privacy budget spent", [{"data": _values([note]), "mark": {"type": "text", "fontSize": 14},
                                               "encoding": {"text": {"field": "text"}, "color": None}}],
                      {**x, "scale": {"domain": [0, 1]}, "axis": None}, {**y, "scale": {"domain": [0, 1]}, "axis": None}, [])
    rows = [{"series": name.upper(), "x": e["epoch"], "y": e[name]}
            for name in ("prv", "rdp", "pld") for e in p["epsilon_by_epoch"]]
    series = [(name, colour, None) for name, colour in ACC_COLOURS.items()]
    layers = [{"data": _values(rows), "mark": {"type": "line", "point": True},
               "encoding": {"tooltip": [{"field": "series", "title": "accountant"}, {"field": "x", "title": "epoch"},
                                        {"field": "y", "title": "ε", "format": ".3f"}]}}]
    if c.get("target_epsilon"):
        target = {"y": c["target_epsilon"], "text": f"target ε = {c['target_epsilon']:g}"}
        layers += [{"data": _values([target]), "mark": {"type": "rule", "color": "#d62728", "strokeDash": [2, 3]},
                    "encoding": {"x": None, "color": None}},
                   {"data": _values([target]), "mark": {"type": "text", "align": "left", "dx": 4, "dy": -8,
                                                        "color": "#d62728"},
                    "encoding": {"x": {"value": 0}, "text": {"field": "text"}, "color": None, "strokeDash": None}}]
    return _chart("Privacy budget spent", layers, x, y, series)


def _curve(name: str, fpr, tpr) -> list[dict]:
    fpr, tpr = np.maximum(np.asarray(fpr, float), FLOOR), np.maximum(np.asarray(tpr, float), FLOOR)
    return [{"series": name, "x": float(a), "y": float(b)} for a, b in zip(fpr, tpr)]


def _roc_chart(title: str, reference: list[tuple], attacks: list[tuple]) -> dict:
    """Log-log ROC panel: `reference` curves (name, colour, dash, fpr, tpr) as smooth lines, `attacks`
    (name, colour, fpr, tpr) as empirical step curves."""
    axis = lambda t: {"field": t[0], "type": "quantitative", "title": t[1],  # noqa: E731
                      "scale": {"type": "log", "domain": [FLOOR, 1]},
                      "axis": {"format": "~g", "values": [1e-4, 1e-3, 1e-2, 1e-1, 1]}}
    tooltip = [{"field": "series", "title": "curve"}, {"field": "x", "title": "FPR", "format": ".4f"},
               {"field": "y", "title": "TPR", "format": ".4f"}]
    layers = [{"data": _values([p for name, _, _, f, t in reference for p in _curve(name, f, t)]),
               "mark": {"type": "line", "clip": True}, "encoding": {"tooltip": tooltip}},
              {"data": _values([p for name, _, f, t in attacks for p in _curve(name, f, t)]),
               "mark": {"type": "line", "interpolate": "step-after", "clip": True}, "encoding": {"tooltip": tooltip}}]
    series = [(name, colour, dash) for name, colour, dash, _, _ in reference] + [(a[0], a[1], None) for a in attacks]
    return _chart(title, layers, axis(("x", "false positive rate")), axis(("y", "true positive rate")), series,
                  legend_columns=1)


def attack_roc(record: dict) -> dict:
    """Attack ROC on log-log axes: canary audit and RMIA (and LOSS), the diagonal, and the curves no
    attack can beat under the run's (ε, δ) and GDP μ."""
    fpr = np.geomspace(FLOOR, 1, 200)
    reference = [("chance", "grey", [2, 3], fpr, fpr)]
    p = record["privacy"]
    if p["epsilon"] is not None:
        reference.append((f"(ε={p['epsilon_reported']:.2f}, δ) bound", "#d62728", None,
                          fpr, accounting.tradeoff_tpr(fpr, p["epsilon_reported"], p["delta"])))
        if p.get("gdp_mu"):
            reference.append((f"GDP μ={p['gdp_mu']:.2f} (approx.)", "#ff7f0e", [6, 4],
                              fpr, accounting.gdp_tpr(fpr, p["gdp_mu"])))
    attacks = [(f"{label} (AUC {block['auc']:.2f})", colour, block["roc"]["fpr"], block["roc"]["tpr"])
               for key, label, colour in (("audit", "canary audit", "#9467bd"), ("mia", "RMIA", "#1f77b4"),
                                          ("loss_attack", "LOSS", "#7f7f7f"))
               if (block := record["attacks"].get(key))]
    return _roc_chart("Attacks vs the guarantee", reference, attacks)


def audit_histogram(record: dict) -> dict:
    """Canary scores of members and non-members, overlaid."""
    block = record["attacks"].get("audit")
    series = [("canaries members", "#d62728", None), ("canaries not members", "#1f77b4", None)]
    rows = [{"series": name, "x": float(s)} for (kind, (name, _, _)) in zip(("members", "nonmembers"), series)
            for s in (block["scores"][kind] if block else [])]
    layers = [{"data": _values(rows), "mark": {"type": "bar", "opacity": 0.6, "binSpacing": 0},
               "encoding": {"x": {"field": "x", "bin": {"maxbins": 30}, "title": "score"},
                            "y": {"aggregate": "count", "stack": None, "title": "canaries"}}}]
    return _chart("Canary scores (logit-scaled confidence)", layers, {"field": "x", "type": "quantitative"},
                  {"aggregate": "count", "type": "quantitative"}, series if block else [])


def compare(records: list[dict]) -> dict:
    """Overlaid attack ROCs of pinned runs (canary audit where present, else RMIA)."""
    fpr = np.geomspace(FLOOR, 1, 100)
    attacks = []
    for i, r in enumerate(records):
        block = r["attacks"].get("audit") or r["attacks"].get("mia")
        if block:
            attacks.append((label(r), CLIP_COLOURS[i % len(CLIP_COLOURS)], block["roc"]["fpr"], block["roc"]["tpr"]))
    return _roc_chart("Pinned runs: attack ROC", [("chance", "grey", [2, 3], fpr, fpr)], attacks)


def series_names(spec: dict) -> list[str]:
    """The legend entries a spec draws data for, in layer order (tests and the report read them)."""
    seen = []
    for layer in spec.get("layer", []):
        for row in layer.get("data", {}).get("values", []):
            if "series" in row and row["series"] not in seen:
                seen.append(row["series"])
    return seen


def label(record: dict) -> str:
    c, p = record["config"], record["privacy"]
    eps = "no privacy" if p["epsilon"] is None else f"ε={p['epsilon_reported']:.2f}"
    clip = f", C={c['clip_norm']:g}" if c.get("clip_norm") else ""
    return f"{c['dataset']} {eps}{clip}, seed {c['seed']}"
