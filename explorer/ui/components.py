"""Shared pieces of the main view: metric cards and charts."""
from __future__ import annotations

import streamlit as st

from .. import plots, report


def duration(seconds: float | None) -> str:
    """Seconds in words for progress lines: "unknown", "42 s", "3.5 min"."""
    if seconds is None:
        return "unknown"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def chart(fig, key: str, container=st) -> None:
    container.plotly_chart(fig, key=key, config=plots.CONFIG, width="stretch")


def cards(record: dict, baseline: dict | None, caption: str | None = None) -> None:
    """Accuracy, ε spent and attack success of `record`; `caption` under each card says which run they
    describe when it is not the one asked for. The accuracy card compares with `baseline` (a
    non-private run) and has no comparison on a non-private run itself."""
    p, a = record["privacy"], record["attacks"]
    c1, c2, c3 = st.columns(3)
    acc = record["utility"]["test_accuracy"]
    delta = None
    if baseline is not None and p["epsilon"] is not None:
        delta = f"{(acc - baseline['utility']['test_accuracy']) * 100:+.1f} pts vs no privacy"
    c1.metric("Test accuracy", f"{acc:.1%}", delta=delta)
    if p["epsilon"] is None:
        c2.metric("ε spent", "∞ (no privacy)")
    else:
        c2.metric(f"ε spent ({p['accountant'].upper()})", f"{p['epsilon_reported']:.2f}",
                  help=" · ".join(f"{k.upper()} {v:.3f}" for k, v in p["epsilon"].items()) + f" at δ = {p['delta']:g}")
    audit, mia = a.get("audit"), a.get("mia")
    if audit:
        c3.metric("Canary attack AUC", f"{audit['auc']:.3f}", help=audit.get("statement") or report.tpr_text(audit["tpr_at_fpr"]))
    elif mia:
        c3.metric("RMIA attack AUC", f"{mia['auc']:.3f}", help=mia.get("statement") or report.tpr_text(mia["tpr_at_fpr"]))
    else:
        c3.metric("Attack success", "not measured")
    if caption:
        for col in (c1, c2, c3):
            col.caption(caption)


def evidence_line(record: dict) -> str | None:
    """One line under the cards on the canary audit, in words (its own statement when it has one)."""
    audit = record["attacks"].get("audit")
    if not audit:
        return None
    p = record["privacy"]
    guaranteed = None if p["epsilon"] is None else p["epsilon_reported"]
    return "Canary audit: " + (audit.get("statement") or report.audit_bound_text(audit, guaranteed)) + "."
