"""`python -m explorer bench`: the performance figures, printed as one JSON object plus a table.

Benchmarks print figures; they are not timed tests (machines here are shared and noisy), so speed is
compared as ratios measured in the same run. Figures:
- dp_overhead: for every model the explorer ships, the step time of (b) Opacus' default make_private
  (hooks) and (c) the configuration the explorer trains with (its grad_sample_mode, registered grad
  samplers, BatchMemoryManager parts), each as a ratio to (a) a plain torch step on the same batch;
- calibration_ms: median σ-for-ε calibration (PRV) over the bench/calibration.py cases;
- cached_answer_ms: median server-side script run after a slider move between cached configurations;
- live_run_s: a full mnist-5k run at the default budget with audit, RMIA (K=2) and inversion, the
  record's total_s (from loading the data to the finished record; torch is already imported, as in a
  running app server);
- first_render_s: seconds from navigation to the first metric cards (cards_s) and to three charts
  drawn by Plotly (charts_s) in headless Chromium, on a freshly started server, for a user whose
  browser cache holds the app's files from an earlier visit; medians of three such servers
  (`serve.first_render`; null where Chromium or Playwright is missing).
"""
from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cases() -> dict:
    """(model, x, y, classes, a config whose recipe the explorer would use) per shipped model, on real
    rows: logistic regression on breast-cancer (batch 32) and Adult (batch 512), the MLP and the CNN
    on mnist-5k (batch 256), the linear head on full MNIST's ScatterNet features (batch 4096, which the
    explorer trains in physical parts of 1024 — or mnist-5k's features when full MNIST is absent)."""
    from . import data, features
    from .config import RunConfig
    from .errors import ExplorerError

    mnist = data.load("mnist-5k")
    bc, adult = data.load("breast-cancer"), data.load("adult")
    try:
        full = features.apply("scatternet", data.load("mnist"))
    except ExplorerError:
        full = features.apply("scatternet", mnist)
    big = min(4096, full.n_train)
    return {
        "logreg (breast-cancer)": ("logreg", bc.x_train[:32], bc.y_train[:32], 2, RunConfig(dataset="breast-cancer")),
        "logreg (adult)": ("logreg", adult.x_train[:512], adult.y_train[:512], 2, RunConfig(dataset="adult")),
        "mlp": ("mlp", mnist.x_train[:256], mnist.y_train[:256], 10, RunConfig(dataset="mnist-5k", model="mlp")),
        "cnn": ("cnn", mnist.x_train[:256], mnist.y_train[:256], 10, RunConfig(dataset="mnist-5k")),
        "scatternet": ("scatternet", full.x_train[:big], full.y_train[:big], 10,
                       RunConfig(dataset="mnist", batch_size=big)),
    }


