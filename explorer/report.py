"""Impact-assessment report of one run: Markdown, HTML and JSON, all from the record (and, when given,
the matching non-private baseline record). No training, no I/O.

A report speaks only of the run it describes: its figures, its statements and its reproduce command are
that record's. The HTML report embeds the app's Plotly figures, interactive, with plotly.js inlined once
(it opens offline). PNG export needs kaleido and a Chrome/Chromium (requirements-extra.txt); without
them the report says so and everything else still works.
"""
from __future__ import annotations

import html
import json

from . import accounting

PERCENT_KEYS = {"0.0": "0", "0.001": "0.1 %", "0.01": "1 %", "0.1": "10 %"}


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
    if c["dataset"] == "csv":
        parts.append("--csv YOUR.csv --target COLUMN")
    return " ".join(parts)


def reproduce_command(record: dict) -> str:
    return command(record["config"])


def noise_note(record: dict) -> str | None:
    """Whether the run's noise was seeded (reproducible demo run) or secret, when the record says."""
    reproducible = record["config"].get("reproducible")
    rng = (record["privacy"].get("engine") or {}).get("noise_rng")
    if reproducible is None and rng in ("seeded", "os-entropy"):
        reproducible = rng == "seeded"
    if record["privacy"]["epsilon"] is None or reproducible is None:
        return None
    if reproducible:
        return ("seeded noise (a reproducible demonstration run, not private against anyone who holds the seed): "
                "the command below retrains this exact model; a deployment must use secret noise")
    return ("secret noise from the operating system (not reproducible): the command below trains a new model "
            "with the same guarantee, not these exact numbers")


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
    lb, conf = block.get("epsilon_lower_bound"), block.get("confidence", 0.95)
    g = "∞ (no privacy)" if guaranteed is None else f"{guaranteed:.2f}"
    if lb is None:
        return "no empirical bound in this record"
    if lb <= 0:
        return (f"no leakage certified at {conf:.0%} confidence (empirical ε lower bound 0, which does not prove "
                f"privacy; the guarantee is ε = {g})")
    return f"ε ≥ {lb:.2f} at {conf:.0%} confidence, against the guaranteed ε = {g} (it must not exceed it)"


