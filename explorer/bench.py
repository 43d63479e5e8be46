"""`python -m explorer bench`: the performance figures, printed as one JSON object plus a table.

Benchmarks print figures; they are not timed tests (machines here are shared and noisy), so speed is
compared as ratios measured in the same run. Figures:
- dp_overhead: median DP-SGD step time / median non-private step time, same model, batch and data
  (train.py's own steps: per-sample clipping and noise against plain SGD), for every model the
  explorer ships (the table adds each model's absolute times and its noise draw's share);
- calibration_ms: median σ-for-ε calibration (PRV) over the bench/calibration.py cases;
- cached_answer_ms: median server-side script run after a slider move between cached configurations;
- live_run_s: a full mnist-5k run at the default budget with audit, RMIA (K=2) and inversion, the
  record's total_s (from loading the data to the finished record; torch is already imported, as in a
  running app server);
- first_render_s: seconds from navigation to three drawn charts in headless Chromium, on a freshly
  started server, for a user whose browser cache holds the app's files from an earlier visit; the
  median of three such servers (null where Chromium or Playwright is missing).
"""
from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _median_s(call, repeats: int, warmup: int = 5) -> float:
    """Median seconds of `call()` over `repeats` calls after `warmup` uncounted ones."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _step_times(model, x, y, private: bool, steps: int = 30) -> float:
    """Median seconds of one training step as explorer.train takes it (same batch every step; the DP
    step's gather of its precomputed input norms is inside the clock, as in train.py)."""
    import torch

    from .train import SGD, _dp_step, _plain_step

    opt = SGD(model.parameters(), lr=0.1)
    if private:
        step = _dp_step(model, opt, sigma=1.0, clip=1.0, expected_batch=len(y),
                        noise=torch.Generator().manual_seed(0), x_train=x)
    else:
        step = _plain_step(model, opt)
    idx = torch.arange(len(y))
    return _median_s(lambda: step(x, y, idx), steps)


def _noise_time(numel: int, draws: int = 100) -> float:
    """Median seconds of drawing one step's Gaussian noise for `numel` parameters, as the DP step does."""
    import torch

    buffer, generator = torch.zeros(numel), torch.Generator().manual_seed(0)
    return _median_s(lambda: buffer.normal_(0.0, 1.0, generator=generator), draws)


def _dp_cases() -> dict:
    """(x, y, classes) per shipped model: a batch of 256 for the three the issue names, and for the
    full-MNIST model (a linear head on ScatterNet features) a batch of 2048 feature rows, two physical
    chunks, as its batch of 4096 takes four."""
    from . import data, features

    mnist = data.load("mnist-5k")
    bc = data.load("breast-cancer")
    return {"cnn": (mnist.x_train[:256], mnist.y_train[:256], 10),
            "mlp": (mnist.x_train[:256].reshape(256, -1), mnist.y_train[:256], 10),
            "logreg": (bc.x_train[:256], bc.y_train[:256], 2),
            "scatternet": (features.scatternet(mnist.x_train[:2048]), mnist.y_train[:2048], 10)}


def dp_overhead() -> dict:
    """DP step / plain step per model. Also prints what the noise draw alone costs against the plain
    step: no DP-SGD step can take less than (1 + that share) × the plain step."""
    import torch

    from .models import build

    torch.manual_seed(0)
    out = {}
    for name, (x, y, classes) in _dp_cases().items():
        x, y = torch.from_numpy(x), torch.from_numpy(y)
        model = build(name, x.shape[1:], classes, 0)
        plain = _step_times(model, x, y, private=False)
        dp = _step_times(build(name, x.shape[1:], classes, 0), x, y, private=True)
        noise = _noise_time(sum(p.numel() for p in model.parameters()))
        out[name] = round(dp / plain, 2)
        print(f"  {name:10s} batch {len(y):4d}: plain step {plain * 1e3:7.3f} ms, DP step {dp * 1e3:7.3f} ms "
              f"({dp / plain:.2f}×); the noise draw alone {noise * 1e3:.3f} ms = {noise / plain:.2f}× "
              f"the plain step", flush=True)
    return out


def calibration_ms() -> float:
    from . import accounting

    cases = [(3.0, 1 / 13, 195), (1.0, 1 / 108, 1620), (2.0, 256 / 60000, 14062), (1.0, 1 / 55, 275)]
    times = []
    for eps, q, steps in cases:
        accounting.noise_for_epsilon(eps, 1e-5, q, steps)
        for _ in range(3):
            t = time.perf_counter()
            accounting.noise_for_epsilon(eps, 1e-5, q, steps)
            times.append(time.perf_counter() - t)
    return round(statistics.median(times) * 1000, 1)


def cached_answer_ms(moves: int = 10) -> float:
    from streamlit.testing.v1 import AppTest

    os.environ.setdefault("EXPLORER_STORE", str(ROOT / "cached_runs"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.run()
    values = [2.0, 3.0, 4.0, 1.0, 8.0]
    for v in values:  # first visits build each configuration's figures once
        at.select_slider(key="epsilon").set_value(v).run()
    times = []
    for i in range(moves):
        t = time.perf_counter()
        at.select_slider(key="epsilon").set_value(values[i % len(values)]).run()
        times.append(time.perf_counter() - t)
    return round(statistics.median(times) * 1000, 1)


def live_run_s() -> float:
    from . import pipeline
    from .config import RunConfig

    record = pipeline.run(RunConfig(dataset="mnist-5k", target_epsilon=3.0, seed=101))
    return round(record["timing"]["total_s"], 1)


def first_render_s(warm_visits: int = 3) -> float | None:
    """A returning user opening a freshly started server: the browser's cache is warmed by one visit
    to a first server, which is then stopped; a new server starts on the same origin (the cache is per
    origin) and the clock runs from navigation to three charts drawn by Vega. The server side is cold
    (no imports, no cached figures); the browser has the app's static files cached. The median over
    `warm_visits` such fresh servers."""
    import shutil

    from .serve import CHART_DRAWN, CHROMIUM_FLAGS, free_port, running_app

    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not chromium:
        return None
    env, port = {"EXPLORER_STORE": str(ROOT / "cached_runs")}, free_port()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        times = []
        for _ in range(1 + warm_visits):  # the first visit finds the browser cache cold
            with running_app(env, port=port) as url:
                page = context.new_page()
                t = time.perf_counter()
                page.goto(url)
                page.wait_for_function(f"document.querySelectorAll({CHART_DRAWN!r}).length >= 3", timeout=120_000)
                times.append(time.perf_counter() - t)
                page.close()
        browser.close()
    print(f"  first render with a cold browser cache: {times[0]:.2f} s; warm: "
          f"{', '.join(f'{t:.2f}' for t in times[1:])} s", flush=True)
    return round(statistics.median(times[1:]), 2)


FIGURES = {"dp_overhead": dp_overhead, "calibration_ms": calibration_ms, "cached_answer_ms": cached_answer_ms,
           "live_run_s": live_run_s, "first_render_s": first_render_s}


def main(only: list[str] | None = None) -> dict:
    results = {}
    for name, fn in FIGURES.items():
        if only and name not in only:
            continue
        t = time.perf_counter()
        results[name] = fn()
        print(f"{name:18s} {json.dumps(results[name]):40s} ({time.perf_counter() - t:.0f} s to measure)", flush=True)
    print(json.dumps(results))
    return results
