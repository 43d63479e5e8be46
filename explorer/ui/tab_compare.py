"""Pinned runs side by side: a table and their attack ROCs overlaid."""
from __future__ import annotations

import streamlit as st

from .. import answer, plots
from . import components


def render(ans: answer.Answer) -> None:
    state = st.session_state
    record = ans.record
    pinned = [r["key"] for r in state["pinned"]]
    if record is not None and st.button("Pin the shown run", key="pin") and record["key"] not in pinned:
        state["pinned"].append(record)
    if not state["pinned"]:
        st.info("Pin runs to compare them side by side.")
        return
    rows = ["| run | accuracy | ε | canary AUC |", "|---|---|---|---|"]
    for r in state["pinned"]:
        eps = r["privacy"]["epsilon_reported"]
        auc = r["attacks"].get("audit", {}).get("auc")
        rows.append(f"| {answer.label(r)} | {r['utility']['test_accuracy']:.3f} | "
                    f"{'∞' if eps is None else f'{eps:.2f}'} | {'–' if auc is None else f'{auc:.3f}'} |")
    st.markdown("\n".join(rows))
    components.chart(plots.compare(state["pinned"]), "compare_chart")
    if st.button("Clear pins", key="clear_pins"):
        state["pinned"] = []
        st.rerun()
