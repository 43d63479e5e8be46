"""Start `streamlit run app.py` on a free local port and wait until it is healthy (browser test, bench)."""
from __future__ import annotations

import os
import socket
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
# a chart Vega has drawn (its SVG), as the browser test and the bench wait for it
CHART_DRAWN = "[data-testid=stVegaLiteChart] svg.marks"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(env: dict | None = None, timeout_s: float = 60.0, port: int | None = None):
    """Yields the app's URL (bound to 127.0.0.1) once /_stcore/health answers "ok"; stops it after.
    A free port unless `port` is given (a browser's cache is per origin, so a restart keeps it)."""
    if port is None:
        port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.headless", "true"], cwd=ROOT, env={**os.environ, **(env or {})},
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
