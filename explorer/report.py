"""The impact-assessment report, for one run or for a budget study: Markdown, HTML and JSON, all from
the record (with, when given, the matching non-private baseline and the person's decision) or from the
study. No training, no I/O.

It states what "How to DP-fy ML" (Ponomareva et al., JAIR 2023, section 5.3) asks a DP model report to
state: the privacy unit and adjacency; the guarantee (ε by each accountant, δ and δ·n, the sampling the
accountant assumes and the one training used); what is protected (the final model and every
intermediate one); the engine and the noise source; what ε does not cover; the empirical evidence with
its limits; and the decision with its rationale and the thresholds the person stated. `run_facts` and
`study_facts` hold these under stable names (the JSON report carries them as `facts`); the Markdown and
HTML are the same facts in words. Absent fields (an older record, an attack not run) are said as "not
recorded", never guessed.

A report speaks only of what it describes: a run report's figures, statements and reproduce command are
that record's, a study report's are the study's. The HTML embeds interactive Plotly figures with
plotly.js inlined once (it opens offline). PNG export needs kaleido and a Chrome/Chromium
(requirements-extra.txt); without them the report says so and everything else still works.
"""
from __future__ import annotations

import html
import json
import shlex

from . import accounting
from .errors import ExplorerError

PERCENT_KEYS = {"0.0": "0", "0.001": "0.1 %", "0.01": "1 %", "0.1": "10 %"}
KIND, SCHEMA = "explorer-report", 1
NOT_RECORDED = "not recorded"
REFERENCE = ("Ponomareva et al., How to DP-fy ML: A Practical Guide to Machine Learning with Differential "
             "Privacy, JAIR 77 (2023)")
# the facts every report carries, in the order a reader meets them (tests/test_report.py checks them)
FACTS = ("subject", "data", "privacy_unit", "guarantee", "protected", "engine", "noise", "not_covered", "utility",
         "evidence", "decision", "reproduce")
EVIDENCE = (("audit", "canary audit"), ("mia", "RMIA"), ("loss_attack", "LOSS attack"),
            ("inversion", "model inversion (MI-Face)"))


def command(config: dict) -> str:
    """The CLI command that trains `config` (a RunConfig's dict)."""
    c = config
    parts = ["python -m explorer run", f"--dataset {c['dataset']}"]
    if c["mode"] == "epsilon":
        parts.append(f"--epsilon {c['target_epsilon']:g}")
    elif c["mode"] == "noise":
        parts.append(f"--noise-multiplier {c['noise_multiplier']:g}")
    else:
        parts.append("--non-private")
    if c.get("clip_norm") is not None:
        parts.append(f"--clip-norm {c['clip_norm']:g}")
    parts += [f"--delta {c['delta']:g}", f"--model {c['model']}", f"--epochs {c['epochs']}",
              f"--batch-size {c['batch_size']}", f"--lr {c['learning_rate']:g}", f"--momentum {c['momentum']:g}",
              f"--seed {c['seed']}", f"--accountant {c['accountant']}"]
    if c.get("attacks", True):
        parts += [f"--canaries {c['canaries']}", f"--reference-models {c['reference_models']}"]
    else:
        parts.append("--no-attacks")
    if c.get("reproducible"):
        parts.append("--reproducible")
    parts += _technique_flags(c)
    if c["dataset"] == "csv":
        parts.append("--csv YOUR.csv --target COLUMN")
    return " ".join(parts)


def _technique_flags(c: dict) -> list[str]:
    """The flags that make a run use its technique (nothing for plain DP-SGD with the model's defaults)."""
    from .config import GRAD_SAMPLE_DEFAULTS

    out = []
    if c.get("technique", "dp-sgd") != "dp-sgd":
        out += [f"--technique {c['technique']}", f"--teachers {c['teachers']}", f"--queries {c['queries']}"]
    if c.get("pretrain"):
        out.append("--pretrain digits" if c["pretrain"] == "digits" else "--pretrain public-csv --public-csv PUBLIC.csv")
    if c.get("clipping") == "adaptive":
        out += ["--clipping adaptive", f"--target-quantile {c['target_quantile']:g}"]
    gsm = c.get("grad_sample_mode")
    if gsm and c.get("model") in GRAD_SAMPLE_DEFAULTS and gsm != GRAD_SAMPLE_DEFAULTS[c["model"]][c.get("clipping") == "adaptive"]:
        out.append(f"--grad-sample-mode {gsm}")
    return out


def reproduce_command(record: dict) -> str:
    return command(record["config"])


def study_command(study: dict) -> str:
    """The CLI command that runs the same study on the same table (with the same options)."""
    st, spec = study["settings"], study["table"].get("spec", {})
    parts = ["python -m explorer study", "--csv YOUR.csv", f"--target {shlex.quote(str(spec.get('target', 'COLUMN')))}",
             "--epsilons " + ",".join(f"{e:g}" for e in st["epsilons"]), f"--seeds {len(st['seeds'])}"]
    parts += [f"--exclude {shlex.quote(c)}" for c in spec.get("exclude", [])]
    parts += [f"--type {shlex.quote(f'{c}={t}')}" for c, t in sorted(spec.get("types", {}).items())]
    if spec.get("subsample"):
        parts.append("--subsample")
    if st.get("delta_rule") == "chosen by the user":
        parts.append(f"--delta {st['delta']:g}")
    parts += [f"--reference-models {st['reference_models']}", "--output study.json"]
    return " ".join(parts)


def noise_note(record: dict) -> str | None:
    """Whether the run's noise was seeded (reproducible demo run) or secret, when the record says."""
    reproducible = _reproducible(record)
    if record["privacy"]["epsilon"] is None or reproducible is None:
        return None
    if reproducible:
        return ("seeded noise (a reproducible demonstration run, not private against anyone who holds the seed): "
                "the command below retrains this exact model; a deployment must use secret noise")
    return ("secret noise from the operating system (not reproducible): the command below trains a new model "
            "with the same guarantee, not these exact numbers")


