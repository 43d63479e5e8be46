"""The main view: which run answers the asked configuration (explorer.answer), said plainly; training
it; the metric cards; and the three panels (accuracy vs ε, budget per epoch, attack ROC)."""
from __future__ import annotations

import streamlit as st

from .. import answer, report
from . import components, resources, training
from .sidebar import Asked


def render(asked: Asked) -> tuple[answer.Answer, dict | None, list[dict]]:
    """Draws the main view; returns the answer, its baseline and the runs of the dataset (stored and
    trained in this session), for the tabs."""
    state = st.session_state
    st.title("DP privacy-utility explorer")
    config = asked.config
    session_runs = state["runs"]
    ans = answer.answer(config, asked.epsilon, resources.store(), session_runs)
    records = asked.records + [r for r in session_runs.values()
                               if r["config"]["dataset"] == config.dataset and r["key"] not in {x["key"] for x in asked.records}]
    live = state.get("live")
    training.outcome()
    if live is not None:
        training.progress()
    elif not ans.exact:
        training.offer(config, records)

    record = ans.record
    if live is not None and not ans.exact and record is not None:
        st.caption(f"training {answer.describe(live.config)}…; showing the nearest cached run")
    if ans.stand_in:
        st.warning(ans.banner())
    elif ans.kind == answer.NONE:
        st.info(f"No stored run of {config.dataset} answers this yet: train it with the button above.")
    elif ans.kind == answer.SESSION:
        note = report.noise_note(record)
        st.caption("Trained in this session" + (f" with {note.split(':')[0]}." if note else "."))
        if st.button("Save this run to the store", key="save"):
            resources.store().put(record)
            st.toast("saved")

    baseline = answer.baseline(record, records)
    if record is not None:
        components.cards(record, baseline, ans.caption())
        line = components.evidence_line(record)
        if line:
            st.caption(line)
    left, middle, right = st.columns(3)
    components.chart(resources.figure("frontier", record, records, ans.asked_epsilon, ans.exact), "frontier", left)
    if record is not None:
        components.chart(resources.figure("budget", record), "budget", middle)
        components.chart(resources.figure("roc", record), "roc", right)
    return ans, baseline, records