def sections(record: dict, baseline: dict | None = None) -> list[tuple[str, list[tuple[str, str]]]]:
    c, p, u, a = record["config"], record["privacy"], record["utility"], record["attacks"]
    d = record.get("dataset", {})
    setup = [("dataset", f"{c['dataset']} ({d.get('n_train', '?')} training records)"),
             ("model", c["model"]), ("unit of privacy", p["unit"]),
             ("sampling", "Poisson (each record in each batch independently)" if p["poisson_sampling"]
              else "shuffled batches (no DP)")]
    engine = p.get("engine")
    if engine:
        setup.append(("training engine", ", ".join(f"{k} {v}" for k, v in engine.items() if v not in (None, ""))))
    if p["epsilon"] is None:
        privacy = [("guarantee", "none: this is the non-private baseline (ε = ∞)")]
    else:
        e = p["epsilon"]
        privacy = [("ε (reported)", f"{p['epsilon_reported']:.3f} by {p['accountant'].upper()}"),
                   ("ε by each accountant", f"PRV {e['prv']:.3f} · RDP {e['rdp']:.3f} · PLD {e['pld']:.3f}"),
                   ("δ", f"{p['delta']:g}"), ("noise multiplier σ", f"{p['noise_multiplier']:.4f}"),
                   ("clip norm C", f"{c['clip_norm']:g}"), ("batch size (expected)", str(c["batch_size"])),
                   ("sample rate q", f"{p['sample_rate']:.5f}"), ("steps / epochs", f"{p['steps']} / {c['epochs']}"),
                   ("GDP μ (CLT approximation)", f"{p['gdp_mu']:.3f}"),
                   ("best balanced accuracy any attacker can reach",
                    f"{accounting.max_balanced_accuracy(p['epsilon_reported'], p['delta']):.3f}"),
                   ("attacker belief from a 1 % prior, at most",
                    f"{accounting.posterior(0.01, p['epsilon_reported'], p['delta']):.2%}")]
        if p.get("delta_warning"):
            privacy.append(("warning", p["delta_warning"]))
    privacy.append(("in plain words", accounting.tier(p["epsilon_reported"] if p["epsilon"] is not None else None)[1]))
    if noise_note(record):
        privacy.append(("noise", noise_note(record)))
    utility = [("test accuracy", f"{u['test_accuracy']:.4f}"), ("train accuracy", f"{u['train_accuracy']:.4f}")]
    if baseline is not None and baseline is not record:
        b = baseline["utility"]["test_accuracy"]
        utility.append(("non-private baseline", f"{b:.4f} (Δ {u['test_accuracy'] - b:+.4f})"))
    evidence = []
    guaranteed = p["epsilon_reported"] if p["epsilon"] is not None else None
    if "audit" in a:
        au = a["audit"]
        evidence += [("canary audit", f"{au['canaries']} {au.get('kind', 'canaries')}, {au['included']} trained on"),
                     ("canary AUC", f"{au['auc']:.3f}"), ("canary attack", tpr_text(au["tpr_at_fpr"])),
                     ("empirical ε lower bound", audit_bound_text(au, guaranteed))]
        if au.get("statement"):
            evidence.append(("canary audit in plain words", au["statement"]))
    for key, name in (("mia", "RMIA"), ("loss_attack", "LOSS attack")):
        if key in a:
            m = a[key]
            text = f"AUC {m['auc']:.3f}, {tpr_text(m['tpr_at_fpr'])}"
            if "balanced_accuracy" in m:
                text += f", best balanced accuracy {m['balanced_accuracy']:.3f}"
            evidence.append((f"{name} on real records", text))
            if m.get("statement"):
                evidence.append((f"{name} in plain words", m["statement"]))
    inv = a.get("inversion")
    if inv:
        text = inv.get("statement")
        if text is None and inv.get("member_closer_rate") is not None:
            text = (f"{inv['member_closer_rate']:.2f} of class reconstructions nearer a member than a non-member "
                    "(0.50 = no record-level leakage)")
        evidence.append(("model inversion (MI-Face)", (text + "; " if text else "") +
                         "class prototypes are population knowledge, which DP does not hide"))
    reproduce = [("command", reproduce_command(record)), ("record key", record["key"]),
                 ("software", ", ".join(f"{k} {v}" for k, v in record["environment"].items()))]
    return [("Set-up", setup), ("Privacy guarantee", privacy), ("Utility", utility),
            ("Privacy evidence (attacks on the trained model)", evidence), ("Reproduce", reproduce)]


def markdown(record: dict, baseline: dict | None = None) -> str:
    lines = ["# Differential-privacy report", ""]
    for title, rows in sections(record, baseline):
        lines += [f"## {title}", "", "| item | value |", "|---|---|"]
        lines += [f"| {k} | {v.replace('|', '/')} |" for k, v in rows] + [""]
    return "\n".join(lines)


def html_report(record: dict, baseline: dict | None = None, figures: dict | None = None,
                note: str | None = None) -> str:
    """Self-contained HTML. `figures` maps titles to Plotly figures, embedded interactive with
    plotly.js inlined once (no network needed to open the file); `note` says why they are missing."""
    out = ["<!doctype html><meta charset='utf-8'><title>Differential-privacy report</title>",
           ("<style>body{font-family:sans-serif;max-width:960px;margin:auto}td,th{border:1px solid #ccc;"
            "padding:4px 8px;text-align:left;vertical-align:top}table{border-collapse:collapse}</style>"
            "<h1>Differential-privacy report</h1>")]
    for title, rows in sections(record, baseline):
        out.append(f"<h2>{html.escape(title)}</h2><table>")
        out += [f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows]
        out.append("</table>")
    for i, (title, fig) in enumerate((figures or {}).items()):
        out.append(f"<h2>{html.escape(title)}</h2>")
        out.append(fig.to_html(full_html=False, include_plotlyjs=i == 0, config={"displaylogo": False},
                               default_width="100%", default_height="420px"))
    if note:
        out.append(f"<p><em>{html.escape(note)}</em></p>")
    return "\n".join(out)


def json_report(record: dict, baseline: dict | None = None) -> str:
    return json.dumps({"report": {t: dict(rows) for t, rows in sections(record, baseline)},
                       "record": record, "baseline": baseline}, indent=1)


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


def html_with_figures(record: dict, baseline: dict | None, dataset_records: list[dict]) -> str:
    """The HTML report with the main view's three figures embedded."""
    return html_report(record, baseline, figures(record, dataset_records))


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