def _reproducible(record: dict) -> bool | None:
    reproducible = record["config"].get("reproducible")
    rng = (record["privacy"].get("engine") or {}).get("noise_rng")
    if reproducible is None and rng in ("seeded", "os-entropy"):
        reproducible = rng == "seeded"
    return reproducible


def live_noise(config) -> str | None:
    """What noise a live run of `config` (a RunConfig) draws, when the engine says: "secret" or "seeded"."""
    if not hasattr(config, "reproducible"):
        return None
    return "seeded" if config.reproducible else "secret"


def tpr_text(tpr_at_fpr: dict) -> str:
    """"TPR 0.000 / 0.004 / 0.105 at FPR 0.1 % / 1 % / 10 %" for whichever FPRs the block has."""
    keys = sorted(tpr_at_fpr, key=float)
    return (f"TPR {' / '.join(f'{tpr_at_fpr[k]:.3f}' for k in keys)} at FPR "
            f"{' / '.join(PERCENT_KEYS.get(k, k) for k in keys)}")


def audit_bound_text(block: dict, guaranteed: float | None) -> str:
    """The audit's empirical ε lower bound in words: a bound of zero is said as what it means (the
    audit could not show leakage), never as a bare "ε lower bound 0.00"."""
    lb = block.get("epsilon_lower_bound")
    conf = block.get("confidence", 1 - block["significance"] if isinstance(block.get("significance"), float) else 0.95)
    g = "∞ (no privacy)" if guaranteed is None else f"{guaranteed:.2f}"
    if lb is None:
        return "no empirical bound in this record"
    if lb <= 0:
        return (f"no leakage certified at {conf:.0%} confidence (empirical ε lower bound 0, which does not prove "
                f"privacy; the guarantee is ε = {g})")
    return f"ε ≥ {lb:.2f} at {conf:.0%} confidence, against the guaranteed ε = {g} (it must not exceed it)"


# ---------------------------------------------------------------- facts shared by both subjects
def _num(v, spec: str = ".3f") -> str:
    return NOT_RECORDED if not isinstance(v, (int, float)) else format(v, spec)


def _unit(kind: str | None) -> dict:
    example = {"tabular": "one row of the training table", "image": "one image of the training set"}.get(
        kind, "one training example")
    return {"unit": f"one example ({example})", "adjacency": "add/remove",
            "text": f"Neighbouring training sets differ by adding or removing {example}; ε and δ bound what the "
                    "trained model reveals about any one such example.",
            "group_note": "A person with k examples in the data is protected as a group of k: roughly k·ε (and a "
                          "larger δ), so deduplicate per person or use a per-person unit if people repeat."}


def _protected_pate(pate: dict) -> dict:
    return {"final_model": True, "intermediate_models": True, "teachers": False,
            "text": f"The student — the released model — and every intermediate student: they are trained on public "
                    f"records labelled by {pate.get('answered', 'the')} noisy GNMax answers, a post-processing of "
                    "those answers, which ε covers. The teachers are NOT protected: trained without privacy on the "
                    "private data, they must never be released.",
            "outputs_not_covered": "Figures computed from the training rows or the teachers — the training accuracy, "
                                   "the teachers' accuracy and agreement, the label accuracy, the attacks' scores, "
                                   "the canary audit — are not covered by ε: they are for the assessment, not for "
                                   "publication."}


def _protected(private: bool, steps) -> dict:
    if not private:
        return {"final_model": False, "intermediate_models": False,
                "text": "Nothing: the non-private baseline has no privacy guarantee (ε = ∞); it is shown for "
                        "comparison only and must not be released."}
    return {"final_model": True, "intermediate_models": True,
            "text": f"The final model and every intermediate model: the accountant composes all "
                    f"{steps if isinstance(steps, int) else 'the'} noisy DP-SGD steps, so each iterate (any "
                    "checkpoint) is a post-processing of released noisy gradients and carries the same (ε, δ).",
            "outputs_not_covered": "Figures computed from the training rows besides the DP training itself — the "
                                   "training accuracy, the attacks' scores on members, the canary audit — are not "
                                   "covered by ε: they are for the assessment, not for publication."}


def _engine(privacy: dict, environment: dict, config: dict) -> dict:
    """The training engine as the record states it (schema 2's privacy.engine), field by field; where a
    field is missing, the run's configuration when it names it, else "not recorded"."""
    e = privacy.get("engine")
    recorded = isinstance(e, dict)
    e = e if recorded else {}
    out = {"recorded": recorded}
    for f in ("library", "version", "grad_sample_mode", "clipping", "secure_rng", "note"):
        v = e.get(f)
        if v in (None, "") and f in ("grad_sample_mode", "clipping") and config.get(f) not in (None, ""):
            v = f"{config[f]} (as configured)"
        out[f] = NOT_RECORDED if v in (None, "") else v
    if config.get("clipping") == "adaptive" and config.get("target_quantile") is not None:
        out["target_quantile"] = config["target_quantile"]
    if not recorded:
        opacus, torch = environment.get("opacus", NOT_RECORDED), environment.get("torch", NOT_RECORDED)
        out["note"] = f"this record has no engine block; its software list names opacus {opacus}"
        out["text"] = f"not recorded in this record (software installed: opacus {opacus}, torch {torch})"
        return out
    if e.get("library") == "explorer.pate":
        out["text"] = (f"explorer.pate {out['version']}: the GNMax aggregate of the teachers' votes labels the public "
                       f"records; {e.get('training', 'teachers and student trained without privacy')}")
        return out
    out["text"] = (f"{out['library']} {out['version']}, grad_sample_mode {out['grad_sample_mode']}, "
                   f"{out['clipping']} clipping"
                   + (f" (target quantile {out['target_quantile']:g})" if "target_quantile" in out else ""))
    return out


