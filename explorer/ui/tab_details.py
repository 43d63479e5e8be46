"""Attack details of the shown run: canary score histogram, the attacks' table, the inversion gallery."""
from __future__ import annotations

import streamlit as st

from .. import answer, report
from . import components, resources

ATTACKS = (("audit", "canary audit"), ("mia", "RMIA"), ("loss_attack", "LOSS"))


def _table(record: dict) -> str | None:
    """The attacks' figures as a Markdown table (no data frame: pandas stays off the first render)."""
    blocks = [(name, b) for key, name in ATTACKS if (b := record["attacks"].get(key))]
    if not blocks:
        return None
    fprs = sorted({k for _, b in blocks for k in b.get("tpr_at_fpr", {})}, key=float)
    head = ["attack", "AUC"] + [f"TPR at {report.PERCENT_KEYS.get(k, k)} FPR" for k in fprs] + ["best balanced acc."]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, b in blocks:
        cells = [name, f"{b['auc']:.3f}"] + [f"{b['tpr_at_fpr'][k]:.3f}" if k in b.get("tpr_at_fpr", {}) else "–"
                                             for k in fprs]
        cells.append(f"{b['balanced_accuracy']:.3f}" if "balanced_accuracy" in b else "–")
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _gallery(inv: dict, title: str) -> None:
    from ..attacks.inversion import (
        decode_image,  # numpy only; loaded when a gallery is drawn
    )

    n = len(inv["images"]["data"])
    st.caption(title)
    st.image([decode_image(inv, i) for i in range(n)], width=56, caption=[str(i) for i in range(n)])


def render(ans: answer.Answer, baseline: dict | None) -> None:
    record = ans.record
    if record is None:
        st.info("Attack details appear once a run is shown.")
        return
    if ans.stand_in:
        st.caption(f"These details describe the nearest cached run, {answer.label(record)}, not the asked "
                   f"{ans.asked_text}.")
    components.chart(resources.figure("histogram", record), "histogram")
    table = _table(record)
    if table:
        st.markdown(table)
    for key, name in ATTACKS:
        statement = (record["attacks"].get(key) or {}).get("statement")
        if statement:
            st.markdown(f"- **{name}:** {statement}")
    if record["config"]["dataset"] == "mnist-5k":
        reconstruction()
    inv = record["attacks"].get("inversion")
    if inv and inv.get("images"):
        st.subheader("Model inversion (MI-Face): one class prototype per class")
        _gallery(inv, f"{answer.label(record)}. " + (inv.get("statement") or "") +
                 " What DP bounds is leakage about one record: see the reconstruction study above.")
        base_inv = baseline and baseline["attacks"].get("inversion")
        if base_inv and base_inv.get("images"):
            _gallery(base_inv, f"Non-private baseline ({answer.label(baseline)})")


def reconstruction() -> None:
    """The shipped reconstruction studies (mnist-5k): success per budget beside its DP bound, and for
    each budget the first targets above what the attacker rebuilt from the released weights."""
    from ..attacks.inversion import decode

    studies, problems, fig = resources.reconstruction()
    st.subheader("Reconstructing a training record (informed adversary, precomputed)")
    for problem in problems:
        st.warning(problem)
    if not studies:
        st.info("No reconstruction study is stored: `python -m explorer reconstruct --epsilon 1 --targets 100 "
                "-o cached_runs/reconstruction/epsilon-1.json` makes one.")
        return
    st.caption("The attacker knows every training record but one, and the training recipe, and rebuilds that "
               "one from the released weights (Balle, Cherubin & Hayes 2022); a trial succeeds when the "
               "rebuilt image is nearest the true one among the candidates. Softmax regression on mnist-5k: "
               "a study of its own, not the run shown above.")
    components.chart(fig, "reconstruction")
    for s in studies:
        st.markdown(f"- {s['statement']}")
    budget = st.radio("Gallery", [_name(s) for s in studies], horizontal=True, key="reconstruction_budget")
    s = next(s for s in studies if _name(s) == budget)
    g = s["gallery"]
    marks = ["found" if ok else "missed" for ok in g["success"]]
    st.image([decode(v, g["shape"]) for v in g["targets"]], width=56, caption=["target"] * len(marks))
    st.image([decode(v, g["shape"]) for v in g["reconstructions"]], width=56, caption=marks)


def _name(study: dict) -> str:
    return "no privacy" if study["epsilon"] is None else f"ε = {study['epsilon']:g}"
