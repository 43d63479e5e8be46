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
    inv = record["attacks"].get("inversion")
    if inv and inv.get("images"):
        st.subheader("Model inversion (MI-Face): one reconstruction per class")
        text = inv.get("statement")
        if text is None and inv.get("member_closer_rate") is not None:
            text = (f"{inv['member_closer_rate']:.2f} of reconstructions lie nearer a training member than a "
                    "non-member (0.50 = no record-level leakage).")
        _gallery(inv, f"{answer.label(record)}. " + (text + " " if text else "") +
                 "Class prototypes are population knowledge, which DP does not — and should not — hide; what DP "
                 "bounds is leakage about one record.")
        base_inv = baseline and baseline["attacks"].get("inversion")
        if base_inv and base_inv.get("images"):
            rate = base_inv.get("member_closer_rate")
            _gallery(base_inv, f"Non-private baseline ({answer.label(baseline)})" +
                     (f": {rate:.2f} nearer a member" if rate is not None else ""))