def _noise(private: bool, reproducible: bool | None, engine: dict) -> dict:
    secure = engine.get("secure_rng")
    common = {"cryptographically_secure_rng": secure if isinstance(secure, bool) else False,
              "floating_point_attacks": "not mitigated",
              "caveat": "The noise generator is not a cryptographically secure RNG (Opacus' secure_rng is off), and "
                        "attacks on floating-point noise (Mironov 2012; Jin et al. 2022) are not mitigated; a "
                        "deployment facing such attackers needs a secure RNG and a hardened sampler."}
    if not private:
        return {"source": "none", "reproducible": None, "private_against_seed_holders": None,
                "text": "no noise: the non-private baseline", **common}
    if reproducible is None:
        return {"source": NOT_RECORDED, "reproducible": None, "private_against_seed_holders": None,
                "text": "not recorded: this record does not say whether its noise was secret or seeded", **common}
    if reproducible:
        return {"source": "seeded", "reproducible": True, "private_against_seed_holders": False,
                "text": "seeded noise (a reproducible demonstration run): not private against anyone who holds the "
                        "seed; a deployment must use secret noise", **common}
    return {"source": "os-entropy", "reproducible": False, "private_against_seed_holders": True,
            "text": "secret noise drawn from the operating system's entropy (not reproducible bit for bit)", **common}


def _not_covered(kind: str | None, tuned: str) -> list[dict]:
    if kind == "image":
        pre = ("Preprocessing: pixels are scaled by a fixed constant (1/255); no statistic is fitted on the "
               "training rows. Fixed feature extractors (ScatterNet) are data-independent.")
    else:
        pre = ("Preprocessing statistics: each numeric column's mean and standard deviation and each categorical "
               "column's set of levels were computed from the training rows; they shape the model's inputs and are "
               "not covered by ε.")
    return [{"id": "hyperparameter_tuning", "text": f"Hyper-parameter tuning: {tuned} The privacy cost of that "
                                                    "choice is not in ε."},
            {"id": "preprocessing_statistics", "text": pre},
            {"id": "architecture_choice", "text": "The architecture choice (model family and size, input encoding) "
                                                  "was made with knowledge of the data's shape and is not covered "
                                                  "by ε."},
            {"id": "evidence_outputs", "text": "The attack and audit figures in this report are computed on the "
                                               "training rows and are not covered by ε."}]


def _block(name: str, b: dict | None, guaranteed: float | None) -> dict:
    """An evidence block's headline fields by name (no curves or scores); absent → not recorded."""
    if not isinstance(b, dict):
        return {"recorded": False, "text": NOT_RECORDED}
    out = {"recorded": True, "method": b.get("method", NOT_RECORDED)}
    for f in ("kind", "canaries", "included", "score", "threshold_strategy", "confidence", "significance",
              "reference_models", "gamma", "a", "auc", "advantage", "balanced_accuracy", "epsilon_lower_bound",
              "member_closer_rate", "classes"):
        if f in b and not isinstance(b[f], (dict, list)):
            out[f] = b[f]
    if isinstance(b.get("tpr_at_fpr"), dict):
        out["tpr_at_fpr"] = b["tpr_at_fpr"]
    if isinstance(b.get("bounds"), dict):
        out["bounds"] = b["bounds"]
    if name == "audit":
        out["bound_text"] = audit_bound_text(b, guaranteed)
    out["statement"] = b.get("statement") or NOT_RECORDED
    return out


EVIDENCE_LIMITS = [
    "The canary audit and the membership attacks measure leakage from below: a weak attack does not show that a "
    "model is private; only ε does.",
    "A one-run audit (Steinke, Nasr & Jagielski 2023) certifies a lower bound for this one training at its stated "
    "confidence; with few canaries it is far below ε even for a model that leaks as much as ε allows.",
    "RMIA uses the reference models listed; a stronger or better-informed attacker may do better.",
    "Model inversion recovers class prototypes — population knowledge, which DP does not and should not hide — "
    "not individual records."]


def _decision(decided: dict | None) -> dict:
    if not decided:
        return {"stated": False, "text": "no thresholds stated: this report records no decision"}
    thresholds = [decided["floor"]["stated"]] + ([decided["ceiling"]["stated"]] if decided.get("ceiling") else [])
    return {"stated": True, "thresholds": thresholds, "floor": decided["floor"], "ceiling": decided.get("ceiling"),
            "verdict": decided.get("verdict"), "recommended_epsilon": decided.get("recommended"),
            "interval": decided.get("interval"), "rationale": decided.get("message"), "rule": decided.get("rule"),
            "notes": decided.get("notes", []), "advice": decided.get("advice", []), "points": decided.get("points", [])}


def _delta_policy(delta: float, n) -> dict:
    from .study import default_delta, delta_policy

    if not isinstance(n, int) or n < 1:
        return {"n": NOT_RECORDED, "delta_times_n": NOT_RECORDED, "default_delta": NOT_RECORDED,
                "above_one_over_n": None, "warnings": []}
    try:
        warnings = delta_policy(n, delta)[2]
    except ExplorerError as e:  # a δ outside (0, 0.1]
        warnings = [str(e)]
    return {"n": n, "delta_times_n": round(delta * n, 6), "default_delta": default_delta(n),
            "default_rule": "1/(10·n) rounded down to a power of ten", "above_one_over_n": delta > 1 / n,
            "warnings": warnings}


