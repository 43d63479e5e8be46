"""Streamlit entry point: `streamlit run app.py`. Wires widgets to explorer/; holds no computation."""
from __future__ import annotations

import os
from functools import partial

import streamlit as st

from explorer import accounting, pipeline, plots, report
from explorer.preview import preview as preview_config
from explorer.attacks.inversion import decode_image
from explorer.config import DATASET_DEFAULTS, RunConfig
from explorer.errors import ExplorerError
from explorer.live import LiveRun
from explorer.records import Store

EPS_OPTIONS = [0.1, 0.2, 0.5, 1.0, 2.0, 3.0, 4.0, 8.0, 12.0, 20.0, "no privacy"]
CLIP_OPTIONS = [0.1, 0.25, 0.5, 1.0, 2.0, 5.0]
SIGMA_OPTIONS = [0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.2, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0]
DATASETS = ["mnist-5k", "breast-cancer", "adult", "mnist"]

st.set_page_config(page_title="DP privacy-utility explorer", layout="wide")


@st.cache_resource
def store() -> Store:
    return Store(os.environ.get("EXPLORER_STORE", "cached_runs"))


@st.cache_resource(max_entries=1024)
def cached_preview(key: str, _config: RunConfig) -> dict:
    """explorer.preview.preview is a pure function of the config; its key names it (args with _ are not hashed)."""
    return preview_config(_config)


@st.cache_resource(max_entries=512)
def figure(kind: str, key: str, context: str, _record: dict, _records: tuple = ()):
    """Figures are pure functions of records, so one built for a record key (and, for the frontier, the
    keys of the records drawn with it) is reused; st.vega_lite_chart copies a spec before it changes
    anything, so sessions share it safely."""
    builder = {"frontier": lambda: plots.frontier(list(_records), _record), "budget": lambda: plots.budget(_record),
               "roc": lambda: plots.attack_roc(_record), "histogram": lambda: plots.audit_histogram(_record)}[kind]
    return builder()


state = st.session_state
state.setdefault("runs", {})  # this browser session's live runs, by key
state.setdefault("pinned", [])

# ------------------------------------------------------------------ sidebar
with st.sidebar:
    st.header("Budget")
    dataset = st.selectbox("Dataset", DATASETS, key="dataset",
                           help="mnist-5k is embedded and works offline; mnist and adult need their files")
    drive = st.radio("Drive by", ["ε", "noise multiplier σ"], key="drive", horizontal=True)
    epsilon = st.select_slider("Privacy budget ε", EPS_OPTIONS, value=3.0, key="epsilon",
                               disabled=drive != "ε", help="smaller ε = stronger privacy")
    default_clip = DATASET_DEFAULTS[dataset]["clip_norm"]
    clip_norm = st.select_slider("Clip norm C", CLIP_OPTIONS, value=default_clip, key="clip_norm")
    noise = st.select_slider("Noise multiplier σ", SIGMA_OPTIONS, value=1.0, key="noise_multiplier",
                             disabled=drive == "ε")
    with st.expander("Advanced"):
        delta = st.select_slider("δ", [1e-7, 1e-6, 1e-5, 1e-4, 1e-3], value=1e-5, key="delta",
                                 format_func=lambda v: f"{v:.0e}")
        epochs = st.number_input("Epochs", 1, 200, DATASET_DEFAULTS[dataset]["epochs"], key=f"epochs_{dataset}")
        batch = st.number_input("Batch size", 8, 4096, DATASET_DEFAULTS[dataset]["batch_size"], key=f"batch_{dataset}")
        lr = st.number_input("Learning rate (DP)", 0.001, 50.0, float(DATASET_DEFAULTS[dataset]["learning_rate"]),
                             key=f"lr_{dataset}", format="%.3f")
        seed = st.number_input("Seed", 0, 10_000, 0, key="seed")
        canaries = st.number_input("Canaries", 0, 1000, DATASET_DEFAULTS[dataset]["canaries"], step=20,
                                   key=f"canaries_{dataset}")
        refs = st.number_input("Reference models (RMIA)", 0, 8, 2, key="reference_models")
        accountant = st.selectbox("Reported accountant", ["prv", "rdp", "pld"], key="accountant")

