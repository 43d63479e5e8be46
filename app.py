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
details, compare, meaning, decide, yours, export = st.tabs(
    ["Attack details", "Compare", "What ε means", "Decide ε", "Your data", "Report"])
with details:
    tab_details.render(answer, baseline)
with compare:
    tab_compare.render(answer)
with meaning:
    tab_meaning.render(answer)
with decide:
    tab_decision.render(answer, records)
with yours:
    tab_data.render()
with export:
    tab_report.render(answer, baseline, records)