# ---------------------------------------------------------------- one run
def run_facts(record: dict, baseline: dict | None = None, decision: dict | None = None) -> dict:
    """The report's facts for one run, under stable names (FACTS)."""
    c, p, u, a = record["config"], record["privacy"], record["utility"], record["attacks"]
    d = record.get("dataset", {})
    env = record.get("environment", {})
    private = p["epsilon"] is not None
    n = d.get("n_train")
    policy = _delta_policy(p["delta"], n)
    guarantee = {"private": private, "accountant": p.get("accountant"), "delta": p["delta"],
                 "n": policy["n"], "delta_times_n": policy["delta_times_n"], "delta_policy": policy,
                 "sampling": {"assumed_by_accountant": "poisson" if private else None,
                              "used": ("poisson" if p.get("poisson_sampling") else "shuffled batches"),
                              "sample_rate": p.get("sample_rate"), "expected_batch_size": c.get("batch_size"),
                              "steps": p.get("steps"), "epochs": c.get("epochs")}}
    pate = p.get("pate") if c.get("technique") == "pate" else None
    if pate:
        guarantee["sampling"] = {"assumed_by_accountant": None, "used": "none: PATE answers queries, it samples nothing",
                                 "sample_rate": None, "expected_batch_size": None, "steps": None,
                                 "epochs": c.get("epochs")}
        guarantee["pate"] = {k: pate.get(k) for k in ("teachers", "queries", "answered", "aggregator",
                                                      "vote_sensitivity_l2", "gaussian_noise_multiplier", "analysis",
                                                      "events", "accountants", "assignment")}
    if private:
        guarantee.update({"epsilon": dict(p["epsilon"]), "epsilon_reported": p["epsilon_reported"],
                          "target_epsilon": c.get("target_epsilon"), "noise_multiplier": p["noise_multiplier"],
                          "clip_norm": c.get("clip_norm"), "gdp_mu": p.get("gdp_mu"),
                          "tier": accounting.tier(p["epsilon_reported"])[1]})
    else:
        guarantee.update({"epsilon": None, "epsilon_reported": None, "tier": accounting.tier(None)[1]})
    engine = _engine(p, env, c)
    guaranteed = p["epsilon_reported"] if private else None
    evidence = {key: _block(key, a.get(key), guaranteed) for key, _ in EVIDENCE}
    evidence["limits"] = EVIDENCE_LIMITS
    utility = {"test_accuracy": u["test_accuracy"], "train_accuracy": u.get("train_accuracy"),
               "baseline_test_accuracy": None, "difference_points": None}
    if baseline is not None and baseline is not record:
        b = baseline["utility"]["test_accuracy"]
        utility.update({"baseline_test_accuracy": b, "baseline_key": baseline["key"],
                        "difference_points": round(100 * (u["test_accuracy"] - b), 2)})
    from .choices import ASSUMES, technique_label

    technique = technique_label(c)
    not_covered = _not_covered(d.get("kind"), "the recipe (model, learning rate, clip norm, batch size, epochs) "
                                              "was chosen before this run, on a validation split of the "
                                              "training data, never on the test split.")
    if p.get("pretrain"):
        pre = p["pretrain"]
        not_covered.append({"id": "public_pretraining",
                            "text": f"{pre['note']}: {pre.get('description') or pre['source']} ({pre.get('rows')} rows). "
                                    "If that data is not in fact public, ε understates the risk to the people in it."})
    if pate:
        not_covered += [{"id": "public_unlabeled_data",
                         "text": f"PATE's public data: {pate.get('public_data', NOT_RECORDED)}. The guarantee assumes "
                                 "these records are public; if they are not, ε does not protect them."},
                        {"id": "teachers", "text": f"PATE's teachers: {pate.get('teachers_note', NOT_RECORDED)}."}]
    return {
        "subject": {"kind": "run", "key": record["key"], "dataset": c["dataset"], "model": c["model"],
                    "mode": c["mode"], "seed": c["seed"], "created": record.get("created"),
                    "technique": technique, "assumes": ASSUMES[technique] if private else None},
        "data": {"dataset": c["dataset"], "kind": d.get("kind"), "n_train": n, "n_test": d.get("n_test"),
                 "n_population": d.get("n_population"), "num_classes": d.get("num_classes")},
        "privacy_unit": {**_unit(d.get("kind")), "recorded": p.get("unit", NOT_RECORDED)},
        "guarantee": guarantee,
        "protected": _protected_pate(pate) if pate and private else _protected(private, p.get("steps")),
        "engine": engine,
        "noise": _noise(private, _reproducible(record), engine),
        "not_covered": not_covered,
        "utility": utility,
        "evidence": evidence,
        "decision": _decision(decision),
        "reproduce": {"command": reproduce_command(record), "key": record["key"], "software": env,
                      "noise": noise_note(record)},
    }


def _guarantee_rows(g: dict) -> list[tuple[str, str]]:
    pol, s = g["delta_policy"], g["sampling"]
    rows = []
    if g["private"]:
        e = g["epsilon"]
        rows += [("ε (reported)", f"{g['epsilon_reported']:.3f} by {g['accountant'].upper()}"),
                 ("ε by each accountant", f"PRV {e['prv']:.3f} · RDP {e['rdp']:.3f} · PLD {e['pld']:.3f}")]
    else:
        rows.append(("guarantee", "none: this is the non-private baseline (ε = ∞)"))
    rows.append(("δ", f"{g['delta']:g}"))
    rows.append(("δ·n", f"{_num(g['delta_times_n'], '.3g')} for n = {pol['n']} training examples "
                        f"(default δ here: {_num(pol['default_delta'], 'g')} = {pol.get('default_rule', '1/(10·n)')})"))
    rows += [("δ warning", w) for w in pol["warnings"]]
    if g["private"] and g.get("pate"):
        pt = g["pate"]
        rows += [("mechanism", f"PATE: {pt['answered']} public queries answered by GNMax — the argmax of the "
                               f"{pt['teachers']} teachers' vote counts plus Gaussian noise σ = "
                               f"{_num(g['noise_multiplier'], '.4g')} — one record moving one vote (L2 sensitivity √2)"),
                 ("analysis", f"{pt['analysis']}; composed by dp-accounting as {pt['events']}"),
                 ("sampling", "none: PATE samples no batches (the accountant composes the answered queries)"),
                 ("GDP μ (exact for Gaussian answers)", _num(g.get("gdp_mu"))),
                 ("best balanced accuracy any attacker can reach",
                  f"{accounting.max_balanced_accuracy(g['epsilon_reported'], g['delta']):.3f}"),
                 ("attacker belief from a 1 % prior, at most",
                  f"{accounting.posterior(0.01, g['epsilon_reported'], g['delta']):.2%}")]
    elif g["private"]:
        rows += [("sampling", f"Poisson subsampling assumed by the accountant; used in training: {s['used']} "
                              f"(each example in each batch independently, rate q = {_num(s['sample_rate'], '.5f')})"),
                 ("noise multiplier σ", _num(g["noise_multiplier"], ".4f")), ("clip norm C", _num(g["clip_norm"], "g")),
                 ("batch size (expected)", str(s["expected_batch_size"])),
                 ("steps / epochs", f"{s['steps']} / {s['epochs']}"),
                 ("GDP μ (CLT approximation)", _num(g.get("gdp_mu"))),
                 ("best balanced accuracy any attacker can reach",
                  f"{accounting.max_balanced_accuracy(g['epsilon_reported'], g['delta']):.3f}"),
                 ("attacker belief from a 1 % prior, at most",
                  f"{accounting.posterior(0.01, g['epsilon_reported'], g['delta']):.2%}")]
    rows.append(("in plain words", g["tier"]))
    return rows