def _steppers(name, x, y, classes, config) -> dict:
    """Three step functions on the same batch: (a) plain torch, (b) Opacus' default make_private
    (hooks, Opacus' own grad samplers, one pass over the batch), (c) the explorer's configuration
    (explorer.train.make_private: the config's grad_sample_mode, the registered samplers, physical parts
    through Opacus' BatchMemoryManager protocol for large batches)."""
    import torch
    from opacus import PrivacyEngine
    from torch import nn

    from . import samplers, train
    from .models import build

    x, y = torch.from_numpy(x), torch.from_numpy(y)

    def fresh():
        model = build(name, x.shape[1:], classes, 0)
        return model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=config.momentum)

    model, opt = fresh()
    loss_fn = nn.CrossEntropyLoss()

    def plain():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    loader = torch.utils.data.DataLoader(train.Rows(x, y), batch_size=len(y) // 4, collate_fn=train._batch_as_is)
    m_b, o_b = fresh()
    with samplers.opacus_defaults():  # (b) is Opacus as it comes: its own grad samplers
        gm_b, o_b, _ = PrivacyEngine(accountant="prv").make_private(
            module=m_b, optimizer=o_b, data_loader=loader, noise_multiplier=1.0, max_grad_norm=1.0)

    def opacus_default():
        with samplers.opacus_defaults():
            o_b.zero_grad()
            loss_fn(gm_b(x), y).backward()
            o_b.step()

    m_c, o_c = fresh()
    gen = torch.Generator().manual_seed(0)
    private = train.make_private(config, m_c, o_c, x, y, 1.0, gen, torch.Generator().manual_seed(1), 4)
    parts = (list(zip(x.split(train.MAX_PHYSICAL_BATCH), y.split(train.MAX_PHYSICAL_BATCH)))
             if train.needs_parts(config) else [(x, y)])

    def explorer():
        for i, (xp, yp) in enumerate(parts):
            if len(parts) > 1:  # what BatchMemoryManager's sampler signals for each part
                private.optimizer.signal_skip_step(do_skip=i < len(parts) - 1)
            private.optimizer.zero_grad()
            private.criterion(private.module(xp), yp).backward()
            private.optimizer.step()

    return {"plain": plain, "opacus_hooks": opacus_default, "explorer": explorer}


def fastest_round(steps: dict, rounds: int = 7, per_round: int = 3) -> dict[str, float]:
    """Seconds per call of each step function: two warm-up calls each, then `rounds` interleaved rounds
    of `per_round` calls of every step; each figure is its fastest round (on a shared machine other
    work only ever adds time)."""
    for fn in steps.values():
        fn()
        fn()
    times = {k: [] for k in steps}
    for _ in range(rounds):
        for k, fn in steps.items():
            t = time.perf_counter()
            for _ in range(per_round):
                fn()
            times[k].append((time.perf_counter() - t) / per_round)
    return {k: min(v) for k, v in times.items()}


def dp_overhead(rounds: int = 7, per_round: int = 3) -> dict:
    """Per shipped model: step time of (b) Opacus' default make_private (hooks) and (c) the explorer's
    configuration, as ratios to (a) a plain torch step, measured in the same run. The three steps are
    timed in interleaved rounds (each round: `per_round` steps of each), and each figure is the fastest
    round: on a shared machine other work only ever adds time (medians moved by 2× between runs here)."""
    import torch

    torch.manual_seed(0)
    out = {}
    for label, (name, x, y, classes, config) in _cases().items():
        best = fastest_round(_steppers(name, x, y, classes, config), rounds, per_round)
        out[label] = {"opacus_hooks": round(best["opacus_hooks"] / best["plain"], 2),
                      "explorer": round(best["explorer"] / best["plain"], 2), "grad_sample_mode": config.grad_sample_mode}
        print(f"  {label:24s} batch {len(y):4d}: plain {best['plain'] * 1e3:8.2f} ms · Opacus hooks "
              f"{best['opacus_hooks'] * 1e3:8.2f} ms ({out[label]['opacus_hooks']:.2f}×) · explorer "
              f"({config.grad_sample_mode}) {best['explorer'] * 1e3:8.2f} ms ({out[label]['explorer']:.2f}×)",
              flush=True)
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
    values = [2.0, 3.0, 5.0, 1.0, 8.0]  # stops of the app's ε slider
    for v in values:  # first visits build each configuration's figures once
        at.select_slider(key="epsilon").set_value(v).run()
    times = []
    for i in range(moves):
        t = time.perf_counter()
        at.select_slider(key="epsilon").set_value(values[i % len(values)]).run()
        times.append(time.perf_counter() - t)
    return round(statistics.median(times) * 1000, 1)


def live_run_s() -> float:
    """The app's live run: mnist-5k at the default budget with audit, RMIA (K = 2) and inversion, secret
    noise (as the app trains), from loading the data to the finished record."""
    from . import pipeline
    from .config import RunConfig

    record = pipeline.run(RunConfig(dataset="mnist-5k", target_epsilon=3.0, seed=101))
    print(f"  live run: train {record['timing']['train_s']:.1f} s, attacks {record['timing']['attacks_s']:.1f} s, "
          f"test accuracy {record['utility']['test_accuracy']:.3f}", flush=True)
    return round(record["timing"]["total_s"], 1)


def first_render_s(visits: int = 3) -> dict | None:
    """A returning user opening a freshly started server (`serve.first_render`): one visit warms the
    browser's cache (per origin), then `visits` fresh servers on that origin are opened once each; the
    medians of the seconds from navigation to the metric cards and to three charts drawn by Plotly."""
    from .serve import first_render

    out = first_render(visits=visits)
    if out is None:
        return None
    cold, warm = out["cold_cache"], ", ".join(f"{v['charts_s']:.2f}" for v in out["visits"])
    print(f"  first render with a cold browser cache: cards {cold['cards_s']:.2f} s, charts "
          f"{cold['charts_s']:.2f} s; warm cache: charts {warm} s", flush=True)
    return {"cards_s": round(out["cards_s"], 2), "charts_s": round(out["charts_s"], 2)}


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
