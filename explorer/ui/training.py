"""Training the asked configuration live: the button (or why it cannot run here), then progress, ETA
and Cancel in a fragment that polls the worker thread, then the outcome in one sentence."""
from __future__ import annotations

import streamlit as st

from .. import answer, data, report
from ..config import RunConfig
from ..live import LiveRun
from . import components


def offer(config: RunConfig, records: list[dict]) -> None:
    """The Train button for an asked configuration without its own record, with what it needs."""
    needs = data.availability(config.dataset)
    blocked = needs is not None and data.resolve_data_dir() is not None  # the files are not where we were told
    estimate = answer.estimate_seconds(config, records)
    label = "Train this configuration" + (f" (≈ {components.duration(estimate)})" if estimate else "")
    if st.button(label, key="train", type="primary", disabled=blocked):
        st.session_state["live"] = LiveRun(config, estimate_s=estimate)
        st.session_state.pop("live_outcome", None)
        st.rerun()
    if needs:
        st.caption(needs)
    if report.live_noise(config) == "secret":
        st.caption("A live run draws secret noise from the operating system, so it is not reproducible bit for "
                   "bit (the stored demonstration runs use seeded noise, and their reports say so).")


@st.fragment(run_every=0.5)
def progress() -> None:
    """The live run's progress bar with ETA and Cancel; when it ends, the record (if any) joins this
    session's runs and the page reruns to show it."""
    state = st.session_state
    run: LiveRun | None = state.get("live")
    if run is None:
        return
    if not run.done:
        s = run.status()
        stage = s.get("stage")
        if stage in ("train", "epoch") and s.get("part"):  # PATE: teachers, then the student's epochs
            text = s["part"]
        elif stage in ("train", "epoch"):
            text = f"epoch {s.get('epoch', 0)}/{s.get('epochs', '?')}, step {s.get('step', 0)}/{s.get('steps', '?')}"
            if s.get("loss") is not None:
                text += f", loss {s['loss']:.3f}"
            if s.get("epsilon"):
                text += f", ε so far {s['epsilon']:.2f}"
        else:
            text = s.get("name") or stage
        st.progress(s["fraction"], text=f"Training {answer.describe(run.config)}: {text} · "
                                        f"{s['elapsed_s']:.0f} s elapsed, ETA {components.duration(s['eta_s'])}")
        if st.button("Cancel", key="cancel"):
            run.cancel()
            st.caption("Cancelling after the current step…")
        return
    del state["live"]
    state["live_outcome"] = run.outcome()
    if run.record is not None:
        state["runs"][run.config.key] = run.record
    st.rerun(scope="app")


def outcome() -> None:
    """The last live run's ending, once: done, cancelled or failed, in one sentence."""
    result = st.session_state.pop("live_outcome", None)
    if result is None:
        return
    kind, sentence = result
    {"done": st.success, "cancelled": st.info, "failed": st.error}[kind](sentence)