def _common_rows(f: dict) -> dict[str, list[tuple[str, str]]]:
    u = f["privacy_unit"]
    e, nz = f["engine"], f["noise"]
    return {
        "Privacy unit and adjacency": [("unit of privacy", u["unit"]), ("adjacency", u["adjacency"]),
                                       ("as recorded", u["recorded"]), ("meaning", u["text"]),
                                       ("people with several examples", u["group_note"])],
        "What is protected": [("final model", "yes" if f["protected"]["final_model"] else "no"),
                              ("every intermediate model", "yes" if f["protected"]["intermediate_models"] else "no"),
                              ("in words", f["protected"]["text"])]
        + ([("not covered", f["protected"]["outputs_not_covered"])] if f["protected"].get("outputs_not_covered") else []),
        "Training engine and noise": [("training engine", e["text"]), ("noise source", nz["text"]),
                                      ("cryptographically secure RNG", "yes" if nz["cryptographically_secure_rng"] is True
                                       else "no"),
                                      ("floating-point attacks", nz["floating_point_attacks"]),
                                      ("caveat", nz["caveat"])],
        "What ε does not cover": [(i["id"].replace("_", " "), i["text"]) for i in f["not_covered"]],
    }


def _evidence_rows(ev: dict) -> list[tuple[str, str]]:
    rows = []
    for key, name in EVIDENCE:
        b = ev[key]
        if not b["recorded"]:
            rows.append((name, NOT_RECORDED))
            continue
        if key == "audit":
            rows += [("canary audit", f"{b.get('canaries', '?')} {b.get('kind', 'canaries')}, "
                                      f"{b.get('included', '?')} trained on"),
                     ("canary AUC", _num(b.get("auc"))),
                     ("empirical ε lower bound", b["bound_text"])]
            if "tpr_at_fpr" in b:
                rows.append(("canary attack", tpr_text(b["tpr_at_fpr"])))
        elif key == "inversion":
            text = b["statement"] if b["statement"] != NOT_RECORDED else (
                f"{b['member_closer_rate']:.2f} of class reconstructions nearer a member than a non-member (0.50 = "
                "no record-level leakage)" if isinstance(b.get("member_closer_rate"), (int, float)) else "")
            if "population knowledge" not in text:
                text = (text + "; " if text else "") + "class prototypes are population knowledge, which DP does not hide"
            rows.append((name, text))
            continue
        else:
            text = f"AUC {_num(b.get('auc'))}" + (f", {tpr_text(b['tpr_at_fpr'])}" if "tpr_at_fpr" in b else "")
            if "balanced_accuracy" in b:
                text += f", best balanced accuracy {b['balanced_accuracy']:.3f}"
            if key == "mia" and "reference_models" in b:
                text += f", {b['reference_models']} reference models"
            rows.append((f"{name} on real records", text))
        rows.append((f"{name} in plain words", b["statement"]))
    rows += [("limit", t) for t in ev["limits"]]
    return rows


def _decision_rows(d: dict) -> list[tuple[str, str]]:
    if not d["stated"]:
        return [("decision", d["text"])]
    rows = [("threshold stated", t) for t in d["thresholds"]]
    rows += [("verdict", str(d["verdict"])), ("rationale", d["rationale"] or ""),
             ("recommended ε", "none" if d["recommended_epsilon"] is None else f"{d['recommended_epsilon']:g}"),
             ("ε interval meeting both", "none" if not d["interval"] else
              f"{d['interval'][0]:g} – {d['interval'][1]:g} (studied budgets)"),
             ("rule", d["rule"] or "")]
    rows += [("note", n) for n in d["notes"]] + [("would help", a) for a in d["advice"]]
    return rows


