"""Tune the techniques of docs/techniques.md on a validation split carved from the *training* rows
(bench/tune.py's split; never the test split), one seed, seeded noise, and record the table.

    python bench/techniques.py pretrain mnist-5k      # DP-SGD from scratch vs from digits, ε 0.5 / 1 / 3
    python bench/techniques.py pate mnist-5k adult    # PATE: teachers × queries at ε 0.5 / 1 / 3
        [--data-dir DIR] [--out docs/tuning.json] [--epsilons 0.5,1,3]

Entries written: "<dataset>/pretrain" (both arms, each over its own grid at every ε) and
"<dataset>/pate". For PATE the teachers are trained once per teacher count and their votes reused
for every (ε, queries) — the same teachers pate.fit would train (pate.assign, pate._recipe, the same
seeds) — and each student is trained on the first Q public (population) records with GNMax labels.
The winners are copied by hand into the grids (cached_runs/grids/*-pretrain.json, *-pate.json) and
config.PATE_DEFAULTS; docs/techniques.md reads the table.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time


sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.tune import validation_split  # noqa: E402
from explorer import data, pate, pretrain  # noqa: E402
from explorer.config import RunConfig  # noqa: E402
from explorer.train import train  # noqa: E402

EPSILONS = (0.5, 1.0, 3.0)
# DP-SGD grids: learning rate × clip norm × epochs; pre-trained weights may want smaller or fewer steps
PRETRAIN_GRID = {"scratch": ([0.125, 0.25, 0.5, 1.0, 2.0, 4.0], [0.5, 1.0], [15]),
                 "digits": ([0.125, 0.25, 0.5, 1.0, 2.0], [0.5, 1.0], [5, 15])}
# PATE grids: teachers × queries × epochs (teachers' and student's; None: config.PATE_DEFAULTS')
PATE_GRID = {"mnist-5k": ([100, 200], [20, 50, 100, 200], [20, 40]),
             "adult": ([100, 250, 500], [30, 100, 300, 1000], [None])}


def tune_pretrain(name: str, epsilons, data_dir=None) -> dict:
    ds = data.load(name, data_dir=data_dir)
    xf, yf, xv, yv = validation_split(ds)
    rows = []
    for eps in epsilons:
        for arm, (lrs, clips, epochs_grid) in PRETRAIN_GRID.items():
            for lr, clip, epochs in itertools.product(lrs, clips, epochs_grid):
                cfg = RunConfig(dataset=name, target_epsilon=eps, learning_rate=lr, clip_norm=clip, epochs=epochs,
                                attacks=False, reproducible=True, pretrain=None if arm == "scratch" else arm)
                init = pretrain.initial_state(cfg, ds)[0] if cfg.pretrain else None
                t = time.time()
                r = train(cfg, xf, yf, ds.num_classes, xv, yv, init_state=init)
                rows.append({"arm": arm, "epsilon": eps, "learning_rate": lr, "clip_norm": clip, "epochs": epochs,
                             "val_accuracy": r.test_accuracy, "seconds": round(time.time() - t, 1)})
                print(name, rows[-1], flush=True)
    best = {f"{arm}@{eps:g}": max((r for r in rows if r["arm"] == arm and r["epsilon"] == eps),
                                  key=lambda r: r["val_accuracy"])
            for arm in PRETRAIN_GRID for eps in epsilons}
    x, y = pretrain.digits()
    return {"dataset": name, "pretrain_recipe": pretrain.PRETRAIN, "pretrain_rows": len(y),
            "fixed": {k: v for k, v in RunConfig(dataset=name).to_dict().items() if k in ("model", "batch_size", "momentum")},
            "rows": rows, "best": best}


def tune_pate(name: str, epsilons, data_dir=None) -> dict:
    ds = data.load(name, data_dir=data_dir)
    xf, yf, xv, yv = validation_split(ds)
    teacher_counts, query_counts, epochs_grid = PATE_GRID[name]
    rows = []
    for T, epochs in itertools.product(teacher_counts, epochs_grid):
        base = RunConfig(dataset=name, technique="pate", teachers=T, queries=max(query_counts), target_epsilon=1.0,
                         attacks=False, reproducible=True, epochs=epochs)
        x_pub, y_pub, _ = pate.public_split(base, ds)  # the first Q of these are the Q-query run's public records
        owner = pate.assign(len(yf), T, base.seed)
        t = time.time()
        models = [train(pate._recipe(base, int((owner == k).sum()), pate._seed(base, 37, k)), xf[owner == k],
                        yf[owner == k], ds.num_classes).model if (owner == k).sum() >= 2 else None for k in range(T)]
        counts = pate.votes(models, x_pub, ds.num_classes)
        teachers_s = round(time.time() - t, 1)
        for eps, Q in itertools.product(epsilons, query_counts):
            cfg = base.replace(queries=Q, target_epsilon=eps)
            sigma = pate.noise_for_epsilon(eps, Q, cfg.delta, cfg.accountant)
            labels = pate.gnmax(counts[:Q], sigma, pate.noise_generator(cfg)[0])
            student = train(pate._recipe(cfg, Q, pate._seed(cfg, 41)), x_pub[:Q], labels, ds.num_classes, xv, yv)
            rows.append({"teachers": T, "queries": Q, "epochs": cfg.epochs, "epsilon": eps, "sigma": round(sigma, 3),
                         "label_accuracy": round(float((labels == y_pub[:Q]).mean()), 4),
                         "noiseless_label_accuracy": round(float((counts[:Q].argmax(1) == y_pub[:Q]).mean()), 4),
                         "val_accuracy": student.test_accuracy, "teachers_s": teachers_s})
            print(name, rows[-1], flush=True)
    best = {f"{eps:g}": max((r for r in rows if r["epsilon"] == eps), key=lambda r: r["val_accuracy"])
            for eps in epsilons}
    recipe = {k: v for k, v in RunConfig(dataset=name, technique="pate", target_epsilon=1.0).to_dict().items()
              if k in ("model", "batch_size", "learning_rate", "momentum")}
    return {"dataset": name, "fixed": recipe, "rows": rows, "best": best}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("technique", choices=["pretrain", "pate"])
    ap.add_argument("datasets", nargs="+")
    ap.add_argument("--data-dir")
    ap.add_argument("--epsilons", default=",".join(f"{e:g}" for e in EPSILONS))
    ap.add_argument("--out", default="docs/tuning.json")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    epsilons = [float(e) for e in args.epsilons.split(",")]
    for name in args.datasets:
        result = (tune_pretrain if args.technique == "pretrain" else tune_pate)(name, epsilons, args.data_dir)
        results = {}
        if os.path.exists(args.out):
            with open(args.out) as f:
                results = json.load(f)
        results[f"{name}/{args.technique}"] = result
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(results, f, indent=1)
        os.replace(tmp, args.out)
        print(name, args.technique, "best", json.dumps(result["best"]), flush=True)


if __name__ == "__main__":
    main()
