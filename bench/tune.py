"""Choose per-dataset defaults on a validation split carved from the *training* rows (never test).

    python bench/tune.py mnist-5k adult breast-cancer mnist mnist@3 mnist-5k/adaptive mnist-5k/adaptive@1 adult/adaptive
        [--data-dir DIR] [--out docs/tuning.json]

For each entry: DP-SGD at a reference ε over a small grid of learning rate × clip norm (× epochs where
the entry lists them), and the non-private baseline over learning rates; prints validation accuracy per
setting and the winners. An entry "NAME@E" tunes dataset NAME at ε = E (full MNIST is tuned at ε = 1
and again at ε = 3, and the sweep grid uses each winner at the budgets it serves). The winners are
copied by hand into config.DATASET_DEFAULTS or a grid's `fixed_by_epsilon`; docs/tuning.json keeps the
evidence. An entry "NAME/adaptive" tunes the learning rate of adaptive clipping (Opacus' AdaClip,
target quantile 0.5, starting from the dataset's clip norm): the clip norm it settles on is not the
tuned fixed one, so the step size that suits it differs (cached_runs/grids/*-adaptive.json use it).
Every run is `reproducible` (seeded noise), so the table reproduces.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from explorer import data, features  # noqa: E402
from explorer.config import RunConfig  # noqa: E402
from explorer.train import train  # noqa: E402

GRIDS = {  # reference ε, DP lr grid, DP clip grid, baseline (lr, momentum, epochs) grid[, DP epochs grid]
    "mnist-5k": (3.0, [1.0, 2.0, 4.0], [0.5, 1.0],
                 [(0.1, 0, 15), (0.3, 0, 15), (1.0, 0, 15), (0.05, 0.9, 15), (0.05, 0.9, 30)]),
    # full MNIST: a linear head on ScatterNet features, SGD with momentum 0.9 (DATASET_DEFAULTS), tuned
    # at the harder budget, ε = 1
    "mnist": (1.0, [1.0, 2.0, 4.0], [0.05, 0.1, 0.2], [(0.1, 0.9, 40), (0.5, 0.9, 40)]),  # see tuning.json's note
    # at ε = 3 the noise is a third, so larger steps and longer training pay (Tramèr & Boneh use lr 8)
    "mnist@3": (3.0, [2.0, 4.0, 8.0], [0.1], [(0.1, 0.9, 40), (0.5, 0.9, 40), (1.0, 0.9, 80)], [40, 80]),
    "adult": (1.0, [0.5, 1.0, 2.0], [0.5, 1.0], [(0.05, 0, 5), (0.2, 0, 5), (0.5, 0, 5)]),
    "breast-cancer": (1.0, [0.1, 0.5, 1.0], [0.5, 1.0], [(0.05, 0, 20), (0.2, 0, 20), (0.5, 0, 20)]),
    # adaptive clipping: the learning rate only (the clip norm adapts; the grid's clip is its start)
    "mnist-5k/adaptive": (3.0, [0.1, 0.25, 0.5, 1.0], [0.5], []),
    # at ε = 1 the ε = 3 winner diverges (the clip norm climbs with the noisier weights' gradients)
    "mnist-5k/adaptive@1": (1.0, [0.025, 0.05, 0.1, 0.25], [0.5], []),
    "adult/adaptive": (1.0, [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 100.0], [1.0], []),
}


def validation_split(ds, frac=0.2, seed=2024):
    rng = np.random.default_rng(seed)
    perm = rng.permutation(ds.n_train)
    k = int(len(perm) * frac)
    val, fit = perm[:k], perm[k:]
    return ds.x_train[fit], ds.y_train[fit], ds.x_train[val], ds.y_train[val]


def pick(rows: list[dict], mode: str) -> dict:
    """Best validation accuracy; ties go to the higher training accuracy (the better-converged run:
    a fair non-private baseline is trained to convergence)."""
    return max((r for r in rows if r["mode"] == mode),
               key=lambda r: (round(r["val_accuracy"], 6), r.get("train_accuracy", 0.0)))


def tune(entry: str, data_dir=None, baseline_only: bool = False) -> dict:
    name = entry.split("@")[0].split("/")[0]
    engine = {"clipping": "adaptive"} if "/adaptive" in entry else {}
    ds = data.load(name, data_dir=data_dir)
    model = RunConfig(dataset=name).model
    if model in features.EXTRACTORS:
        ds = features.apply(model, ds)
    xf, yf, xv, yv = validation_split(ds)
    eps, lrs, clips, base_lrs, *rest = GRIDS[entry]
    epochs_grid = rest[0] if rest else [RunConfig(dataset=name).epochs]
    rows = []
    for lr, clip, epochs in ([] if baseline_only else itertools.product(lrs, clips, epochs_grid)):
        cfg = RunConfig(dataset=name, target_epsilon=eps, learning_rate=lr, clip_norm=clip, epochs=epochs,
                        attacks=False, reproducible=True, **engine)
        t = time.time()
        r = train(cfg, xf, yf, ds.num_classes, xv, yv)
        rows.append({"mode": "epsilon", "epsilon": eps, "learning_rate": lr, "clip_norm": clip,
                     "epochs": epochs, "val_accuracy": r.test_accuracy, **engine,
                     **({"final_clip_norm": r.history[-1]["clip_norm"]} if engine else {}),
                     "seconds": round(time.time() - t, 1)})
        print(name, rows[-1], flush=True)
    for lr, momentum, epochs in base_lrs:
        cfg = RunConfig(dataset=name, mode="non_private", learning_rate=lr, momentum=momentum, epochs=epochs,
                        attacks=False)
        r = train(cfg, xf, yf, ds.num_classes, xv, yv)
        rows.append({"mode": "non_private", "learning_rate": lr, "momentum": momentum, "epochs": epochs,
                     "val_accuracy": r.test_accuracy, "train_accuracy": r.train_accuracy})
        print(name, rows[-1], flush=True)
    if baseline_only:  # keep the DP rows of an earlier run
        try:
            with open(os.environ.get("TUNE_OUT", "docs/tuning.json")) as f:
                rows = [r for r in json.load(f)[entry]["rows"] if r["mode"] == "epsilon"] + rows
        except (OSError, KeyError, ValueError):
            pass
    best_dp = pick(rows, "epsilon")
    best_np = pick(rows, "non_private") if any(r["mode"] == "non_private" for r in rows) else None
    return {"dataset": name, "fixed": {k: v for k, v in RunConfig(dataset=name).to_dict().items()
                                       if k in ("model", "batch_size", "momentum") or (k == "epochs" and not rest)},
            "rows": rows, "best_dp": best_dp, "best_non_private": best_np}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("datasets", nargs="+")
    ap.add_argument("--data-dir")
    ap.add_argument("--out", default="docs/tuning.json")
    ap.add_argument("--baseline-only", action="store_true", help="re-tune only the non-private baseline")
    args = ap.parse_args()
    results = {}
    if os.path.exists(args.out):
        with open(args.out) as f:
            results = json.load(f)
    for name in args.datasets:
        os.environ["TUNE_OUT"] = args.out
        results[name] = tune(name, args.data_dir, args.baseline_only)
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(results, f, indent=1)
        os.replace(tmp, args.out)
        print(name, "best DP", results[name]["best_dp"], "best baseline", results[name]["best_non_private"])


if __name__ == "__main__":
    main()