def sections(record: dict, baseline: dict | None = None, decision: dict | None = None,
             facts: dict | None = None) -> list[tuple[str, list[tuple[str, str]]]]:
    """The run report as titled tables of (item, text), in the order of `FACTS`."""
    f = facts or run_facts(record, baseline, decision)
    s, dd, u = f["subject"], f["data"], f["utility"]
    common = _common_rows(f)
    subject = [("run", f"{s['dataset']}, {s['mode'].replace('_', '-')}, model {s['model']}, seed {s['seed']}"),
               ("dataset", f"{dd['dataset']} ({dd['n_train']} training examples)"), ("record key", s["key"])]
    if s.get("assumes"):
        subject += [("technique", s["technique"]), ("what the technique assumes", s["assumes"])]
    utility = [("test accuracy", _num(u["test_accuracy"], ".4f")), ("train accuracy", _num(u["train_accuracy"], ".4f"))]
    if u["baseline_test_accuracy"] is not None:
        b = u["baseline_test_accuracy"]
        utility.append(("non-private baseline", f"{b:.4f} (Δ {u['test_accuracy'] - b:+.4f})"))
    r = f["reproduce"]
    reproduce = [("command", r["command"]), ("record key", r["key"]),
                 ("software", ", ".join(f"{k} {v}" for k, v in r["software"].items()))]
    if r["noise"]:
        reproduce.append(("noise", r["noise"]))
    return [("What this report describes", subject),
            ("Privacy unit and adjacency", common["Privacy unit and adjacency"]),
            ("Privacy guarantee", _guarantee_rows(f["guarantee"])),
            ("What is protected", common["What is protected"]),
            ("Training engine and noise", common["Training engine and noise"]),
            ("What ε does not cover", common["What ε does not cover"]),
            ("Utility", utility),
            ("Privacy evidence (attacks on the trained model) and its limits", _evidence_rows(f["evidence"])),
            ("Decision", _decision_rows(f["decision"])),
            ("Reproduce", reproduce)]


# ---------------------------------------------------------------- a study
def _study_runs(study: dict) -> dict:
    """Runs by target ε (None: non-private), in the study's order."""
    out: dict = {}
    for r in study["runs"]:
        c = r["config"]
        out.setdefault(c["target_epsilon"] if c["mode"] == "epsilon" else None, []).append(r)
    return out


def _chosen(study: dict) -> tuple[float | None, list[dict]]:
    """The budget a study report puts forward: the recommended ε when a decision recommends one, else the
    largest studied ε; with its runs."""
    by = _study_runs(study)
    rec = (study.get("decision") or {}).get("recommended")
    eps = rec if rec in by else max(e for e in by if e is not None)
    return eps, by[eps]


def study_facts(study: dict) -> dict:
    """The report's facts for a budget study (its decision, when attached, included), under FACTS' names."""
    st, t = study["settings"], study["table"]
    by = _study_runs(study)
    private = [r for r in study["runs"] if r["config"]["mode"] == "epsilon"]
    first = private[0]
    n = t.get("n_train")
    policy = _delta_policy(st["delta"], n)
    policy["rule"] = st.get("delta_rule")
    budgets = []
    for eps, rs in by.items():
        if eps is None:
            continue
        budgets.append({"target_epsilon": eps, "runs": len(rs),
                        "epsilon": {k: max(r["privacy"]["epsilon"][k] for r in rs) for k in rs[0]["privacy"]["epsilon"]},
                        "epsilon_reported": max(r["privacy"]["epsilon_reported"] for r in rs),
                        "noise_multiplier": [r["privacy"]["noise_multiplier"] for r in rs]})
    p = first["privacy"]
    guarantee = {"private": True, "accountant": st.get("accountant"), "delta": st["delta"], "n": policy["n"],
                 "delta_times_n": policy["delta_times_n"], "delta_policy": policy, "budgets": budgets,
                 "epsilon_note": "per released model: each run's ε covers that run alone (the largest over its seeds "
                                 "is shown); releasing several models spends their budgets together",
                 "sampling": {"assumed_by_accountant": "poisson",
                              "used": "poisson" if all(r["privacy"].get("poisson_sampling") for r in private)
                              else "not Poisson in some run",
                              "sample_rate": p.get("sample_rate"), "expected_batch_size": first["config"]["batch_size"],
                              "steps": p.get("steps"), "epochs": first["config"]["epochs"]},
                 "clip_norm": first["config"].get("clip_norm")}
    engine = _engine(p, first.get("environment", {}), first["config"])
    kinds = {_reproducible(r) for r in private}
    reproducible = kinds.pop() if len(kinds) == 1 else None
    chosen_eps, chosen_runs = _chosen(study)
    evidence = {"budgets": study["summary"], "chosen_epsilon": chosen_eps, "chosen_key": chosen_runs[0]["key"],
                "runs": {r["key"]: {"target_epsilon": r["config"]["target_epsilon"], "seed": r["config"]["seed"],
                                    **{key: _block(key, r["attacks"].get(key), r["privacy"]["epsilon_reported"])
                                       for key, _ in EVIDENCE}}
                         for r in study["runs"]},
                "limits": EVIDENCE_LIMITS}
    for key, _ in EVIDENCE:  # the put-forward budget's first seed, in words
        evidence[key] = _block(key, chosen_runs[0]["attacks"].get(key), chosen_runs[0]["privacy"]["epsilon_reported"])
    tuning = st.get("tuning", {})
    tuned = (f"the model and learning rate were chosen by {len(tuning.get('trials', []))} trainings on a validation "
             f"split of the training rows ({tuning.get('split', NOT_RECORDED)}).")
    not_covered = _not_covered("tabular", tuned)
    not_covered.append({"id": "several_models", "text": "This study trained several models on the same rows to "
                                                        "compare budgets; each run's ε covers one released model. "
                                                        "Release one."})
    if t.get("subsampled"):
        s = t["subsampled"]
        not_covered.append({"id": "subsample", "text": f"The table was subsampled from {s['from']:,} to {s['to']:,} "
                                                       f"rows ({s['method']}), with the user's agreement."})
    return {
        "subject": {"kind": "study", "table": t.get("fingerprint"), "target": t.get("target"),
                    "epsilons": st["epsilons"], "seeds": st["seeds"], "runs": len(study["runs"]),
                    "created": study.get("created")},
        "data": {"dataset": "csv (the user's table)", "kind": "tabular", "rows_read": t.get("rows_read"),
                 "rows_used": t.get("rows_used"), "n_train": n, "n_test": t.get("n_test"),
                 "n_population": t.get("n_population"), "num_classes": t.get("num_classes"),
                 "features": t.get("features"), "subsampled": t.get("subsampled"), "notes": t.get("notes", []),
                 "columns": t.get("columns", []), "preprocessing": t.get("preprocessing")},
        "privacy_unit": {**_unit("tabular"), "recorded": p.get("unit", NOT_RECORDED)},
        "guarantee": guarantee,
        "protected": {**_protected(True, p.get("steps")),
                      "per_model": "each studied model separately; the non-private baseline has no protection"},
        "engine": engine,
        "noise": _noise(True, reproducible, engine),
        "not_covered": not_covered,
        "disclosures": study.get("disclosures", []),
        "warnings": study.get("warnings", []),
        "utility": {"budgets": study["summary"], "recipe": st.get("recipe")},
        "evidence": evidence,
        "decision": _decision(study.get("decision")),
        "reproduce": {"command": study_command(study), "software": first.get("environment", {}),
                      "noise": ("seeded noise: the command retrains these exact models" if reproducible else
                                "secret noise (or not recorded): the command trains new models with the same "
                                "guarantees, not these exact numbers")},
    }


