"""Tables: a user's CSV (or a DataFrame) → a Dataset with train / test / population splits, and the
encoder (one-hot, standardise) fitted on the training rows only."""
from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np

from .errors import ExplorerError

if TYPE_CHECKING:
    from .data import Dataset


class TabularEncoder:
    """One-hot categoricals and standardised numerics, fitted on the training rows only."""

    def __init__(self, numeric: list[str], categorical: list[str]):
        self.numeric, self.categorical = numeric, categorical

    def fit(self, df) -> "TabularEncoder":
        num = df[self.numeric].to_numpy(dtype=np.float64) if self.numeric else np.zeros((len(df), 0))
        self.mean = np.nanmean(num, axis=0) if len(df) else np.zeros(num.shape[1])
        std = np.nanstd(num, axis=0) if len(df) else np.ones(num.shape[1])
        self.std = np.where(std > 0, std, 1.0)
        self.levels = {c: sorted(df[c].astype(str).unique()) for c in self.categorical}
        return self

    @property
    def feature_names(self) -> list[str]:
        return self.numeric + [f"{c}={v}" for c in self.categorical for v in self.levels[c]]

    def transform(self, df) -> np.ndarray:
        parts = []
        if self.numeric:
            num = (df[self.numeric].to_numpy(dtype=np.float64) - self.mean) / self.std
            parts.append(np.nan_to_num(num))  # a missing number becomes the training mean
        for c in self.categorical:
            col = df[c].astype(str).to_numpy()
            parts.append((col[:, None] == np.array(self.levels[c])[None, :]).astype(np.float64))
        return np.concatenate(parts, axis=1).astype(np.float32) if parts else np.zeros((len(df), 0), np.float32)


def tabular_from_frame(name: str, df, target: str, max_levels: int = 50) -> Dataset:
    """Split 60/20/20 (stratified), infer column types, encode on the training rows only."""
    import pandas as pd

    from .data import Dataset, _split  # data.py imports this module for Adult's encoder

    if target not in df.columns:
        raise ExplorerError(f"the target column {target!r} is not in the data; columns are: "
                            f"{', '.join(map(str, df.columns[:20]))}")
    df = df[df[target].notna() & (df[target].astype(str).str.strip() != "")]
    classes = sorted(df[target].astype(str).unique())
    if len(classes) < 2:
        raise ExplorerError(f"the target column {target!r} has {len(classes)} class(es); "
                            "a classifier needs at least two")
    if len(classes) > 100:
        raise ExplorerError(f"the target column {target!r} has {len(classes)} distinct values; "
                            "pick a categorical column (at most 100 classes)")
    if len(df) < 50:
        raise ExplorerError(f"only {len(df)} usable rows; DP training needs at least 50")
    numeric, categorical = [], []
    for c in df.columns:
        if c == target:
            continue
        col = df[c]
        as_num = pd.to_numeric(col, errors="coerce")
        blank = col.isna() | (col.astype(str).str.strip() == "")
        bad = as_num.isna() & ~blank
        if not bad.any():
            numeric.append(c)
            df = df.assign(**{c: as_num})
        elif bad.mean() < 0.1 and (~blank).sum() > 0 and as_num.notna().mean() > 0.5:
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ExplorerError(f"column {c!r} is numeric except for {int(bad.sum())} value(s) such as "
                                f"{col.iloc[row]!r} (data row {row + 1}); fix or blank them")
        elif col.astype(str).nunique() <= max_levels:
            categorical.append(c)
        # else: an identifier-like text column; it carries no signal a small model can use
    if not numeric and not categorical:
        raise ExplorerError("no usable feature columns: every column besides the target is text with "
                            f"more than {max_levels} distinct values")
    y_all = np.searchsorted(classes, df[target].astype(str).to_numpy()).astype(np.int64)
    n = len(df)
    n_test, n_pop = n // 5, n // 5
    tr, te, po = _split(n, (n - n_test - n_pop, n_test, n_pop), y_all)
    enc = TabularEncoder(numeric, categorical).fit(df.iloc[tr])
    return Dataset(name, enc.transform(df.iloc[tr]), y_all[tr], enc.transform(df.iloc[te]), y_all[te],
                   enc.transform(df.iloc[po]), y_all[po], len(classes), "tabular",
                   feature_names=enc.feature_names, class_names=classes)


def load_csv(csv=None, target: str | None = None, **_) -> Dataset:
    """The user's own table: a path, a file-like object, bytes or a DataFrame, and a target column.
    Uploaded data stays in memory; nothing is written anywhere."""
    import pandas as pd

    if csv is None or not target:
        raise ExplorerError("the csv dataset needs a file and a target column (--csv FILE --target COLUMN)")
    if isinstance(csv, pd.DataFrame):
        df = csv.copy()
    else:
        src = io.BytesIO(csv) if isinstance(csv, (bytes, bytearray)) else csv
        try:
            df = pd.read_csv(src, sep=None, engine="python")
        except FileNotFoundError:
            raise ExplorerError(f"no such file: {csv}") from None
        except Exception as e:  # any parser failure (csv.Error, EmptyDataError, decoding…) is the file's
            reason = (str(e).splitlines() or [""])[0]
            raise ExplorerError(f"could not read the CSV ({type(e).__name__}: {reason}); "
                                "save it as comma-separated text with a header row") from None
    if df.empty or len(df.columns) < 2:
        raise ExplorerError("the CSV is empty or has a single column; it needs a header row, a target "
                            "column and at least one feature column")
    return tabular_from_frame("csv", df, str(target))
