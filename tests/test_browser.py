"""End to end in a real headless Chromium (Debian's), driven by Playwright: the server starts, the
app draws its cards and three Plotly charts (timed), the ε slider moves with the keyboard and the panels
follow; the HTML report opens offline with its figures drawn. Never Playwright's own browser download."""
import os
import shutil
import time
from pathlib import Path

import pytest

from explorer import report
from explorer.records import Store
from explorer.serve import CHART_DRAWN, render_timings, running_app, watch_render
from explorer.serve import CHROMIUM_FLAGS as FLAGS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # an empty user cache: the app must start without anything prepared (and without network)
    env = {"EXPLORER_STORE": str(ROOT / "cached_runs"),
           "EXPLORER_CACHE_DIR": str(tmp_path_factory.mktemp("empty-user-cache"))}
    with running_app(env) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed (apt-get install chromium chromium-driver)"
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=FLAGS)
        yield b
        b.close()


def _idle(page, timeout=120_000):
    """Wait for the script run to finish: charts drawn and Streamlit's running indicator gone."""
    page.wait_for_function(f"document.querySelectorAll({CHART_DRAWN!r}).length >= 3", timeout=timeout)
    page.wait_for_function(
        "!document.querySelector('[data-testid=\"stStatusWidget\"]') || "
        "!document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=timeout)
    page.wait_for_timeout(500)


# the ROC panel's legend entry for the (ε, δ) bound as Plotly drew it, e.g. "(ε=2.98, δ) bound"
ROC_BOUND = ("(() => { const r = Array.from(document.querySelectorAll('[data-testid=stPlotlyChart]'))"
             ".map(c => Array.from(c.querySelectorAll('.legendtext')).map(t => t.textContent))"
             ".filter(n => n.includes('chance') && n.some(x => x.includes('canary')));"
             " return r.length === 1 ? (r[0].find(n => n.includes('bound') && n.startsWith('(')) || null) : null; })()")


def test_browser_render_slider_and_screenshot(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    watch_render(page)
    timings = render_timings(page, server)
    _idle(page)
    before = page.evaluate(ROC_BOUND)
    assert before and "ε=2.9" in before, before
    assert page.locator("[data-testid=stMetric]").count() >= 3
    assert page.locator("[data-testid=stAppDeployButton]").count() == 0  # toolbarMode = "viewer"
    # move the ε slider one stop left with the keyboard (3 → 2)
    thumb = page.get_by_role("slider", name="Privacy budget ε")
    thumb.focus()
    page.keyboard.press("ArrowLeft")
    page.wait_for_function(f"(before => {{ const b = {ROC_BOUND}; return b !== null && b !== before; }})",
                           arg=before, timeout=60_000)
    _idle(page)
    after = page.evaluate(ROC_BOUND)
    assert after != before and ("ε=1.9" in after or "ε=2.0" in after), after
    page.keyboard.press("ArrowRight")  # back to the default budget for the README's picture
    page.wait_for_function(f"(() => {{ const b = {ROC_BOUND}; return b !== null && b.includes('ε=2.9'); }})()",
                           timeout=60_000)
    _idle(page)
    shot = tmp_path / "main.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 20_000
    if os.environ.get("EXPLORER_SCREENSHOT"):  # `make`-free way to refresh docs/screenshot.png
        shutil.copy(shot, os.environ["EXPLORER_SCREENSHOT"])
    page.close()
    print(f"first render on a fresh server, cold browser cache: cards {timings['cards_s']:.2f} s, "
          f"charts {timings['charts_s']:.2f} s")


def test_html_report_draws_its_figures_offline(browser, tmp_path):
    records = Store(ROOT / "cached_runs").records("mnist-5k")
    record = next(r for r in records if r["privacy"]["epsilon"] is not None)
    path = tmp_path / "report.html"
    path.write_text(report.html_with_figures(record, None, records), encoding="utf-8")
    context = browser.new_context(offline=True)
    page = context.new_page()
    started = time.perf_counter()
    page.goto(path.as_uri())
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg .cartesianlayer').length >= 3",
                           timeout=60_000)
    assert time.perf_counter() - started < 30
    assert "bound" in " ".join(page.locator(".legendtext").all_text_contents())
    context.close()