def study_sections(study: dict, facts: dict | None = None) -> list[tuple[str, list[tuple[str, str]]]]:
    f = facts or study_facts(study)
    s, dd, g = f["subject"], f["data"], f["guarantee"]
    common = _common_rows(f)
    subject = [("study", f"{len(s['epsilons'])} budget(s) (ε = {', '.join(f'{e:g}' for e in s['epsilons'])}) and the "
                         f"non-private baseline × {len(s['seeds'])} seed(s): {s['runs']} runs"),
               ("table", f"{dd['rows_used']} rows used of {dd['rows_read']} read ({dd['n_train']} train / {dd['n_test']} "
                         f"test / {dd['n_population']} population), {dd['features']} model inputs, "
                         f"{dd['num_classes']} classes, target {s['target']!r}"),
               ("table fingerprint", str(s["table"])), ("preprocessing", dd.get("preprocessing") or NOT_RECORDED)]
    if dd["subsampled"]:
        subject.append(("subsample", f"{dd['subsampled']['from']:,} → {dd['subsampled']['to']:,} rows, as agreed"))
    subject += [("note on the table", n) for n in dd["notes"]]
    pol, sm = g["delta_policy"], g["sampling"]
    guarantee = [(f"ε for target {b['target_epsilon']:g}",
                  f"{b['epsilon_reported']:.3f} by {g['accountant'].upper()} (PRV {b['epsilon']['prv']:.3f} · RDP "
                  f"{b['epsilon']['rdp']:.3f} · PLD {b['epsilon']['pld']:.3f}; largest over {b['runs']} seed(s))")
                 for b in g["budgets"]]
    guarantee += [("per model", g["epsilon_note"]), ("δ", f"{g['delta']:g} ({pol.get('rule') or NOT_RECORDED})"),
                  ("δ·n", f"{_num(g['delta_times_n'], '.3g')} for n = {pol['n']} training rows (default δ "
                          f"{_num(pol['default_delta'], 'g')} = 1/(10·n) rounded down to a power of ten)")]
    guarantee += [("δ warning", w) for w in pol["warnings"]]
    guarantee += [("sampling", f"Poisson subsampling assumed by the accountant; used in training: {sm['used']} (rate "
                               f"q = {_num(sm['sample_rate'], '.5f')}, expected batch {sm['expected_batch_size']}, "
                               f"{sm['steps']} steps over {sm['epochs']} epochs)"),
                  ("clip norm C", _num(g["clip_norm"], "g"))]
    utility = [("rule", "a budget's accuracy is the mean over its seeds; the decision checks mean − s.d.")]
    for b in f["utility"]["budgets"]:
        a = b["test_accuracy"]
        utility.append(("no privacy" if b["epsilon"] is None else f"ε = {b['epsilon']:g}",
                        f"test accuracy {100 * a['mean']:.1f} ± {100 * a['sd']:.1f} % (mean ± s.d. over {b['runs']} "
                        f"seed(s); mean − s.d. {100 * a['conservative']:.1f} %)"))
    r = f["utility"]["recipe"] or {}
    if r:
        utility.append(("recipe", r.get("why", NOT_RECORDED)))
    ev = f["evidence"]
    evidence = []
    for b in ev["budgets"]:
        e = b.get("evidence") or {}
        lb = e.get("audit_epsilon_lower_bound_max")
        evidence.append(("no privacy" if b["epsilon"] is None else f"ε = {b['epsilon']:g}",
                         f"canary audit AUC {_num(e.get('audit_auc'))}, empirical ε lower bound "
                         + ("none certified (0, which does not prove privacy)" if lb == 0 else _num(lb, ".2f"))
                         + f"; RMIA AUC {_num(e.get('rmia_auc'))}, TPR at 0.1 % FPR {_num(e.get('rmia_tpr_at_0.001'))}"
                         + f"; LOSS AUC {_num(e.get('loss_auc'))}"))
    chosen = {k: ev[k] for k, _ in EVIDENCE}
    words = _evidence_rows({**chosen, "limits": []})
    seed = ev["runs"][ev["chosen_key"]]["seed"]
    evidence += [(f"ε = {ev['chosen_epsilon']:g}, seed {seed}: {k}", v) for k, v in words]
    evidence += [("limit", t) for t in ev["limits"]]
    caveats = [("warning", w) for w in f["warnings"]]  # the study's disclosures are the items above, in its words
    rep = f["reproduce"]
    reproduce = [("command", rep["command"]), ("noise", rep["noise"]),
                 ("software", ", ".join(f"{k} {v}" for k, v in rep["software"].items()))]
    return [("What this report describes", subject),
            ("Privacy unit and adjacency", common["Privacy unit and adjacency"]),
            ("Privacy guarantee", guarantee),
            ("What is protected", common["What is protected"] + [("per model", f["protected"]["per_model"])]),
            ("Training engine and noise", common["Training engine and noise"]),
            ("What ε does not cover", common["What ε does not cover"] + caveats),
            ("Utility", utility),
            ("Privacy evidence (attacks on the trained models) and its limits", evidence),
            ("Decision", _decision_rows(f["decision"])),
            ("Reproduce", reproduce)]


