"""Old and new frontiers side by side: test accuracy per (dataset, clip norm, target ε), mean over the
seeds stored, from the records of a git revision (the hand-written DP-SGD engine's, schema 1) and from
today's store (Opacus, schema 2). Reads JSON only; prints a Markdown table per dataset.

    python bench/frontiers.py [--old 06c4620^] [--store cached_runs] [--dataset mnist-5k adult breast-cancer]
    python bench/frontiers.py --techniques [--dataset mnist-5k adult]   # technique × ε from the store
    python bench/frontiers.py --evidence [--dataset mnist-5k adult]     # the attacks per ε, seed 0

Only plain DP-SGD runs and the non-private baseline are compared (adaptive clipping, pre-training and
PATE did not exist before). The old mnist-5k grid had ε {0.5, 1, 2, 4, 8} and 200 canaries; budgets
one side lacks show "–".
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OLD = "06c4620^"  # the last commit whose cached_runs/ held the hand-written engine's records


def _plain(config: dict) -> bool:
    return (config.get("technique", "dp-sgd") == "dp-sgd" and not config.get("pretrain")
            and config.get("clipping", "flat") == "flat" and config["mode"] in ("epsilon", "non_private"))


def _table(records: list[dict]) -> dict:
    """{(dataset, clip, ε or None): [accuracies]}"""
    out = defaultdict(list)
    for r in records:
        c = r["config"]
        if _plain(c):
            out[(c["dataset"], c.get("clip_norm"), c.get("target_epsilon"))].append(r["utility"]["test_accuracy"])
    return out


def old_records(revision: str) -> list[dict]:
    names = subprocess.run(["git", "ls-tree", "--name-only", revision, "cached_runs/"], cwd=ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    return [json.loads(subprocess.run(["git", "show", f"{revision}:{n}"], cwd=ROOT, check=True, capture_output=True,
                                      text=True).stdout) for n in names if n.endswith(".json")]


def new_records(store: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(store.glob("*.json"))]


def techniques(records: list[dict], dataset: str, epsilons=(0.5, 1.0, 3.0)) -> None:
    """Test accuracy per technique (choices.technique_label) × target ε, mean over the stored seeds; plain
    DP-SGD at the dataset's default clip norm (the app's default recipe)."""
    from explorer.choices import technique_label
    from explorer.config import DATASET_DEFAULTS

    clip = DATASET_DEFAULTS[dataset]["clip_norm"]
    cells = defaultdict(list)
    for r in records:
        c = r["config"]
        if c["dataset"] != dataset or c["mode"] != "epsilon" or c["target_epsilon"] not in epsilons:
            continue
        label = technique_label(c)
        if label == "DP-SGD" and c.get("clip_norm") != clip:
            continue
        cells[(label, c["target_epsilon"])].append(r["utility"]["test_accuracy"])
    print(f"\n{dataset}: test accuracy by technique (mean over seeds; (n) seeds when > 1; DP-SGD at C = {clip:g})\n")
    print("| technique | " + " | ".join(f"ε {e:g}" for e in epsilons) + " |")
    print("|---|" + "---|" * len(epsilons))
    for label in sorted({k[0] for k in cells}, key=lambda t: (t != "DP-SGD", t)):
        print(f"| {label} | " + " | ".join(_cell(cells.get((label, e))) for e in epsilons) + " |")


def evidence(records: list[dict], dataset: str, epsilons=(None, 1.0, 3.0, 8.0)) -> None:
    """The evidence blocks of the stored plain DP-SGD runs (default clip norm) and the baseline, seed 0."""
    from explorer.choices import technique_label
    from explorer.config import DATASET_DEFAULTS

    clip = DATASET_DEFAULTS[dataset]["clip_norm"]
    rows = {}
    for r in records:
        c = r["config"]
        if (c["dataset"] == dataset and c["seed"] == 0 and technique_label(c) == "DP-SGD"
                and c["mode"] in ("epsilon", "non_private") and c.get("clip_norm") in (clip, None)):
            rows[c.get("target_epsilon")] = r
    print(f"\n{dataset}: evidence of the stored runs, seed 0 (C = {clip:g})\n")
    print("| ε | test acc. | one-run ε lb | f-DP variant | canary AUC | RMIA AUC | RMIA TPR@0.1 % |")
    print("|---|---|---|---|---|---|---|")
    for e in epsilons:
        r = rows.get(e)
        if r is None:
            print(f"| {'none' if e is None else f'{e:g}'} | not stored |")
            continue
        a, m = r["attacks"].get("audit") or {}, r["attacks"].get("mia") or {}
        b = a.get("bounds", {})
        print(f"| {'none' if e is None else f'{e:g}'} | {r['utility']['test_accuracy']:.3f} | "
              f"{b.get('one_run', float('nan')):.2f} (ceiling {a.get('ceiling', float('nan')):.2f}) | "
              f"{b.get('one_run_fdp', float('nan')):.2f} | {a.get('auc', float('nan')):.3f} | "
              f"{m.get('auc', float('nan')):.3f} | {m.get('tpr_at_fpr', {}).get('0.001', float('nan')):.3f} |")


def _cell(values: list[float] | None) -> str:
    if not values:
        return "–"
    return f"{statistics.fmean(values):.3f}" + (f" ({len(values)})" if len(values) > 1 else "")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old", default=OLD)
    ap.add_argument("--store", default=str(ROOT / "cached_runs"))
    ap.add_argument("--dataset", nargs="+", default=None)
    ap.add_argument("--techniques", action="store_true", help="technique × ε from the store instead")
    ap.add_argument("--evidence", action="store_true", help="the evidence per ε from the store instead")
    args = ap.parse_args(argv)
    if args.evidence:
        records = new_records(Path(args.store))
        for dataset in args.dataset or ["mnist-5k", "adult"]:
            evidence(records, dataset)
        return
    if args.techniques:
        records = new_records(Path(args.store))
        for dataset in args.dataset or ["mnist-5k", "adult"]:
            techniques(records, dataset)
        return
    args.dataset = args.dataset or ["mnist-5k", "adult", "breast-cancer"]
    old, new = _table(old_records(args.old)), _table(new_records(Path(args.store)))
    for dataset in args.dataset:
        clips = sorted({k[1] for t in (old, new) for k in t if k[0] == dataset and k[1] is not None})
        budgets = sorted({k[2] for t in (old, new) for k in t if k[0] == dataset and k[2] is not None})
        print(f"\n{dataset}: test accuracy, old engine → Opacus (mean over seeds; (n) seeds when > 1)\n")
        print("| C | " + " | ".join(f"ε {e:g}" for e in budgets) + " |")
        print("|---|" + "---|" * len(budgets))
        for clip in clips:
            print(f"| {clip:g} | " + " | ".join(f"{_cell(old.get((dataset, clip, e)))} → {_cell(new.get((dataset, clip, e)))}"
                                              for e in budgets) + " |")
        print(f"| no privacy | {_cell(old.get((dataset, None, None)))} → {_cell(new.get((dataset, None, None)))} |")


if __name__ == "__main__":
    main()