private = not (drive == "ε" and epsilon == "no privacy")
try:
    if not private:
        config = RunConfig(dataset=dataset, mode="non_private", seed=int(seed), canaries=int(canaries),
                           reference_models=int(refs), accountant=accountant)
    else:
        config = RunConfig(dataset=dataset, mode="epsilon" if drive == "ε" else "noise",
                           target_epsilon=float(epsilon) if drive == "ε" else None,
                           noise_multiplier=float(noise) if drive != "ε" else None, clip_norm=float(clip_norm),
                           delta=float(delta), epochs=int(epochs), batch_size=int(batch), learning_rate=float(lr),
                           seed=int(seed), canaries=int(canaries), reference_models=int(refs), accountant=accountant)
    preview = cached_preview(config.key, config)
except ExplorerError as e:
    st.sidebar.error(str(e))
    st.error(f"This configuration cannot run: {e}")
    st.stop()

with st.sidebar:
    if config.mode == "epsilon":
        st.markdown(f"**σ = {preview['noise_multiplier']:.2f}** for ε = {epsilon:g} over {config.epochs} epochs")
    elif config.mode == "noise":
        st.markdown(f"**ε = {preview['epsilon']:.2f}** ({accountant.upper()}) for σ = {noise:g} over "
                    f"{config.epochs} epochs")
    else:
        st.markdown("**No privacy**: the non-private baseline")
    name, text = accounting.tier(preview["epsilon"])
    (st.warning if name in ("weak", "very weak", "none") else st.info)(f"{name.capitalize()} protection. {text}")
    if preview["delta_warning"]:
        st.warning(preview["delta_warning"])

# ------------------------------------------------------------------ the record to show
st.title("DP privacy-utility explorer")
cached = store().get(config.key)
record = cached or state["runs"].get(config.key)
live: LiveRun | None = state.get("live")


@st.fragment(run_every=0.5)
def live_panel():
    run: LiveRun | None = st.session_state.get("live")
    if run is None:
        return
    status = run.status()
    if not run.done:
        stage = status.get("stage")
        text = (f"epoch {status.get('epoch', 0)}/{status.get('epochs', '?')}, step {status.get('step', 0)}/"
                f"{status.get('steps', '?')}" if stage in ("train", "epoch") else status.get("name", stage))
        if status.get("loss") is not None and stage in ("train", "epoch"):
            text += f", loss {status['loss']:.3f}"
        if status.get("epsilon"):
            text += f", ε so far {status['epsilon']:.2f}"
        st.progress(status["fraction"], text=f"Training {run.config.dataset} live: {text} "
                                             f"({status['elapsed_s']:.0f} s)")
        if st.button("Cancel", key="cancel"):
            run.cancel()
        return
    del st.session_state["live"]
    if run.record is not None:
        st.session_state["runs"][run.config.key] = run.record
    elif run.error:
        st.session_state["live_error"] = run.error
    st.rerun(scope="app")


if state.get("live_error"):
    st.error(state.pop("live_error"))
if live is not None:
    live_panel()
elif record is None:
    nearest = store().nearest(config)
    basis = nearest["timing"]["total_s"] * config.epochs / max(nearest["config"]["epochs"], 1) if nearest else 30
    if st.button(f"Train this configuration (≈ {basis:.0f} s)", key="train", type="primary"):
        state["live"] = LiveRun(config)
        st.rerun()
    if nearest is not None:
        st.info(f"Not cached yet. Showing the **nearest cached configuration**: {plots.label(nearest)}.")
        record = nearest

if record is None:
    st.info("No cached run for this dataset yet: train the configuration with the button above.")
elif record is not cached and record["key"] == config.key:
    if st.button("Save this run to cached_runs", key="save"):
        store().put(record)
        st.toast("saved")

