"""Process-wide caches shared by every session: the record store, sidebar previews and figures.

Figures are pure functions of records, so one built for a record key (and, for the frontier, the keys
of the records drawn with it and what was asked) is reused by every session; st.plotly_chart copies a
figure (to_dict) before it serialises it, so sharing is safe. Arguments starting with "_" are not hashed.
"""
from __future__ import annotations

import os

import streamlit as st

from .. import plots
from ..config import RunConfig
from ..preview import preview as _preview
from ..records import Store


def store_path() -> str:
    return os.environ.get("EXPLORER_STORE", "cached_runs")


@st.cache_resource(show_spinner=False)
def _store(path: str) -> Store:
    return Store(path)


def store() -> Store:
    return _store(store_path())


@st.cache_resource(max_entries=1024, show_spinner=False)
def preview(key: str, n_records: int, _config: RunConfig, _records: tuple) -> dict:
    """explorer.preview.preview is a pure function of the config and the stored runs it may take the
    training-set size from; the config key and the number of runs name both. PATE's σ needs no
    training-set size (explorer.pate.preview); n only tells the δ warning."""
    if _config.technique == "pate":
        from ..errors import ExplorerError
        from ..pate import preview as pate_preview
        from ..preview import training_size

        try:
            n = training_size(_config, _records)[0]
        except ExplorerError:  # no stored run and no data here: σ does not need n
            n = None
        return pate_preview(_config, n)
    return _preview(_config, records=_records)


@st.cache_resource(max_entries=512, show_spinner=False)
def _figure(kind: str, key: str, context: str, asked: float | None, exact: bool, _record: dict, _records: tuple):
    if kind == "frontier":
        return plots.frontier(list(_records), _record, asked, exact)
    return {"budget": plots.budget, "roc": plots.attack_roc, "histogram": plots.audit_histogram}[kind](_record)


def figure(kind: str, record: dict | None, records: list[dict] = (), asked: float | None = None,
           exact: bool = True):
    """The memoised figure `kind` ("frontier", "budget", "roc", "histogram") of `record` (the frontier
    may have none: it then draws the stored runs and what was asked)."""
    context = "|".join(r["key"] for r in records) if kind == "frontier" else ""
    key = record["key"] if record is not None else "-"
    return _figure(kind, key, context, asked if not exact else None, exact, record, tuple(records))


def _reconstruction_folder() -> str:
    return os.path.join(store_path(), "reconstruction")


@st.cache_resource(max_entries=4, show_spinner=False)
def _studies(folder: str, stamp: tuple):
    from ..attacks.reconstruction import load_studies

    studies, problems = load_studies(folder)
    return studies, problems, (plots.reconstruction(studies) if studies else None)


def reconstruction() -> tuple[list[dict], list[str], object]:
    """The shipped reconstruction studies (cached_runs/reconstruction), the files skipped with why, and
    their figure; read again when a file there changes."""
    folder = _reconstruction_folder()
    stamp = tuple(sorted((e.name, e.stat().st_mtime_ns) for e in os.scandir(folder))) if os.path.isdir(folder) else ()
    return _studies(folder, stamp)
