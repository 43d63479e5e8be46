"""A live run in a worker thread that never touches Streamlit: the UI polls `status()`.

One LiveRun per browser session (kept in that session's state), so sessions never see each other's runs.
A run ends in one of three states, each said in one sentence by `outcome()`: done (a record), cancelled,
or failed (what failed). Live runs take RunConfig's default noise (report.live_noise says whether that
is secret or seeded).
"""
from __future__ import annotations

import threading
import time

from .answer import describe
from .config import RunConfig
from .errors import ExplorerError, RunCancelled


class LiveRun:
    def __init__(self, config: RunConfig, estimate_s: float | None = None, **run_kwargs):
        self.config = config
        self.estimate_s = estimate_s  # from stored runs (answer.estimate_seconds), for the ETA
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
            self.error = f"Training failed with an unexpected {type(e).__name__}; the server log has the details."
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
        p["eta_s"] = eta_seconds(p["fraction"], p["elapsed_s"], self.estimate_s)
        return p

    def outcome(self) -> tuple[str, str] | None:
        """None while running; else ("done" | "cancelled" | "failed", one sentence)."""
        if not self.done:
            return None
        what = describe(self.config)
        if self.cancelled:
            return "cancelled", f"Training of {what} was cancelled; nothing was saved."
        if self.record is None:
            return "failed", self.error or f"Training of {what} stopped without a result."
        return "done", f"Trained {what} in {self.record['timing']['total_s']:.0f} s."


def eta_seconds(fraction: float, elapsed: float, estimate: float | None) -> float | None:
    """Seconds left: from the run's own progress once it has some, else from the estimate."""
    if fraction >= 1:
        return 0.0
    if fraction > 0.05:
        return elapsed * (1 - fraction) / fraction
    if estimate is not None:
        return max(estimate - elapsed, 1.0)
    return None