# ------------------------------------------------------------------ metric cards and the three panels
dataset_records = store().records(dataset) + [r for r in state["runs"].values() if r["config"]["dataset"] == dataset]
baselines = [r for r in dataset_records if r["privacy"]["epsilon"] is None]
baseline = None


def cards_and_panels(record: dict, baseline: dict | None) -> None:
    p, a = record["privacy"], record["attacks"]
    c1, c2, c3 = st.columns(3)
    acc = record["utility"]["test_accuracy"]
    c1.metric("Test accuracy", f"{acc:.1%}",
              delta=f"{(acc - baseline['utility']['test_accuracy']) * 100:+.1f} pts vs no privacy" if baseline else None)
    if p["epsilon"] is None:
        c2.metric("ε spent", "∞ (no privacy)")
    else:
        c2.metric(f"ε spent ({p['accountant'].upper()})", f"{p['epsilon_reported']:.2f}",
                  help=" · ".join(f"{k.upper()} {v:.3f}" for k, v in p["epsilon"].items()) + f" at δ = {p['delta']:g}")
    audit = a.get("audit")
    if audit:
        c3.metric("Canary attack AUC", f"{audit['auc']:.3f}",
                  help=f"TPR at 1 % FPR {audit['tpr_at_fpr']['0.01']:.3f}; empirical ε ≥ "
                       f"{audit['epsilon_lower_bound']:.2f} (95 %) vs guaranteed ε "
                       f"{'∞' if p['epsilon'] is None else format(p['epsilon_reported'], '.2f')}")
        st.caption(f"Empirical ε lower bound **{audit['epsilon_lower_bound']:.2f}** (95 % confidence) — "
                   f"guaranteed ε **{'∞' if p['epsilon'] is None else format(p['epsilon_reported'], '.2f')}**")
    elif "mia" in a:
        c3.metric("RMIA attack AUC", f"{a['mia']['auc']:.3f}")
    else:
        c3.metric("Attack success", "not measured")

    left, middle, right = st.columns(3)
    drawn = "|".join(r["key"] for r in dataset_records)
    left.vega_lite_chart(figure("frontier", record["key"], drawn, record, tuple(dataset_records)), key="frontier")
    middle.vega_lite_chart(figure("budget", record["key"], "", record), key="budget")
    right.vega_lite_chart(figure("roc", record["key"], "", record), key="roc")


if record is not None:
    if baselines:
        baseline = min(baselines, key=lambda r: r["config"]["seed"] != record["config"]["seed"])
    cards_and_panels(record, baseline)

# ------------------------------------------------------------------ tabs
details, compare, meaning, yours, export = st.tabs(["Attack details", "Compare", "What ε means", "Your data", "Report"])
with details:
    if record is None:
        st.info("Attack details appear once a run is shown.")
    else:
        a = record["attacks"]
        st.vega_lite_chart(figure("histogram", record["key"], "", record), key="histogram")
        rows = {name: {"AUC": round(b["auc"], 3), "TPR@0.1%": b["tpr_at_fpr"]["0.001"], "TPR@1%": b["tpr_at_fpr"]["0.01"],
                       "TPR@10%": b["tpr_at_fpr"]["0.1"], "balanced acc.": round(b["balanced_accuracy"], 3)}
                for name, b in (("canary audit", a.get("audit")), ("RMIA", a.get("mia")), ("LOSS", a.get("loss_attack")))
                if b}
        if rows:
            st.dataframe(rows)
        inv = a.get("inversion")
        if inv and "images" in inv:
            st.subheader("Model inversion (MI-Face): one reconstruction per class")
            st.caption(f"This run: {inv['member_closer_rate']:.2f} of reconstructions lie nearer a training member than "
                       "a non-member (0.50 = no record-level leakage). Class prototypes are population knowledge, "
                       "which DP does not — and should not — hide; what DP bounds is leakage about one record.")
            st.image([decode_image(inv, i) for i in range(len(inv["images"]["data"]))], width=56,
                     caption=[str(i) for i in range(len(inv["images"]["data"]))])
            base_inv = baseline and baseline["attacks"].get("inversion")
            if base_inv and "images" in base_inv and baseline is not record:
                st.caption(f"Non-private baseline: {base_inv['member_closer_rate']:.2f} nearer a member")
                st.image([decode_image(base_inv, i) for i in range(len(base_inv["images"]["data"]))], width=56)


