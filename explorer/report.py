"""Impact-assessment report of one run: Markdown, HTML and JSON, all from the record (and, when given,
the matching non-private baseline record). No training, no I/O."""
from __future__ import annotations

import html
import json

from . import accounting


def reproduce_command(record: dict) -> str:
    c = record["config"]
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
    if c["dataset"] == "csv":
        parts.append("--csv YOUR.csv --target COLUMN")
    return " ".join(parts)


def sections(record: dict, baseline: dict | None = None) -> list[tuple[str, list[tuple[str, str]]]]:
    c, p, u, a = record["config"], record["privacy"], record["utility"], record["attacks"]
    d = record.get("dataset", {})
    setup = [("dataset", f"{c['dataset']} ({d.get('n_train', '?')} training records)"),
             ("model", c["model"]), ("unit of privacy", p["unit"]),
             ("sampling", "Poisson (each record in each batch independently)" if p["poisson_sampling"]
              else "shuffled batches (no DP)")]
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
    utility = [("test accuracy", f"{u['test_accuracy']:.4f}"), ("train accuracy", f"{u['train_accuracy']:.4f}")]
    if baseline is not None:
        b = baseline["utility"]["test_accuracy"]
        utility.append(("non-private baseline", f"{b:.4f} (Δ {u['test_accuracy'] - b:+.4f})"))
    evidence = []
    if "audit" in a:
        au = a["audit"]
        evidence += [("canary audit", f"{au['canaries']} mislabeled canaries, {au['included']} trained on"),
                     ("canary AUC", f"{au['auc']:.3f}"),
                     ("canary TPR at 0.1 % / 1 % / 10 % FPR",
                      " / ".join(f"{au['tpr_at_fpr'][k]:.3f}" for k in ("0.001", "0.01", "0.1"))),
                     ("empirical ε lower bound", f"{au['epsilon_lower_bound']:.2f} at {au['confidence']:.0%} "
                                                 "confidence (must not exceed the guaranteed ε)")]
    for key, name in (("mia", "RMIA"), ("loss_attack", "LOSS attack")):
        if key in a:
            m = a[key]
            evidence.append((f"{name} on real records", f"AUC {m['auc']:.3f}, TPR@1 % FPR {m['tpr_at_fpr']['0.01']:.3f}, "
                                                        f"best balanced accuracy {m['balanced_accuracy']:.3f}"))
    if "inversion" in a:
        evidence.append(("model inversion (MI-Face)", f"{a['inversion']['member_closer_rate']:.2f} of class "
                         "reconstructions nearer a member than a non-member (0.50 = no record-level leakage); "
                         "class prototypes are population knowledge, which DP does not hide"))
    return [("Set-up", setup), ("Privacy guarantee", privacy), ("Utility", utility),
            ("Privacy evidence (attacks on the trained model)", evidence),
            ("Reproduce", [("command", reproduce_command(record)), ("record key", record["key"]),
                           ("software", ", ".join(f"{k} {v}" for k, v in record["environment"].items()))])]


def markdown(record: dict, baseline: dict | None = None) -> str:
    lines = ["# Differential-privacy report", ""]
    for title, rows in sections(record, baseline):
        lines += [f"## {title}", "", "| item | value |", "|---|---|"]
        lines += [f"| {k} | {v.replace('|', '/')} |" for k, v in rows] + [""]
    return "\n".join(lines)


def html_report(record: dict, baseline: dict | None = None, figures: dict[str, str] | None = None,
                note: str | None = None) -> str:
    """Self-contained HTML; `figures` maps titles to inline SVG/PNG data URIs when they could be rendered,
    `note` says why they are missing otherwise."""
    out = ["<!doctype html><meta charset='utf-8'><title>Differential-privacy report</title>",
           "<style>body{font-family:sans-serif;max-width:900px;margin:auto}td,th{border:1px solid #ccc;"
           "padding:4px 8px}table{border-collapse:collapse}</style><h1>Differential-privacy report</h1>"]
    for title, rows in sections(record, baseline):
        out.append(f"<h2>{html.escape(title)}</h2><table>")
        out += [f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows]
        out.append("</table>")
    for title, uri in (figures or {}).items():
        out.append(f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' src='{uri}'>")
    if note:
        out.append(f"<p><em>{html.escape(note)}</em></p>")
    return "\n".join(out)


def json_report(record: dict, baseline: dict | None = None) -> str:
    return json.dumps({"report": {t: dict(rows) for t, rows in sections(record, baseline)},
                       "record": record, "baseline": baseline}, indent=1)


def figure_images(figures: dict[str, dict], width: int = 520) -> tuple[dict[str, str], str | None]:
    """Vega-Lite specs (explorer.plots) as inline SVG data URIs for the HTML report, drawn offline by
    vl-convert (no browser, no network). Returns (images, reason they are missing or None)."""
    import base64

    try:
        import vl_convert
    except ImportError:
        return {}, "figures not embedded: vl-convert-python is not installed (pip install -r requirements.txt)"
    images = {}
    for title, spec in figures.items():
        try:  # a fixed width: the app's specs fit their container, and a file has none
            svg = vl_convert.vegalite_to_svg({**spec, "width": width, "autosize": {"type": "pad"}})
        except Exception as e:  # the report says why instead of failing the download
            return {}, f"figures not embedded: {type(e).__name__} ({str(e).splitlines()[0][:120] if str(e) else ''})"
        images[title] = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
    return images, None


def html_with_figures(record: dict, baseline: dict | None, dataset_records: list[dict]) -> str:
    """The HTML report with the main view's three figures embedded (about 1 s to draw: the app builds it
    only when the download is asked for)."""
    from . import plots

    images, why = figure_images({"Accuracy vs ε": plots.frontier(dataset_records, record),
                                 "Privacy budget spent": plots.budget(record),
                                 "Attacks vs the guarantee": plots.attack_roc(record)})
    return html_report(record, baseline, images, why)
