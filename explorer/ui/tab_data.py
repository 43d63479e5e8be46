"""Your data: a small sweep over a user's CSV (moved here unchanged from app.py; issue 16 rebuilds it
as a budget study with a decision view). The table stays in this session's memory."""
from __future__ import annotations

import streamlit as st

from .. import pipeline, plots
from ..config import RunConfig
from ..errors import ExplorerError
from . import components


def render() -> None:
    st.markdown("Upload a CSV; it stays in this session's memory and is never written to disk or to records.")
    upload = st.file_uploader("CSV file", type=["csv", "txt"], key="csv")
    if upload is None:
        return
    raw = upload.getvalue()
    try:
        import io

        import pandas as pd

        columns = list(pd.read_csv(io.BytesIO(raw), sep=None, engine="python", nrows=5).columns)
    except Exception as e:  # shown as one message, never a traceback
        st.error(f"Could not read this file as CSV ({type(e).__name__}). Save it as comma-separated text "
                 "with a header row.")
        columns = []
    if not columns:
        return
    target = st.selectbox("Target column", columns, index=len(columns) - 1, key="csv_target")
    if st.button("Run a small sweep (ε = 1, 4, no privacy)", key="csv_sweep"):
        bar = st.progress(0.0)
        results = []
        try:
            for i, eps in enumerate([1.0, 4.0, None]):
                cfg = RunConfig(dataset="csv", mode="epsilon" if eps else "non_private", target_epsilon=eps,
                                csv_sha256=pipeline.csv_fingerprint(raw), reference_models=0)
                results.append(pipeline.run(cfg, csv=raw, target=target))
                bar.progress((i + 1) / 3, text=f"{i + 1}/3 runs")
        except ExplorerError as e:
            st.error(str(e))
        if results:
            st.dataframe([{"ε": r["privacy"]["epsilon_reported"], "accuracy": r["utility"]["test_accuracy"],
                           "canary AUC": r["attacks"].get("audit", {}).get("auc"),
                           "RMIA/LOSS AUC": r["attacks"].get("loss_attack", {}).get("auc")} for r in results])
            components.chart(plots.frontier(results, title="Your data: accuracy vs ε"), "csv_frontier")
