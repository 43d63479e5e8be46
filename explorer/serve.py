"""Start `streamlit run app.py` on a free local port and wait until it is healthy; measure how fast a
browser shows it (the browser test and the bench)."""
from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# headless Chromium as the browser test and the bench drive it (Debian's build, no GPU, no network)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
# a chart Plotly has drawn (its axes are in the SVG), and a metric card, as the tests and the bench wait for them
CHART_DRAWN = "[data-testid=stPlotlyChart] .js-plotly-plot .main-svg .cartesianlayer"
CARD_SHOWN = "[data-testid=stMetric]"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(env: dict | None = None, timeout_s: float = 60.0, port: int | None = None):
    """Yields the app's URL (bound to 127.0.0.1) once /_stcore/health answers "ok"; stops it after.
    A free port unless `port` is given (a browser's cache is per origin, so a restart keeps it).
    `env` entries set to None are removed from the server's environment."""
    if port is None:
        port = free_port()
    full_env = {**os.environ, **{k: v for k, v in (env or {}).items() if v is not None}}
    for k, v in (env or {}).items():
        if v is None:
            full_env.pop(k, None)
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.headless", "true"], cwd=ROOT, env=full_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.perf_counter() + timeout_s
        while True:
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"streamlit did not become healthy in {timeout_s:.0f} s") from None
                time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# Installed before any page script runs: notes, on the page's own clock (ms since navigation started),
# when the metric cards and the drawn charts first appear. Polling every 20 ms costs the page nothing
# measurable and needs no round trip to Python.
_WATCH = """(() => {
  const seen = {};
  window.__explorerRender = seen;
  const tick = () => {
    if (!seen.cards && document.querySelectorAll(%(cards)r).length >= %(n_cards)d) seen.cards = performance.now();
    if (!seen.charts && document.querySelectorAll(%(charts)r).length >= %(n_charts)d) seen.charts = performance.now();
    if (!(seen.cards && seen.charts)) setTimeout(tick, 20);
  };
  tick();
})();"""


def watch_render(page, cards: int = 3, charts: int = 3) -> None:
    """Make every later navigation of `page` record when `cards` cards and `charts` charts appear."""
    page.add_init_script(_WATCH % {"cards": CARD_SHOWN, "charts": CHART_DRAWN, "n_cards": cards, "n_charts": charts})


def render_timings(page, url: str, timeout_s: float = 120.0) -> dict:
    """Navigate `page` (prepared by watch_render) to `url`; seconds from the start of navigation to the
    metric cards and to the drawn charts, measured by the page's own clock."""
    page.goto(url)
    page.wait_for_function("window.__explorerRender && window.__explorerRender.charts && "
                           "window.__explorerRender.cards", timeout=timeout_s * 1000)
    seen = page.evaluate("window.__explorerRender")
    return {"cards_s": round(seen["cards"] / 1000, 2), "charts_s": round(seen["charts"] / 1000, 2)}


def first_render(visits: int = 3, env: dict | None = None) -> dict | None:
    """The first render a returning user sees on a freshly started server: one visit warms the
    browser's cache (per origin), then each of `visits` fresh servers on that origin is opened once.
    Returns the medians and every visit's figures, or None where Chromium or Playwright is missing."""
    import shutil

    chromium = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not chromium:
        return None
    env = {"EXPLORER_STORE": str(ROOT / "cached_runs"), **(env or {})}
    port, runs = free_port(), []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        for _ in range(1 + visits):  # the first visit finds the browser cache cold
            with running_app(env, port=port) as url:
                page = context.new_page()
                watch_render(page)
                runs.append(render_timings(page, url))
                page.close()
        browser.close()
    warm = runs[1:]
    return {"cards_s": statistics.median(r["cards_s"] for r in warm),
            "charts_s": statistics.median(r["charts_s"] for r in warm), "cold_cache": runs[0], "visits": warm}
