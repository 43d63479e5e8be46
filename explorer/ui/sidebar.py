"""The sidebar: dataset, drive by ε or σ, the three sliders, advanced settings, and the live derived
value with its plain-language tier. Returns the asked configuration and its preview."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from .. import accounting, choices
from ..config import RunConfig
from ..errors import ExplorerError
from . import resources


@dataclass
class Asked:
    config: RunConfig
    preview: dict  # explorer.preview.preview of config
    records: list[dict]  # the stored runs of the dataset

    @property
    def epsilon(self) -> float | None:
        return self.preview["epsilon"]


def _reset_clip() -> None:
    """A new dataset starts at its own tuned clip norm."""
    st.session_state["clip_norm"] = choices.defaults(st.session_state["dataset"])["clip_norm"]


def render() -> Asked | str:
    """Draws the sidebar; returns the asked run, or why the settings cannot run (one sentence, for the
    main area to show once)."""
    state = st.session_state
    state.setdefault("clip_norm", choices.defaults(state.get("dataset", choices.DEFAULT_DATASET))["clip_norm"])
    with st.sidebar:
        st.header("Budget")
        dataset = st.selectbox("Dataset", choices.DATASETS, key="dataset", on_change=_reset_clip,
                               help="mnist-5k is embedded; the others show their stored runs even without "
                                    "their data files, which training needs")
        d = choices.defaults(dataset)
        technique = st.selectbox("Technique", choices.TECHNIQUES, key="technique",
                                 help="how the released model is made private; each technique's stored runs are "
                                      "their own series on the accuracy-vs-ε chart")
        st.caption(choices.ASSUMES[technique])
        drive = st.radio("Drive by", choices.DRIVES, key="drive", horizontal=True)
        epsilon = st.select_slider("Privacy budget ε", (*choices.EPSILON_STOPS, choices.NO_PRIVACY),
                                   value=choices.DEFAULT_EPSILON, key="epsilon", disabled=drive != choices.BY_EPSILON,
                                   help="smaller ε = stronger privacy")
        private = not (drive == choices.BY_EPSILON and epsilon == choices.NO_PRIVACY)
        # a technique other than plain DP-SGD runs its shipped grid's tuned recipe (when one is shipped)
        tuned = (choices.recipe(dataset, technique, epsilon if drive == choices.BY_EPSILON and private else None)
                 if technique != choices.DP_SGD else {})
        clip = st.select_slider("Clip norm C", choices.CLIP_STOPS, key="clip_norm",
                                disabled=not private or bool(tuned) or technique == choices.PATE,
                                help="each example's gradient is clipped to this norm before noise is added")
        sigma = st.select_slider("Noise multiplier σ", choices.SIGMA_STOPS, value=choices.DEFAULT_SIGMA,
                                 key="noise_multiplier", disabled=drive == choices.BY_EPSILON)
        with st.expander("Advanced"):
            delta = st.select_slider("δ", choices.DELTA_STOPS, value=choices.DEFAULT_DELTA, key="delta",
                                     format_func=lambda v: f"{v:.0e}")
            epochs = st.number_input("Epochs", 1, 200, d["epochs"], key=f"epochs_{dataset}", disabled=bool(tuned))
            batch = st.number_input("Batch size", 8, 4096, d["batch_size"], key=f"batch_{dataset}", disabled=bool(tuned))
            lr = st.number_input("Learning rate (DP)", 0.001, 50.0, float(d["learning_rate"]), key=f"lr_{dataset}",
                                 format="%.3f", disabled=bool(tuned))
            if tuned and private:
                st.caption(f"{technique} runs its recipe tuned on a validation split (its shipped grid): "
                           + ", ".join(f"{k.replace('_', ' ')} {v:g}" if isinstance(v, (int, float)) else f"{k} {v}"
                                       for k, v in tuned.items()))
            seed = st.number_input("Seed", 0, 10_000, 0, key="seed")
            canaries = st.number_input("Canaries", 0, 1000, d["canaries"], step=20, key=f"canaries_{dataset}")
            refs = st.number_input("Reference models (RMIA)", 0, 8, d["reference_models"], key="reference_models")
            accountant = st.selectbox("Reported accountant", choices.ACCOUNTANTS, key="accountant")
            if not private:
                st.caption("The non-private baseline trains with its own tuned recipe; only the seed and the "
                           "attack settings apply to it.")

        ch = choices.Choices(dataset=dataset, drive=drive, epsilon=epsilon, clip_norm=clip, noise_multiplier=sigma,
                             delta=delta, epochs=int(epochs), batch_size=int(batch), learning_rate=float(lr),
                             seed=int(seed), canaries=int(canaries), reference_models=int(refs), accountant=accountant,
                             technique=technique)
        records = resources.store().records(dataset)
        try:
            config = choices.asked(ch)
            preview = resources.preview(config.key, len(records), config, tuple(records))
        except ExplorerError as e:
            return str(e)
        approx = "≈ " if preview["n_source"] == "estimate" else ""
        if config.technique == "pate":
            approx = ""  # GNMax's σ depends on ε, δ and the queries only
            st.markdown(f"**GNMax σ = {preview['noise_multiplier']:.1f}** on the {config.teachers} teachers' votes for "
                        f"ε = {epsilon:g} over {config.queries} answered queries")
        elif config.mode == "epsilon":
            st.markdown(f"**σ = {approx}{preview['noise_multiplier']:.2f}** for ε = {epsilon:g} over {config.epochs} epochs")
        elif config.mode == "noise":
            st.markdown(f"**ε = {approx}{preview['epsilon']:.2f}** ({accountant.upper()}) for σ = {sigma:g} over "
                        f"{config.epochs} epochs")
        else:
            st.markdown("**No privacy**: the non-private baseline")
        if approx:
            st.caption(f"Approximate: {dataset}'s files are not here, so the training-set size comes from its "
                       "stored runs.")
        name, text = accounting.tier(preview["epsilon"])
        (st.warning if name in ("weak", "very weak", "none") else st.info)(text)
        if preview["delta_warning"]:
            st.warning(preview["delta_warning"])
    return Asked(config, preview, records)
