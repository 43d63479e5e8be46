"""Live work in a worker thread: a study (LiveStudy) and a run (LiveRun) end done, cancelled or failed,
each said in one sentence; progress is polled without Streamlit."""
import sys
from pathlib import Path

from explorer.config import RunConfig
from explorer.live import LiveRun, LiveStudy
from explorer.tables import TableSpec, read_table

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "tables"))
from synthetic import synthetic_frame  # noqa: E402


def _table():
    return read_table(synthetic_frame(rows=200, columns=5, seed=1).to_csv(index=False).encode())


def test_a_study_that_cannot_start_fails_in_one_sentence_naming_the_cause():
    live = LiveStudy(_table(), TableSpec("no_such_column"), epsilons=(1,), seeds=1)
    live.join(30)
    assert live.done and live.study is None and not live.cancelled
    kind, sentence = live.outcome()
    assert kind == "failed" and sentence.startswith("The study failed: ")
    assert "'no_such_column' is not in the data" in sentence and "\n" not in sentence and "Traceback" not in sentence
    assert live.status()["fraction"] == 1.0


def test_a_cancelled_study_says_cancelled_and_keeps_nothing():
    live = LiveStudy(_table(), TableSpec("label"), epsilons=(1,), seeds=1)
    live.cancel()
    live.join(60)
    assert live.cancelled and live.study is None
    kind, sentence = live.outcome()
    assert kind == "cancelled" and "cancelled" in sentence and "nothing was kept" in sentence


def test_study_progress_is_polled_with_a_label_fraction_and_eta():
    seen = []
    live = LiveStudy(_table(), TableSpec("label"), epsilons=(1,), seeds=1)
    while not live.done and len(seen) < 400:
        s = live.status()
        seen.append(s)
        if s.get("eta_s") is not None:  # the study can tell how long it has left: enough seen
            break
        live.join(0.05)
    live.cancel()
    live.join(60)
    assert all(0.0 <= s["fraction"] <= 1.0 and s["elapsed_s"] >= 0 and s.get("label") for s in seen)
    fractions = [s["fraction"] for s in seen]
    assert fractions == sorted(fractions) and fractions[-1] > 0
    assert any(s.get("phase") == "tuning" for s in seen) and any(s.get("eta_s") is not None for s in seen)


def test_a_run_that_cannot_start_fails_in_one_sentence():
    run = LiveRun(RunConfig(dataset="csv", csv_sha256="0" * 16, attacks=False))  # no table given
    run.join(30)
    kind, sentence = run.outcome()
    assert kind == "failed" and "needs a file and a target column" in sentence and "\n" not in sentence