# ---------------------------------------------------------------- renderings
def _markdown(title: str, secs) -> str:
    lines = [f"# {title}", "", f"Following the reporting checklist of {REFERENCE}.", ""]
    for name, rows in secs:
        lines += [f"## {name}", "", "| item | value |", "|---|---|"]
        lines += [f"| {k} | {str(v).replace('|', '/')} |" for k, v in rows] + [""]
    return "\n".join(lines)


def _html(title: str, secs, figures: dict | None, note: str | None) -> str:
    out = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
           ("<style>body{font-family:sans-serif;max-width:960px;margin:auto}td,th{border:1px solid #ccc;"
            "padding:4px 8px;text-align:left;vertical-align:top}table{border-collapse:collapse}</style>"
            f"<h1>{html.escape(title)}</h1><p>Following the reporting checklist of {html.escape(REFERENCE)}.</p>")]
    for name, rows in secs:
        out.append(f"<h2>{html.escape(name)}</h2><table>")
        out += [f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows]
        out.append("</table>")
    for i, (name, fig) in enumerate((figures or {}).items()):
        out.append(f"<h2>{html.escape(name)}</h2>")
        out.append(fig.to_html(full_html=False, include_plotlyjs=i == 0, config={"displaylogo": False},
                               default_width="100%", default_height="420px"))
    if note:
        out.append(f"<p><em>{html.escape(note)}</em></p>")
    return "\n".join(out)


RUN_TITLE, STUDY_TITLE = "Differential-privacy report", "Differential-privacy report: a budget study"


def markdown(record: dict, baseline: dict | None = None, decision: dict | None = None) -> str:
    return _markdown(RUN_TITLE, sections(record, baseline, decision))


def html_report(record: dict, baseline: dict | None = None, figures: dict | None = None,
                note: str | None = None, decision: dict | None = None) -> str:
    """Self-contained HTML. `figures` maps titles to Plotly figures, embedded interactive with
    plotly.js inlined once (no network needed to open the file); `note` says why they are missing."""
    return _html(RUN_TITLE, sections(record, baseline, decision), figures, note)


def json_report(record: dict, baseline: dict | None = None, decision: dict | None = None) -> str:
    facts = run_facts(record, baseline, decision)
    return json.dumps({"kind": KIND, "schema": SCHEMA, "reference": REFERENCE, "facts": facts,
                       "report": {t: dict(rows) for t, rows in sections(record, baseline, decision, facts)},
                       "record": record, "baseline": baseline}, indent=1, allow_nan=False)


def figures(record: dict, dataset_records: list[dict]) -> dict:
    """The main view's three figures for this run alone (the frontier marks it, nothing asked), in a
    template of their own: inside the app Plotly's default template is Streamlit's, whose colours are
    placeholders only Streamlit's front end fills in."""
    from . import plots

    figs = {"Accuracy vs ε": plots.frontier(dataset_records, record),
            "Privacy budget spent": plots.budget(record), "Attacks vs the guarantee": plots.attack_roc(record)}
    for fig in figs.values():
        fig.update_layout(template="plotly_white")
    return figs


def html_with_figures(record: dict, baseline: dict | None, dataset_records: list[dict],
                      decision: dict | None = None) -> str:
    """The HTML report with the main view's three figures embedded."""
    return html_report(record, baseline, figures(record, dataset_records), decision=decision)


def study_figures(study: dict) -> dict:
    """The decision figure (or, without a decision, accuracy vs ε) and the put-forward budget's attack ROC
    and budget per epoch, in the report's own template."""
    from . import plots

    eps, runs = _chosen(study)
    run = runs[0]
    figs = {}
    if study.get("decision"):
        figs["Accuracy vs ε: the decision"] = plots.decision(study["decision"], study["summary"])
    else:
        figs["Accuracy vs ε"] = plots.frontier(study["runs"])
    figs[f"Privacy budget spent (ε = {eps:g}, seed {run['config']['seed']})"] = plots.budget(run)
    figs[f"Attacks vs the guarantee (ε = {eps:g}, seed {run['config']['seed']})"] = plots.attack_roc(run)
    for fig in figs.values():
        fig.update_layout(template="plotly_white")
    return figs


def study_markdown(study: dict) -> str:
    return _markdown(STUDY_TITLE, study_sections(study))


def study_html(study: dict, figures: dict | None = None, note: str | None = None) -> str:
    """Self-contained HTML of a study's report, its figures embedded (plotly.js inlined once)."""
    return _html(STUDY_TITLE, study_sections(study), study_figures(study) if figures is None else figures, note)


def study_json(study: dict) -> str:
    """The study's report as JSON: `facts` under stable names, the same in words (`report`), and the study
    itself (aggregates only)."""
    facts = study_facts(study)
    return json.dumps({"kind": KIND, "schema": SCHEMA, "reference": REFERENCE, "facts": facts,
                       "report": {t: dict(rows) for t, rows in study_sections(study, facts)}, "study": study},
                      indent=1, allow_nan=False)


def png_figures(figs: dict, width: int = 900, height: int = 420) -> tuple[dict[str, bytes], str | None]:
    """The figures as PNG through kaleido (an optional extra that drives a Chrome/Chromium). Returns
    (images, None) or ({}, why they could not be drawn)."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return {}, "PNG export needs kaleido: pip install -r requirements-extra.txt (and a Chrome or Chromium)"
    out = {}
    for title, fig in figs.items():
        try:
            out[title] = fig.to_image(format="png", width=width, height=height)
        except Exception as e:  # no browser for kaleido: say so instead of failing
            return {}, f"PNG export failed ({type(e).__name__}); kaleido needs a Chrome or Chromium"
    return out, None


def kaleido_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("kaleido") is not None
