"""Plain-language readings of the evidence blocks, generated from each block's own numbers.

The app and the report show these sentences next to the figures, so a bare "ε lower bound 0.00" never
stands alone. One function per block kind; each is a pure function of the block (and the run's ε).
"""
from __future__ import annotations

SHOWN_ZERO = 0.05  # bounds below this print as "ε ≈ 0.0"


def _num(v: float) -> str:
    """ε-like numbers as a reader sees them: 0.0 below SHOWN_ZERO, two decimals below 1, else one."""
    if v < SHOWN_ZERO:
        return "0.0"
    return f"{v:.2f}" if v < 1 else f"{v:.1f}"


def _pct(v: float) -> str:
    return f"{100 * v:.1f} %" if 0 < v < 0.1 else f"{100 * v:.0f} %"


def audit_statement(block: dict, epsilon: float | None) -> str:
    """The canary audit's reading; `epsilon` is the run's guaranteed ε (None without DP)."""
    lb, n, conf = block["epsilon_lower_bound"], block["canaries"], block["confidence"]
    top = block.get("ceiling")
    reach = f" (with {n} canaries it can show at most ε ≈ {_num(top)})" if top is not None else ""
    if epsilon is None:
        if lb < SHOWN_ZERO:
            return (f"This audit found no leakage above ε ≈ 0.0 even without DP{reach}, so it is too weak "
                    "to say anything about this model; it does not show the model is private.")
        return (f"Without DP, this audit shows with {100 * conf:.0f} % confidence that training leaks at least as "
                f"much as ε ≈ {_num(lb)} would allow: from the released model alone an attacker tells which "
                f"of {n} planted records were trained on{reach}.")
    if lb < SHOWN_ZERO:
        return (f"This audit found no leakage above ε ≈ 0.0 ({n} canaries, {100 * conf:.0f} % confidence). "
                "Black-box audits are weak against DP models, so this does not show that ε is smaller "
                f"than the guarantee (ε = {_num(epsilon)}).")
    if lb > epsilon:
        return (f"This audit shows more leakage (ε ≥ {_num(lb)} at {100 * conf:.0f} % confidence) than the "
                f"guarantee (ε = {_num(epsilon)}) allows: the training or its accounting is broken, or this is the "
                f"{100 * (1 - conf):.0f} % chance the confidence level admits. Do not rely on this run's ε.")
    return (f"With {100 * conf:.0f} % confidence, training leaks at least as much as ε ≈ {_num(lb)} would allow "
            f"({n} canaries). That is within the guarantee (ε = {_num(epsilon)}); an audit gives only a "
            f"lower bound, so the true leakage lies somewhere between ε ≈ {_num(lb)} and ε = {_num(epsilon)}.")


def mia_statement(block: dict, epsilon: float | None, delta: float, name: str = "RMIA") -> str:
    """A membership attack's reading, with what the guarantee allows at 0.1 % FPR."""
    from ..accounting import tradeoff_tpr

    auc, tpr, n = round(block["auc"], 2), block["tpr_at_fpr"]["0.001"], block["nonmembers"]  # as the reader sees it
    who = (f"{name} ({block['reference_models']} reference model{'s' * (block['reference_models'] != 1)})"
           if "reference_models" in block else name)
    if auc < 0.55:
        verdict = "close to guessing (AUC 0.5)"
    elif auc < 0.65:
        verdict = "slightly better than guessing"
    else:
        verdict = "clearly better than guessing"
    text = (f"{who} tells training records from other records with AUC {auc:.2f}, {verdict}; at a "
            f"0.1 % false-positive rate it finds {_pct(tpr)} of the training records it tries.")
    if n * 0.001 < 1:
        text += (f" With {n} non-members that point is the no-false-positive point: too few records to "
                 "measure 0.1 % exactly.")
    if epsilon is None:
        text += " Without DP nothing caps this attack; real-record attacks are often weak on models that " \
                "generalise, which is why the canary audit shows the worst case."
    else:
        cap = float(tradeoff_tpr(0.001, epsilon, delta))
        text += f" The guarantee (ε = {_num(epsilon)}) caps any attack at {_pct(cap)} there."
    return text


def reconstruction_statement(block: dict) -> str:
    """The reconstruction study's reading: successes, interval, blind-guess rate and the DP bound."""
    s, t, m = block["successes"], block["targets"], block["candidates"]
    lo, hi = block["interval"]
    rate = f"{s} of {t} trials ({_pct(block['success_rate'])}; 95 % interval {_pct(lo)}–{_pct(hi)})"
    guess = f"a blind guess succeeds {_pct(block['kappa'])} of the time"
    if block["epsilon"] is None:
        return (f"Without DP, an attacker who knows every other training record and the training recipe "
                f"picked the right record out of {m} candidates in {rate}; {guess}.")
    bound = block["bound"]
    text = (f"At ε = {_num(block['epsilon'])} the same attacker picked the right record in {rate}; {guess}. "
            f"DP guarantees that no attack of this kind succeeds more than {_pct(bound)} of the time.")
    if lo > bound:
        text += " The observed rate is above that bound: the training or its accounting is broken."
    elif block["success_rate"] > bound:
        text += (f" The observed rate is above it, but within the sampling error of {t} trials "
                 "(the interval reaches below the bound).")
    return text


def inversion_statement(block: dict) -> str:
    return ("Class prototypes: what the model has learned a typical record of each class looks like. This is "
            "population knowledge, which DP does not and should not hide; it says nothing about any one person.")
