"""σ for a target ε: median time per call of explorer's calibration vs Opacus' get_noise_multiplier,
measured in the same run (machines here are shared, so compare the ratio), plus the round trip.

    python bench/calibration.py [--repeats 5]

Prints a table and one JSON line. Not a test: the numbers depend on the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from explorer import accounting  # noqa: E402

CASES = [  # (target ε, q, steps): mnist-5k default, full MNIST default, Abadi et al., adult default
    (3.0, 1 / 13, 195), (1.0, 1 / 108, 1620), (2.0, 256 / 60000, 14062), (1.0, 1 / 55, 275),
    (8.0, 1 / 13, 195), (0.5, 0.01, 1000),
]


def timed(fn, repeats):
    fn()  # warm-up (imports, first allocation)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t)
    return value, statistics.median(times) * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    from opacus.accountants.utils import get_noise_multiplier

    rows, ours_all, theirs_all = [], [], []
    for eps, q, steps in CASES:
        for acc in ("prv", "rdp", "pld"):
            sigma, ms = timed(lambda: accounting.noise_for_epsilon(eps, 1e-5, q, steps, acc), args.repeats)
            got = accounting.epsilon(sigma, q, steps, 1e-5, acc)
            row = {"target": eps, "q": round(q, 6), "steps": steps, "accountant": acc, "sigma": round(sigma, 4),
                   "epsilon_of_sigma": round(got, 4), "ms": round(ms, 1)}
            if acc == "prv":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ref, ref_ms = timed(lambda: get_noise_multiplier(
                        target_epsilon=eps, target_delta=1e-5, sample_rate=q, steps=steps, accountant="prv"), 1)
                row.update(opacus_sigma=round(ref, 4), opacus_ms=round(ref_ms, 1))
                theirs_all.append(ref_ms)
            ours_all.append(ms) if acc == "prv" else None
            rows.append(row)
            print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    summary = {"calibration_ms_median_prv": round(statistics.median(ours_all), 1),
               "opacus_get_noise_multiplier_ms_median": round(statistics.median(theirs_all), 1),
               "speedup": round(statistics.median(theirs_all) / statistics.median(ours_all), 1),
               "max_ms_any_accountant": max(r["ms"] for r in rows),
               "all_at_or_below_target": all(r["epsilon_of_sigma"] <= r["target"] for r in rows)}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
