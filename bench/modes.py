"""Which Opacus `grad_sample_mode` trains each shipped model fastest: the measurement behind
config.GRAD_SAMPLE_DEFAULTS.

    python bench/modes.py [--rounds 7] [--threads 2]

For every model the explorer ships (the cases of `python -m explorer bench`), the step time of a plain
torch step, of Opacus' default make_private (hooks, Opacus' own grad samplers), and of the explorer's
make_private in each grad_sample_mode the config allows for it (hooks, functorch, ghost), with the
explorer's registered samplers and, for the CNN, also with Opacus' own Conv2d sampler. Interleaved
rounds; each figure is the fastest round (on a shared machine, interference only adds time); prints a
table and one JSON line. Not a test: the numbers depend on the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import torch  # noqa: E402

from explorer import bench, samplers  # noqa: E402
from explorer.config import GRAD_SAMPLE_MODES  # noqa: E402
from explorer.errors import ExplorerError  # noqa: E402


def variants(name, x, y, classes, config) -> dict:
    out = {}
    for mode in GRAD_SAMPLE_MODES:
        try:
            cfg = config.replace(grad_sample_mode=mode)
        except ExplorerError:  # not offered for this model (functorch with the CNN)
            continue
        steps = bench._steppers(name, x, y, classes, cfg)
        if not out:
            out["plain"], out["opacus_hooks"] = steps["plain"], steps["opacus_hooks"]
        out[mode] = steps["explorer"]
        if name == "cnn" and mode in ("hooks", "ghost"):
            out[f"{mode}+opacus_conv"] = _with_opacus_samplers(
                bench._steppers(name, x, y, classes, cfg)["explorer"])
    return out


def _with_opacus_samplers(step):
    def run():
        with samplers.opacus_defaults():
            step()
    return run


def measure(cases: dict, rounds: int = 7, per_round: int = 3) -> dict:
    results = {}
    for label, (name, x, y, classes, config) in cases.items():
        best = bench.fastest_round(variants(name, x, y, classes, config), rounds, per_round)
        ms = {k: round(v * 1e3, 3) for k, v in best.items()}
        results[label] = ms
        best = min((k for k in ms if k in GRAD_SAMPLE_MODES), key=ms.get)
        print(f"{label:24s} batch {len(y):5d}  " + "  ".join(f"{k} {v:.2f}" for k, v in ms.items())
              + f"  (ms; fastest mode: {best})", flush=True)
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(json.dumps(measure(bench._cases(), args.rounds)))


if __name__ == "__main__":
    main()
