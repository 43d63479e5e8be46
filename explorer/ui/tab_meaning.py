"""What ε means, for one named run: attacker odds and the best membership test the guarantee allows."""
from __future__ import annotations

import streamlit as st

from .. import accounting, answer, choices

PITFALLS = """
**Tiers** (plain language; the numbers are worst cases over all people and attackers):
ε ≤ 1 strong · 1–5 moderate · 5–10 weak · above 10 very weak.

**Pitfalls**
- *An arbitrary ε is not a decision.* Pick ε by what an attacker may learn (the posterior above), not by habit.
- *Tuning on the test set leaks it.* Defaults here were chosen on a validation split of the training data.
- *Anonymisation is not enough.* Removing names does not stop membership inference; only a bound like DP does.
- *The unit of privacy matters.* Here it is one example (add/remove); a person with many rows is protected less.
"""


def subject(ans: answer.Answer) -> tuple[str, float | None, float]:
    """(which run, its ε, its δ): the run shown when it is the one asked; otherwise the asked
    configuration, whose ε the accountant gives without training."""
    if ans.exact:
        p = ans.record["privacy"]
        return f"the run shown, {answer.label(ans.record)}", p["epsilon_reported"] if p["epsilon"] is not None else None, p["delta"]
    return (f"the asked configuration, {ans.asked_text} (its guarantee needs no training)", ans.asked_epsilon,
            ans.asked.delta)


def render(ans: answer.Answer) -> None:
    prior = st.slider("Attacker's prior that a given person is in the data", 0.01, 0.99, 0.5, key="prior")
    who, eps, delta = subject(ans)
    if eps is not None:
        st.markdown(
            f"For {who}: with ε = {eps:.2f} and δ = {delta:g}, an attacker who starts {prior:.0%} sure ends **at "
            f"most {accounting.posterior(prior, eps, delta):.1%}** sure after seeing the model. No membership test "
            f"can beat a balanced accuracy of **{accounting.max_balanced_accuracy(eps, delta):.1%}**.")
        st.markdown(accounting.tier(eps)[1])
    else:
        st.markdown(f"For {who}: without DP nothing bounds what an attacker learns; the canary audit shows what "
                    "one can.")
    st.markdown(techniques(ans))
    st.markdown(PITFALLS)


def techniques(ans: answer.Answer) -> str:
    """What each technique assumes, one sentence each; the shown run's technique first and marked."""
    shown = choices.technique_label(ans.record["config"]) if ans.record is not None else None
    order = sorted(choices.TECHNIQUES, key=lambda t: t != shown)
    lines = ["**What each technique assumes** (ε means what is said here only under these assumptions)"]
    lines += [f"- **{t}**{' (the run shown)' if t == shown else ''}: {choices.ASSUMES[t]}" for t in order]
    return "\n".join(lines)
