"""A live run in a worker thread that never touches Streamlit: the UI polls `status()`.

One LiveRun per browser session (kept in that session's state), so sessions never see each other's runs.
"""
from __future__ import annotations

import threading
import time

from .config import RunConfig
from .errors import ExplorerError
from .errors import RunCancelled


class LiveRun:
    def __init__(self, config: RunConfig, **run_kwargs):
        self.config = config
        self._kwargs = run_kwargs
        self._lock = threading.Lock()
        self._progress: dict = {"stage": "queued"}
        self.cancel_flag = threading.Event()
        self.record: dict | None = None
        self.error: str | None = None
        self.cancelled = False
        self.started = time.perf_counter()
        self.finished_at: float | None = None
        self._thread = threading.Thread(target=self._work, name=f"live-{config.key}", daemon=True)
        self._thread.start()

    def _on_progress(self, event: dict) -> None:
        with self._lock:
            self._progress = {**self._progress, **event}

    def _work(self) -> None:
        from . import pipeline

        try:
            self.record = pipeline.run(self.config, progress=self._on_progress, cancel=self.cancel_flag,
                                       **self._kwargs)
        except RunCancelled:
            self.cancelled = True
        except ExplorerError as e:
            self.error = str(e)
        except Exception as e:  # shown as one line in the UI; the traceback goes to the server log
            import traceback

            traceback.print_exc()
            self.error = f"training failed ({type(e).__name__}: {e})"
        finally:
            self.finished_at = time.perf_counter()

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def cancel(self) -> None:
        self.cancel_flag.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def status(self) -> dict:
        """A copy of the latest progress plus a completed fraction (training steps, then attacks)."""
        with self._lock:
            p = dict(self._progress)
        if p.get("stage") in ("train", "epoch") and p.get("steps"):
            p["fraction"] = 0.8 * min(1.0, p.get("step", 0) / p["steps"])
        elif p.get("stage") == "epoch":
            p["fraction"] = 0.8 * p["epoch"] / p["epochs"]
        elif p.get("stage") == "attack":
            p["fraction"] = 0.85
        else:
            p["fraction"] = 0.0
        if self.done:
            p["fraction"] = 1.0
        p["elapsed_s"] = (self.finished_at or time.perf_counter()) - self.started
        return p