with compare:
    if record is not None and st.button("Pin this run", key="pin") and record["key"] not in [r["key"] for r in state["pinned"]]:
        state["pinned"].append(record)
    if state["pinned"]:
        st.dataframe([{"run": plots.label(r), "accuracy": r["utility"]["test_accuracy"],
                       "ε": r["privacy"]["epsilon_reported"],
                       "canary AUC": r["attacks"].get("audit", {}).get("auc"),
                       "ε lower bound": r["attacks"].get("audit", {}).get("epsilon_lower_bound")}
                      for r in state["pinned"]])
        st.vega_lite_chart(plots.compare(state["pinned"]), key="compare_chart")
        if st.button("Clear pins", key="clear_pins"):
            state["pinned"] = []
            st.rerun()
    else:
        st.info("Pin runs to compare them side by side.")

with meaning:
    prior = st.slider("Attacker's prior that a given person is in the data", 0.01, 0.99, 0.5, key="prior")
    eps = preview["epsilon"] if record is None else record["privacy"]["epsilon_reported"]
    if eps is not None:
        st.markdown(
            f"With ε = {eps:.2f} and δ = {config.delta:g}, an attacker who starts {prior:.0%} sure ends **at most "
            f"{accounting.posterior(prior, eps, config.delta):.1%}** sure after seeing the model. No membership test "
            f"can beat a balanced accuracy of **{accounting.max_balanced_accuracy(eps, config.delta):.1%}** "
            "(the red curve in the attack panel).")
    else:
        st.markdown("Without DP nothing bounds what an attacker learns; the canary audit shows what it can.")
    st.markdown("""
**Tiers** (plain language; the numbers are worst cases over all people and attackers):
ε ≤ 1 strong · 1–5 moderate · 5–10 weak · above 10 very weak.

**Pitfalls**
- *An arbitrary ε is not a decision.* Pick ε by what an attacker may learn (the posterior above), not by habit.
- *Tuning on the test set leaks it.* Defaults here were chosen on a validation split of the training data.
- *Anonymisation is not enough.* Removing names does not stop membership inference; only a bound like DP does.
- *The unit of privacy matters.* Here it is one example (add/remove); a person with many rows is protected less.
""")

with yours:
    st.markdown("Upload a CSV; it stays in this session's memory and is never written to disk or to records.")
    upload = st.file_uploader("CSV file", type=["csv", "txt"], key="csv")
    if upload is not None:
        raw = upload.getvalue()
        try:
            import pandas as pd
            import io

            columns = list(pd.read_csv(io.BytesIO(raw), sep=None, engine="python", nrows=5).columns)
        except Exception as e:  # shown as one message, never a traceback
            st.error(f"Could not read this file as CSV ({type(e).__name__}). Save it as comma-separated text "
                     "with a header row.")
            columns = []
        if columns:
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
                    st.vega_lite_chart(plots.frontier(results, None, "Your data: accuracy vs ε"), key="csv_frontier")

with export:
    if record is None:
        st.info("The report is built from the run shown above.")
    else:
        st.download_button("Report (Markdown)", report.markdown(record, baseline), file_name=f"dp-report-{record['key']}.md",
                           key="dl_md")
        # a callable runs only when the button is pressed: drawing the figures takes about a second
        st.download_button("Report (HTML, with figures)", partial(report.html_with_figures, record, baseline, dataset_records),
                           file_name=f"dp-report-{record['key']}.html", key="dl_html")
        st.download_button("Report (JSON)", report.json_report(record, baseline), file_name=f"dp-report-{record['key']}.json",
                           key="dl_json")
        st.code(report.reproduce_command(record), language="bash")
