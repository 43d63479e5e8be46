"""Streamlit entry point: `streamlit run app.py`. Wires the panels of explorer/ui in order; holds no
computation (the engine in explorer/ computes, explorer/ui/ shows)."""
import streamlit as st

from explorer.ui import dashboard, sidebar, tab_compare, tab_data, tab_decision, tab_details, tab_meaning, tab_report

st.set_page_config(page_title="DP privacy-utility explorer", layout="wide")
st.session_state.setdefault("runs", {})  # this browser session's live runs, by key
st.session_state.setdefault("pinned", [])

asked = sidebar.render()
if isinstance(asked, str):
    st.error(f"This configuration cannot run: {asked}")
    st.stop()
answer, baseline, records = dashboard.render(asked)
# lazy tabs: only the open tab's panel runs and is sent, so the first render draws the three main charts
# and not every tab's figures too (docs/performance.md)
panels = {"Attack details": lambda: tab_details.render(answer, baseline),
          "Compare": lambda: tab_compare.render(answer),
          "What ε means": lambda: tab_meaning.render(answer),
          "Decide ε": lambda: tab_decision.render(answer, records),
          "Your data": tab_data.render,
          "Report": lambda: tab_report.render(answer, baseline, records)}
for tab, show in zip(st.tabs(list(panels), key="tab", on_change="rerun"), panels.values()):
    if tab.open:
        with tab:
            show()
