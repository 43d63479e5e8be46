"""Server-side time of the app's script run: first run, and a slider move between cached configurations.

    python bench/ui_timing.py [--moves 10]

Uses Streamlit's AppTest (the script runs in this process as on the server; no browser time counted).
Prints a table and one JSON line. Not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--moves", type=int, default=10)
    args = ap.parse_args()
    os.chdir(ROOT)
    os.environ.setdefault("EXPLORER_STORE", os.path.join(ROOT, "cached_runs"))
    from streamlit.testing.v1 import AppTest

    t = time.perf_counter()
    at = AppTest.from_file(os.path.join(ROOT, "app.py"), default_timeout=120)
    at.run()
    first = time.perf_counter() - t
    assert not at.exception, at.exception
    at.run()  # warm (store and dataset memoised)
    values = [2.0, 3.0, 4.0, 1.0, 8.0]
    moves = []
    for i in range(args.moves):
        t = time.perf_counter()
        at.select_slider(key="epsilon").set_value(values[i % len(values)]).run()
        moves.append(time.perf_counter() - t)
        assert not at.exception and len(at.get("plotly_chart")) >= 3
    out = {"first_run_s": round(first, 2), "slider_move_ms_median": round(statistics.median(moves) * 1000, 1),
           "slider_move_ms_max": round(max(moves) * 1000, 1), "moves": len(moves)}
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
