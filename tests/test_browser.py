"""End to end in a real headless Chromium (Debian's), driven by Playwright: the server starts, the
app renders three charts, the ε slider moves with the keyboard and the panels follow."""
import os
import shutil
import time
from pathlib import Path

import pytest

from explorer.serve import CHART_DRAWN, CHROMIUM_FLAGS as FLAGS, running_app

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    # an empty user cache: the app must start without anything prepared (and without network)
    env = {"EXPLORER_STORE": str(ROOT / "cached_runs"),
           "EXPLORER_CACHE_DIR": str(tmp_path_factory.mktemp("empty-user-cache"))}
    started = time.perf_counter()
    with running_app(env) as url:
        yield url, started


def _idle(page, timeout=120_000):
    """Wait for the script run to finish: charts present and Streamlit's running indicator gone."""
    page.wait_for_function(f"document.querySelectorAll({CHART_DRAWN!r}).length >= 3", timeout=timeout)
    page.wait_for_function(
        "!document.querySelector('[data-testid=\"stStatusWidget\"]') || "
        "!document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=timeout)
    page.wait_for_timeout(500)


ROC_BOUND = ("(() => { const r = Array.from(document.querySelectorAll('[data-testid=stVegaLiteChart]'))"
             ".map(c => Array.from(c.querySelectorAll('text')).map(t => t.textContent)).filter(n => n.includes('chance'));"
             " return r.length === 1 ? (r[0].find(n => n.includes('bound')) || null) : null; })()")


def _roc_bound(page):
    """The ROC panel's legend entry for the (ε, δ) bound as Vega drew it, e.g. '(ε=2.98, δ) bound'
    — one panel only."""
    return page.evaluate(ROC_BOUND)


def test_browser_render_slider_and_screenshot(server, tmp_path):
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed (apt-get install chromium chromium-driver)"
    url, started = server
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        _idle(page)
        first_render_s = time.perf_counter() - started
        before = _roc_bound(page)
        assert before and "ε=2.9" in before, before
        # move the ε slider one step left with the keyboard (3 → 2)
        thumb = page.get_by_role("slider", name="Privacy budget ε")
        thumb.focus()
        page.keyboard.press("ArrowLeft")
        page.wait_for_function(f"(before => {{ const b = {ROC_BOUND}; return b !== null && b !== before; }})",
                               arg=before, timeout=60_000)
        _idle(page)
        after = _roc_bound(page)
        assert after != before and ("ε=1.9" in after or "ε=2.0" in after), after
        shot = tmp_path / "main.png"
        page.screenshot(path=str(shot), full_page=False)
        assert shot.stat().st_size > 20_000
        if os.environ.get("EXPLORER_SCREENSHOT"):  # `make`-free way to refresh docs/screenshot.png
            shutil.copy(shot, os.environ["EXPLORER_SCREENSHOT"])
        browser.close()
    print(f"first full render {first_render_s:.1f} s after `streamlit run`")
