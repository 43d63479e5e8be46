"""Live work in a worker thread that never touches Streamlit: the UI polls `status()`.

One live run (`LiveRun`: one configuration through `pipeline.run`) and one live study (`LiveStudy`: a
budget study on a user's table through `study.run_study`) per browser session, each kept in that
session's state, so sessions never see each other's work. Either ends in one of three states, each said
in one sentence by `outcome()`: done (a record, a study), cancelled, or failed (what failed). Live runs
take RunConfig's default noise (report.live_noise says whether that is secret or seeded).
"""
from __future__ import annotations

import threading
import time
import traceback

from .answer import describe
from .config import RunConfig
from .errors import ExplorerError, RunCancelled


class _Worker:
    """A daemon thread running `_job()`, its latest progress event under a lock, a cancel flag, and how
    it ended: `result`, `cancelled` or `error` (one sentence, never a traceback)."""

    name = "live"

    def __init__(self, initial: dict):
        self._lock = threading.Lock()
        self._progress: dict = dict(initial)
        self.cancel_flag = threading.Event()
        self.error: str | None = None
        self.cancelled = False
        self.started = time.perf_counter()
        self.finished_at: float | None = None
        self._thread = threading.Thread(target=self._work, name=self.name, daemon=True)
        self._thread.start()

    def _job(self):  # pragma: no cover - each kind defines it
        raise NotImplementedError

    def _store(self, result) -> None:
        raise NotImplementedError

    def _unexpected(self, e: Exception) -> str:
        raise NotImplementedError

    def _on_progress(self, event: dict) -> None:
        with self._lock:
            self._progress = {**self._progress, **event}

    def _work(self) -> None:
        try:
            self._store(self._job())
        except RunCancelled:
            self.cancelled = True
        except ExplorerError as e:
            self.error = str(e)
        except Exception as e:  # shown as one line in the UI; the traceback goes to the server log
            traceback.print_exc()
            self.error = self._unexpected(e)
        finally:
            self.finished_at = time.perf_counter()

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def cancel(self) -> None:
        self.cancel_flag.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _latest(self) -> dict:
        with self._lock:
            return dict(self._progress)

    def _elapsed(self) -> float:
        return (self.finished_at or time.perf_counter()) - self.started


class LiveRun(_Worker):
    def __init__(self, config: RunConfig, estimate_s: float | None = None, **run_kwargs):
        self.config = config
        self.estimate_s = estimate_s  # from stored runs (answer.estimate_seconds), for the ETA
        self._kwargs = run_kwargs
        self.record: dict | None = None
        self.name = f"live-{config.key}"
        super().__init__({"stage": "queued"})

    def _job(self):
        from . import pipeline

        return pipeline.run(self.config, progress=self._on_progress, cancel=self.cancel_flag, **self._kwargs)

    def _store(self, result) -> None:
        self.record = result

    def _unexpected(self, e: Exception) -> str:
        return f"Training failed with an unexpected {type(e).__name__}; the server log has the details."

    def status(self) -> dict:
        """A copy of the latest progress plus a completed fraction (training steps, then attacks)."""
        p = self._latest()
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
        p["elapsed_s"] = self._elapsed()
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


class LiveStudy(_Worker):
    """A budget study (explorer.study.run_study) on a Table with its TableSpec, or on a PreparedTable.
    The table's rows stay in this object's memory (the session's); the study it leaves is aggregates."""

    name = "live-study"

    def __init__(self, table, spec=None, **study_kwargs):
        self._args, self._kwargs = (table, spec), study_kwargs
        self.study: dict | None = None
        super().__init__({"stage": "study", "phase": "queued", "label": "starting", "fraction": 0.0,
                          "eta_s": None})

    def _job(self):
        from . import study

        return study.run_study(*self._args, progress=self._on_progress, cancel=self.cancel_flag, **self._kwargs)

    def _store(self, result) -> None:
        self.study = result

    def _unexpected(self, e: Exception) -> str:
        return (f"an unexpected {type(e).__name__} during {self._latest().get('label') or 'its start'} (the server "
                "log has the details)")

    def status(self) -> dict:
        """The study's latest event: label, phase, fraction (0–1), eta_s (None until the study can tell),
        elapsed_s; run/runs or trial/trials when it says."""
        p = self._latest()
        p.setdefault("fraction", 0.0)
        if self.done:
            p["fraction"], p["eta_s"] = 1.0, 0.0
        p["elapsed_s"] = self._elapsed()
        return p

    def outcome(self) -> tuple[str, str] | None:
        """None while running; else ("done" | "cancelled" | "failed", one sentence)."""
        if not self.done:
            return None
        if self.cancelled:
            return "cancelled", (f"The study was cancelled during {self._latest().get('label', 'its start')}; "
                                 "nothing was kept.")
        if self.study is None:
            return "failed", "The study failed: " + (self.error or "it stopped without a result.")
        s = self.study
        return "done", (f"Studied {len(s['settings']['epsilons'])} budget(s) and the non-private baseline × "
                        f"{len(s['settings']['seeds'])} seed(s): {len(s['runs'])} runs in "
                        f"{s['timing']['total_s']:.0f} s.")


def eta_seconds(fraction: float, elapsed: float, estimate: float | None) -> float | None:
    """Seconds left: from the run's own progress once it has some, else from the estimate."""
    if fraction >= 1:
        return 0.0
    if fraction > 0.05:
        return elapsed * (1 - fraction) / fraction
    if estimate is not None:
        return max(estimate - elapsed, 1.0)
    return None
