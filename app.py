"""Streamlit entry point: `streamlit run app.py`. Wires widgets to explorer/; holds no computation."""
import streamlit as st

from explorer import accounting, pipeline
from explorer.__main__ import summary
from explorer.config import RunConfig
from explorer.errors import ExplorerError
from explorer.records import Store

st.set_page_config(page_title="DP privacy-utility explorer", layout="wide")
store = Store("cached_runs")

with st.sidebar:
    dataset = st.selectbox("Dataset", ["mnist-5k", "breast-cancer", "adult", "mnist"], key="dataset")
    private = st.toggle("Differential privacy", value=True, key="private")
    epsilon = st.select_slider("ε (target)", options=[0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 8.0, 12.0, 20.0],
                               value=3.0, key="epsilon", disabled=not private)

try:
    config = RunConfig(dataset=dataset, mode="epsilon" if private else "non_private", target_epsilon=epsilon)
    if private:
        from explorer.train import plan
        from explorer import data

        q, steps = plan(config, data.load(dataset).n_train)
        sigma = accounting.noise_for_epsilon(epsilon, config.delta, q, steps, config.accountant)
        st.sidebar.caption(f"σ = {sigma:.2f} for ε = {epsilon:g} over {config.epochs} epochs")
except ExplorerError as e:
    st.error(str(e))
    st.stop()

st.title("DP privacy-utility explorer")
record = store.get(config.key) or st.session_state.get(config.key)
if record is None and st.button(f"Train this configuration ({dataset})", key="train"):
    with st.spinner("Training with DP-SGD…"):
        try:
            record = pipeline.run(config)
        except ExplorerError as e:
            st.error(str(e))
            st.stop()
    st.session_state[config.key] = record
if record is not None:
    cols = st.columns(3)
    cols[0].metric("Test accuracy", f"{record['utility']['test_accuracy']:.1%}")
    eps = record["privacy"]["epsilon_reported"]
    cols[1].metric("ε spent (PRV)", "∞ (no privacy)" if eps is None else f"{eps:.2f}")
    cols[2].metric("Training time", f"{record['timing']['train_s']:.1f} s")
    st.code(summary(record))
else:
    st.info("No record for this configuration yet: train it with the button above.")
