"""A user's table: bytes → `Table` (decoded, parsed, cleaned, with notes) → a preview of column types the
user may override → `TableSpec` (target, exclusions, types, subsample) → `PreparedTable` holding the
`Dataset` (60/20/20 stratified splits, one-hot and standardisation fitted on the training rows only).

Nothing here writes a file. Whatever may be saved — notes, column roles, `PreparedTable.summary` — names
columns and counts, never a cell value (a category level is a cell value). Error messages may quote a
cell: they go to the person who uploaded the table and are never stored.
"""
from __future__ import annotations

import csv as csvlib
import hashlib
import io
import itertools
import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .errors import ExplorerError

if TYPE_CHECKING:
    import pandas as pd

    from .data import Dataset

# The app's `server.maxUploadSize` (.streamlit/config.toml, megabytes of 2**20 bytes) must equal this.
MAX_UPLOAD_MB = 50
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 2**20
MAX_COLUMNS = 500
MIN_ROWS = 100  # 60 to train, 20 to test, 20 as the attacks' population
MIN_CLASS_ROWS = 10  # 6 / 2 / 2 after the stratified split
MAX_CLASSES = 50
MAX_LEVELS = 50  # a text column with more distinct values is not used as a category
MAX_FEATURES = 2000  # model inputs after one-hot encoding
SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}
# cells a numeric column may hold for "no value" (compared lower-case, after stripping spaces)
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "?", "#n/a", "nil"})
_NA_VALUES = sorted({v for t in MISSING_TOKENS for v in (t, t.upper(), t.title())})  # pandas' are case-sensitive
NUMERIC, CATEGORICAL, EXCLUDED = "numeric", "categorical", "excluded"
TYPES = (NUMERIC, CATEGORICAL, EXCLUDED)
_SNIFF_CHARS = 1 << 16
# names an identifier column tends to have: "id", "customer_id", "Patient ID", "userId", "Unnamed: 0"
_ID_NAME = re.compile(r"(?i:(^|[\W_])(id|ids|uuid|guid|key|index|idx)$|^(id|uuid)([\W_]|$)|^unnamed: ?\d+$)"
                      r"|[a-z](ID|Id)$")
_MAGIC = [(b"PK\x03\x04", "a zip archive or an Excel workbook (.xlsx)"),
          (b"\xd0\xcf\x11\xe0", "an Excel 97-2003 workbook (.xls)"), (b"%PDF", "a PDF document"),
          (b"\x1f\x8b", "a gzip-compressed file"), (b"PAR1", "a Parquet file"),
          (b"SQLite format 3", "an SQLite database"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image")]


class TabularEncoder:
    """One-hot categoricals and standardised numerics, fitted on the training rows only."""

    def __init__(self, numeric: list[str], categorical: list[str]):
        self.numeric, self.categorical = numeric, categorical

    def fit(self, df) -> "TabularEncoder":
        num = df[self.numeric].to_numpy(dtype=np.float64) if self.numeric else np.zeros((len(df), 0))
        seen = ~np.isnan(num).all(axis=0) if len(df) else np.zeros(num.shape[1], bool)
        self.mean = np.zeros(num.shape[1])
        std = np.ones(num.shape[1])
        if seen.any():  # a column with no number in the training rows is all "missing": mean 0, scale 1
            self.mean[seen] = np.nanmean(num[:, seen], axis=0)
            std[seen] = np.nanstd(num[:, seen], axis=0)
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


# ---------------------------------------------------------------- reading
@dataclass(frozen=True)
class Column:
    """One column as read: its inferred type and why, and counts (never a value)."""
    name: str
    inferred: str  # numeric | categorical | excluded
    reason: str  # why, in words; "" when nothing needs saying
    distinct: int  # distinct non-missing values
    missing: int  # empty or "NA"-like cells (and ±inf in a numeric column)
    non_numeric: int  # non-missing cells that are not numbers (0 for a numeric column)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Table:
    """A parsed table in memory. `frame` holds every kept column's cells as stripped strings (or the
    numbers a DataFrame came with); `numbers` the parsed float values of the columns where most cells
    are numbers (NaN for missing, ±inf and non-numbers)."""
    frame: "pd.DataFrame"
    numbers: dict[str, np.ndarray]
    columns: list[Column]
    dropped: dict[str, str]  # column → why it was dropped ("empty", "constant")
    notes: list[str]
    sha256: str  # of the raw bytes (or of the DataFrame's contents)
    encoding: str | None = None
    separator: str | None = None

    @property
    def n_rows(self) -> int:
        return len(self.frame)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise ExplorerError(f"no column named {name!r}; columns are: {_names([c.name for c in self.columns])}")

    def preview(self) -> list[dict]:
        """The inferred types, one row per column, for the user to review and override."""
        return [{"column": c.name, "type": c.inferred, "distinct": c.distinct, "missing": c.missing,
                 "note": c.reason} for c in self.columns]


def _names(names, limit: int = 20) -> str:
    shown = ", ".join(repr(str(n)) for n in names[:limit])
    return shown + (f" … ({len(names)} in all)" if len(names) > limit else "")


def read_bytes(source) -> bytes:
    """The raw bytes of a path, a file-like object or bytes; a file over the upload limit is refused."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        raw = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        try:
            size = os.path.getsize(source)
            if size > MAX_UPLOAD_BYTES:
                _too_big(size)
            with open(source, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            raise ExplorerError(f"no such file: {source}") from None
        except IsADirectoryError:
            raise ExplorerError(f"{source} is a folder; give the path of a CSV file") from None
        except OSError as e:
            raise ExplorerError(f"cannot read {source}: {e.strerror}") from None
    elif hasattr(source, "read"):
        raw = source.read(MAX_UPLOAD_BYTES + 1)
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
    else:
        raise ExplorerError(f"a table must be a file path, bytes or a file object; got {type(source).__name__}")
    if len(raw) > MAX_UPLOAD_BYTES:
        _too_big(len(raw))
    return raw


def _too_big(size: int):
    raise ExplorerError(f"the file is {size / 2**20:.0f} MB; the explorer reads tables of at most "
                        f"{MAX_UPLOAD_MB} MB: keep a random sample of the rows or drop unneeded columns, "
                        "and upload that")


def decode(raw: bytes) -> tuple[str, str]:
    """(text, encoding name): UTF-8 (with or without BOM), UTF-16 with a BOM, else Windows-1252 (which
    reads every Latin-1 text the same); a binary file or another encoding is refused by name."""
    head = raw[:4096]
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise ExplorerError(f"this is not a text table: it looks like {what}; open it in the program that "
                                "made it and save or export it as CSV (comma-separated values, UTF-8)")
    if raw.startswith(b"\xef\xbb\xbf"):
        return _decoded(raw[3:], "utf-8", "UTF-8 with a byte-order mark")
    for bom, codec in ((b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if raw.startswith(bom):
            return _decoded(raw[2:], codec, "UTF-16")
    if b"\x00" in head:
        zeros = head.count(b"\x00") / len(head)
        if 0.3 < zeros < 0.6 and (head[1::2].count(0) > 0.9 * len(head[1::2])
                                  or head[0::2].count(0) > 0.9 * len(head[0::2])):
            raise ExplorerError("unreadable encoding: the file looks like UTF-16 text without a byte-order mark; "
                                "save it again as CSV UTF-8")
        raise ExplorerError("this is not a text table: the file contains binary data (NUL bytes); choose a CSV "
                            "file saved as text (comma-separated values, UTF-8)")
    try:
        return raw.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "Windows-1252 / Latin-1 (not valid UTF-8)"
    except UnicodeDecodeError as e:
        raise ExplorerError(f"unreadable encoding: byte 0x{raw[e.start]:02x} at position {e.start} is neither "
                            "UTF-8 nor Windows-1252/Latin-1 text; save the file as CSV UTF-8 and upload it "
                            "again") from None


def _decoded(raw: bytes, codec: str, label: str) -> tuple[str, str]:
    try:
        return raw.decode(codec), label
    except UnicodeDecodeError as e:
        raise ExplorerError(f"unreadable encoding: the file starts like {label} but byte {e.start} is not valid "
                            f"{label}; save it again as CSV UTF-8") from None


def sniff(text: str) -> str:
    """The separator among , ; tab | that splits the first records (quotes respected) into the same
    number of fields, the most fields winning; a comma when nothing splits."""
    sample = text[:_SNIFF_CHARS]
    cut = len(text) > _SNIFF_CHARS
    best, best_key = ",", None
    for sep in SEPARATORS:
        try:
            counts = [len(r) for r in itertools.islice(csvlib.reader(io.StringIO(sample), delimiter=sep), 200)
                      if r]
        except csvlib.Error:
            continue
        if cut and len(counts) > 1:
            counts = counts[:-1]  # the sample may end inside a record
        if not counts:
            continue
        same = sum(c == counts[0] for c in counts) / len(counts)
        key = (counts[0] >= 2 and same >= 0.9, counts[0] >= 2, round(same, 2), counts[0])
        if best_key is None or key > best_key:
            best, best_key = sep, key
    return best


def _parse(text: str, sep: str) -> "pd.DataFrame":
    """The table with its header row; numbers come out as numbers (pandas' C parser), the rest as text,
    and the missing-value forms as NaN."""
    import pandas as pd

    try:
        return pd.read_csv(io.StringIO(text), sep=sep, header=0, keep_default_na=False, na_values=_NA_VALUES,
                           skip_blank_lines=True, engine="c", low_memory=False)
    except pd.errors.EmptyDataError:
        raise ExplorerError("the file is empty: it needs a header row and data rows") from None
    except pd.errors.ParserError as e:
        msg = str(e)
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
        if m:
            raise ExplorerError(f"line {m.group(2)} has {m.group(3)} fields where the header row has {m.group(1)} "
                                f"(separator: {SEPARATORS[sep]}); a value holding the separator needs quotes, "
                                "or the line is broken: fix it and upload again") from None
        if "EOF inside string" in msg:
            m = re.search(r"line (\d+)", msg)
            where = f" on line {m.group(1)}" if m else ""
            raise ExplorerError(f"a quote opened{where} is never closed; fix the quoting and upload again") from None
        raise ExplorerError(f"could not parse the table ({(msg.splitlines() or [''])[0]}); save it as CSV with "
                            "a header row") from None


def read_table(source) -> Table:
    """Read a CSV (path, bytes or file object): decode, find the separator, parse (quoted newlines
    allowed), name columns uniquely, drop empty and constant columns, infer types. Every problem is one
    ExplorerError naming its cause; every silent-looking fix is a note."""
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        return table_from_frame(source)
    raw = read_bytes(source)
    if not raw.strip():
        raise ExplorerError("the file is empty: it needs a header row and data rows")
    text, encoding = decode(raw)
    if not text.strip():
        raise ExplorerError("the file is empty: it needs a header row and data rows")
    sep = sniff(text)
    notes = []
    if encoding != "UTF-8":
        notes.append(f"read as {encoding}")
    if sep != ",":
        notes.append(f"values separated by {SEPARATORS[sep]}s")
    header = [h.strip() for h in next(csvlib.reader(io.StringIO(text[:4 * _SNIFF_CHARS]), delimiter=sep), [])]
    if len(header) > MAX_COLUMNS:
        raise ExplorerError(f"the table has {len(header)} columns; the explorer studies at most {MAX_COLUMNS}: "
                            "drop the columns you do not need and upload again")
    frame = _parse(text, sep)
    if len(header) != frame.shape[1]:  # a header the csv module splits otherwise than pandas: take pandas'
        header = [str(c).strip() for c in frame.columns]
    if len(frame) == 0:
        raise ExplorerError(f"no rows: the file has a header row ({len(header)} column(s)) but no data rows")
    if len(header) < 2:
        raise ExplorerError("only one column found: no comma, semicolon, tab or | separates the values; the "
                            "table needs a target column and at least one feature column")
    frame.columns = _unique_names(header, notes)
    return _analyse(_normalise(frame), hashlib.sha256(raw).hexdigest(), notes, encoding, sep)


def _normalise(frame) -> "pd.DataFrame":
    """Numeric columns as they are; any other column (booleans included) as stripped text, "" for missing."""
    import pandas as pd

    out = {}
    for c in frame.columns:
        s = frame[c]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            out[c] = s.reset_index(drop=True)
        else:
            obj = s.to_numpy(dtype=object)
            out[c] = pd.Series(obj).where(~pd.isna(obj), "").astype(str).str.strip()
    return pd.DataFrame(out)


def table_from_frame(df) -> Table:
    """A Table from a DataFrame (numeric columns keep their numbers; others become stripped strings)."""
    import pandas as pd

    notes: list[str] = []
    frame = pd.DataFrame({i: df.iloc[:, i] for i in range(df.shape[1])})
    frame.columns = _unique_names([str(c) for c in df.columns], notes)
    frame = _normalise(frame)
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
                            + json.dumps(list(frame.columns)).encode()).hexdigest()
    return _analyse(frame, digest, notes, None, None)


def _unique_names(header: list[str], notes: list[str]) -> list[str]:
    names, seen, renamed, blank = [], set(), [], []
    for i, h in enumerate(header):
        name = h or f"column {i + 1}"
        if not h:
            blank.append(name)
        if name in seen:
            k = 2
            while f"{name} ({k})" in seen or f"{name} ({k})" in header:
                k += 1
            renamed.append(f"{name!r} → {name + f' ({k})'!r}")
            name = f"{name} ({k})"
        seen.add(name)
        names.append(name)
    if blank:
        notes.append(f"{len(blank)} column(s) without a name called {_names(blank)}")
    if renamed:
        notes.append(f"repeated column names renamed: {', '.join(renamed)}")
    return names


def _analyse(frame, sha: str, notes: list[str], encoding, sep) -> Table:
    import pandas as pd

    n = len(frame)
    if n == 0:
        raise ExplorerError("no rows: the table has a header row but no data rows")
    if n < MIN_ROWS:
        raise ExplorerError(f"too few rows: the table has {n} data row(s); the explorer needs at least "
                            f"{MIN_ROWS} (60 % to train, 20 % to test, 20 % as the population the attacks compare with)")
    columns, numbers, dropped, kept = [], {}, {}, []
    infinite, comma = [], []
    for name in frame.columns:
        s = frame[name]
        if pd.api.types.is_numeric_dtype(s):
            values = s.to_numpy(dtype=np.float64)
            missing = np.isnan(values)
            codes = None
        else:
            # parse each distinct text once: a categorical column has few, and pandas parses slowly
            codes, uniques = pd.factorize(s.to_numpy(dtype=object))
            blank = pd.Series(uniques, dtype=object).str.lower().isin(MISSING_TOKENS).to_numpy()
            missing = blank[codes]
            parsed = pd.to_numeric(pd.Series(np.where(blank, None, uniques), dtype=object), errors="coerce")
            values = parsed.to_numpy(dtype=np.float64)[codes]
            if sep not in (",", None) and any("," in u for u in uniques):
                # "1,5" in a semicolon- or tab-separated file is one and a half
                alt = pd.to_numeric(pd.Series(np.where(blank, None, [u.replace(",", ".") for u in uniques]),
                                              dtype=object), errors="coerce").to_numpy(dtype=np.float64)[codes]
                if (np.isnan(alt) & ~missing).sum() < (np.isnan(values) & ~missing).sum():
                    values = alt
                    comma.append(name)
        inf = np.isinf(values)
        if inf.any():
            infinite.append(f"{name!r} ({int(inf.sum())})")
            values = np.where(inf, np.nan, values)
            missing = missing | inf
        present = ~missing
        non_numeric = int((np.isnan(values) & present).sum())
        distinct = (len(pd.unique(values[present])) if codes is None else
                    len(np.unique(codes[present])))
        if not present.any():
            dropped[name] = "empty in every row"
            continue
        if distinct == 1 and present.all():
            dropped[name] = "the same value in every row"
            continue
        numeric_share = 1 - non_numeric / present.sum()
        if numeric_share > 0.5:
            numbers[name] = values
        if non_numeric == 0:
            whole = np.all(values[present] == np.round(values[present]))
            if distinct == n and whole and (_ID_NAME.search(name) or np.ptp(values) + 1 == n):
                kind, reason = EXCLUDED, "unique per row: looks like an identifier (include it if it is a measurement)"
            else:
                kind, reason = NUMERIC, ""
        elif numeric_share >= 0.9:
            kind = NUMERIC
            reason = (f"{non_numeric} cell(s) are not numbers: fix them, or set the type to numeric (they become "
                      "missing) or categorical")
        elif distinct == present.sum() and distinct > 1:
            kind, reason = EXCLUDED, "unique per row: looks like an identifier"
        elif distinct > MAX_LEVELS:
            kind, reason = EXCLUDED, f"text with {distinct} distinct values (at most {MAX_LEVELS} are used as categories)"
        else:
            kind, reason = CATEGORICAL, ""
        columns.append(Column(name, kind, reason, distinct, int(missing.sum()), non_numeric))
        kept.append(name)
    if comma:
        notes.append(f"decimal commas read as decimal points in {_names(comma)}")
    if infinite:
        notes.append(f"±infinity treated as missing in {', '.join(infinite)}")
    if dropped:
        notes.append("columns dropped: " + ", ".join(f"{k!r} ({v})" for k, v in dropped.items()))
    proposed = [c.name for c in columns if c.inferred == EXCLUDED]
    if proposed:
        notes.append(f"proposed for exclusion: {_names(proposed)} (see the types preview)")
    return Table(frame[kept], numbers, columns, dropped, notes, sha, encoding, sep)


# ---------------------------------------------------------------- the user's choices → a Dataset
@dataclass(frozen=True)
class TableSpec:
    """What the user chose: the target, columns to leave out, type overrides, and whether a table too
    large to study may be subsampled. `types` maps a column to numeric | categorical | excluded."""
    target: str
    exclude: tuple[str, ...] = ()
    types: tuple[tuple[str, str], ...] = ()
    subsample: bool = False

    def __post_init__(self):
        if not isinstance(self.target, str) or not self.target:
            raise ExplorerError("choose the target column: the one the model should predict")
        types = self.types.items() if isinstance(self.types, dict) else self.types
        object.__setattr__(self, "exclude", tuple(sorted({str(c) for c in self.exclude})))
        object.__setattr__(self, "types", tuple(sorted((str(c), str(t)) for c, t in types)))
        for c, t in self.types:
            if t not in TYPES:
                raise ExplorerError(f"type of column {c!r} must be one of {', '.join(TYPES)}; got {t!r}")
        if self.target in self.exclude or self.target in dict(self.types):
            raise ExplorerError(f"the target {self.target!r} cannot also be excluded or given a feature type")

    def to_dict(self) -> dict:
        return {"target": self.target, "exclude": list(self.exclude), "types": dict(self.types),
                "subsample": self.subsample}

    @classmethod
    def from_dict(cls, d: dict) -> "TableSpec":
        return cls(d["target"], tuple(d.get("exclude", ())), tuple(dict(d.get("types", {})).items()),
                   bool(d.get("subsample", False)))


@dataclass
class PreparedTable:
    """A table ready to train on. Pass it as `csv=` to `pipeline.run` / `data.load("csv", ...)`: the
    Dataset is built once and shared (no stage writes into it). `fingerprint` goes into
    RunConfig.csv_sha256, so runs on other table options get other keys. `summary` may be saved."""
    dataset: "Dataset"
    spec: TableSpec
    fingerprint: str
    summary: dict = field(default_factory=dict)


def fingerprint(sha256: str, spec: TableSpec, rows: int | None = None) -> str:
    """The table's identity in a config key (RunConfig.csv_sha256): the raw bytes' hash folded with the
    target, the options and any subsample, so another choice never lands on the same record."""
    options = json.dumps({"spec": spec.to_dict(), "rows": rows}, sort_keys=True)
    return hashlib.sha256((sha256 + options).encode()).hexdigest()[:16]


def prepare(table: Table, spec: TableSpec, name: str = "csv", row_limit: int | None = None) -> PreparedTable:
    """Resolve the target and the feature types, subsample if allowed and needed, split 60/20/20
    (stratified, fixed seed) and encode on the training rows only."""
    import pandas as pd

    from .data import SPLIT_SEED, Dataset, _split  # data.py imports this module for Adult's encoder

    target = spec.target
    if target in table.dropped:
        why = table.dropped[target]
        raise ExplorerError(f"the target column {target!r} has 1 class (the same value in every row); a "
                            "classifier needs at least two" if why.startswith("the same") else
                            f"the target column {target!r} is empty in every row; choose another column")
    known = set(table.frame.columns) | set(table.dropped)
    if target not in known:
        raise ExplorerError(f"the target column {target!r} is not in the data; columns are: "
                            f"{_names(list(table.frame.columns))}")
    for c in list(spec.exclude) + [c for c, _ in spec.types]:
        if c not in known:
            raise ExplorerError(f"no column named {c!r}; columns are: {_names(list(table.frame.columns))}")
    notes = list(table.notes)
    labels = table.frame[target].astype(str).str.strip()
    if target in table.numbers:  # 1 and 1.0 are one class
        num = table.numbers[target]
        labels = pd.Series(np.where(np.isnan(num), labels, [f"{v:.15g}" for v in num]), index=labels.index)
    keep = ~labels.str.lower().isin(MISSING_TOKENS).to_numpy()
    if (~keep).any():
        notes.append(f"{int((~keep).sum())} row(s) without a target value left out")
    rows = np.flatnonzero(keep)
    if len(rows) < MIN_ROWS:
        raise ExplorerError(f"too few rows: {len(rows)} row(s) have a target value; the explorer needs at least "
                            f"{MIN_ROWS} (60 % to train, 20 % to test, 20 % as the attacks' population)")
    labels = labels.to_numpy()[rows]
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2:
        raise ExplorerError(f"the target column {target!r} has 1 class; a classifier needs at least two")
    looks_numeric = target in table.numbers and table.column(target).non_numeric == 0
    if len(classes) > MAX_CLASSES:
        raise ExplorerError(f"the target column {target!r} has too many classes ({len(classes)} distinct values; "
                            f"at most {MAX_CLASSES})" + (": it looks like a quantity to predict (regression), "
                            "which the explorer does not do; bin it into a few classes" if looks_numeric else
                            "; pick a categorical column or merge rare classes"))
    if counts.min() < MIN_CLASS_ROWS:
        rare = [f"{c!r} ({k} row(s))" for c, k in zip(classes, counts) if k < MIN_CLASS_ROWS]
        hint = (" — a numeric target with many values looks like a quantity to predict (regression), which "
                "the explorer does not do; bin it" if looks_numeric and len(classes) > 10 else "")
        raise ExplorerError(f"too few rows of a class in target {target!r}: {', '.join(rare[:5])}"
                            f"{' …' if len(rare) > 5 else ''}; each class needs at least {MIN_CLASS_ROWS} rows "
                            f"(to train, test and attack): merge rare classes or leave their rows out{hint}")
    subsampled = None
    if row_limit is not None and len(rows) > row_limit:
        if not spec.subsample:
            raise ExplorerError(f"the table is too large to study in reasonable time here: {len(rows):,} rows; "
                                f"allow a random subsample of {row_limit:,} rows (--subsample, or tick "
                                "'subsample' in the app) or upload fewer rows")
        y_codes = np.searchsorted(classes, labels)
        pick = _split(len(rows), (row_limit,), y_codes)[0]
        rows, labels = rows[pick], labels[pick]
        subsampled = {"from": int(keep.sum()), "to": int(row_limit), "method": "stratified by the target, "
                      f"fixed seed {SPLIT_SEED}", "agreed": True}
        notes.append(f"subsampled to {row_limit:,} of {subsampled['from']:,} rows (stratified by the target), "
                     "as agreed")
        if len(np.unique(labels)) < len(classes) or np.unique(labels, return_counts=True)[1].min() < MIN_CLASS_ROWS:
            raise ExplorerError(f"a subsample of {row_limit:,} rows would keep fewer than {MIN_CLASS_ROWS} rows of a "
                                f"rare class of {target!r}: merge rare classes or upload a smaller table that keeps them")

    types = {c.name: c.inferred for c in table.columns}
    for c in spec.exclude:
        types[c] = EXCLUDED
    overrides = dict(spec.types)
    for c, t in overrides.items():
        col = table.column(c) if c in types else None
        if col is None:
            raise ExplorerError(f"column {c!r} was dropped ({table.dropped[c]}); it cannot be used")
        if t == NUMERIC and c not in table.numbers:
            raise ExplorerError(f"column {c!r} cannot be numeric: {col.non_numeric} of its cells are not numbers")
        if t == CATEGORICAL and col.distinct > MAX_LEVELS:
            raise ExplorerError(f"column {c!r} has {col.distinct} distinct values; a categorical column may have at "
                                f"most {MAX_LEVELS}: leave it out")
        types[c] = t if c not in spec.exclude else EXCLUDED
    types.pop(target, None)
    for c in table.columns:
        if c.name == target or types[c.name] != NUMERIC or c.non_numeric == 0:
            continue
        if overrides.get(c.name) != NUMERIC:
            cells = table.frame[c.name].astype(str)
            bad = np.flatnonzero(np.isnan(table.numbers[c.name]) & ~cells.str.lower().isin(MISSING_TOKENS).to_numpy())
            raise ExplorerError(f"column {c.name!r} is numeric except for {c.non_numeric} value(s) such as "
                                f"{cells.iloc[bad[0]]!r} (data row {bad[0] + 1}); fix or blank them, or set its type: "
                                "numeric (they become missing) or categorical")
        notes.append(f"{c.non_numeric} non-number cell(s) of {c.name!r} treated as missing, as chosen")
    numeric = [c for c, t in types.items() if t == NUMERIC]
    categorical = [c for c, t in types.items() if t == CATEGORICAL]
    if not numeric and not categorical:
        raise ExplorerError("no usable feature columns: every column besides the target is excluded, empty, "
                            "constant or free text; include at least one")
    frame = pd.DataFrame({**{c: table.numbers[c][rows] for c in numeric},
                          **{c: table.frame[c].to_numpy()[rows].astype(str) for c in categorical}})
    frame = frame[[c for c in types if c in frame.columns]]  # the table's column order
    numeric = [c for c in frame.columns if c in numeric]
    categorical = [c for c in frame.columns if c in categorical]
    y_all = np.searchsorted(classes, labels).astype(np.int64)
    n = len(rows)
    n_test = n_pop = n // 5
    tr, te, po = _split(n, (n - n_test - n_pop, n_test, n_pop), y_all)
    enc = TabularEncoder(numeric, categorical).fit(frame.iloc[tr])
    if len(enc.feature_names) > MAX_FEATURES:
        wide = sorted(enc.levels, key=lambda c: -len(enc.levels[c]))[:5]
        raise ExplorerError(f"the table encodes to {len(enc.feature_names)} model inputs (one per numeric column and per "
                            f"category level); at most {MAX_FEATURES}: exclude columns with many levels, such as "
                            f"{_names(wide)}")
    ds = Dataset(name, enc.transform(frame.iloc[tr]), y_all[tr], enc.transform(frame.iloc[te]), y_all[te],
                 enc.transform(frame.iloc[po]), y_all[po], len(classes), "tabular",
                 feature_names=enc.feature_names, class_names=[str(c) for c in classes])
    roles = [{"name": c.name, "inferred": c.inferred,
              "type": "target" if c.name == target else types[c.name],
              "levels": len(enc.levels[c.name]) if c.name in enc.levels else None, "note": c.reason}
             for c in table.columns]
    roles += [{"name": c, "inferred": "dropped", "type": "dropped", "reason": why} for c, why in table.dropped.items()]
    summary = {"fingerprint": fingerprint(table.sha256, spec, subsampled and subsampled["to"]),
               "rows_read": table.n_rows, "rows_used": n, "subsampled": subsampled,
               "n_train": int(len(tr)), "n_test": int(len(te)), "n_population": int(len(po)),
               "target": target, "num_classes": int(len(classes)),
               "features": int(ds.x_train.shape[1]), "numeric": len(numeric), "categorical": len(categorical),
               "columns": roles, "encoding": table.encoding, "separator": SEPARATORS.get(table.separator),
               "spec": spec.to_dict(), "notes": notes,
               "preprocessing": "numeric columns standardised with the training rows' mean and standard deviation "
                                "(a missing number becomes the mean); categorical columns one-hot encoded with the "
                                "levels seen in the training rows (counts only are saved, never a level)"}
    return PreparedTable(ds, spec, summary["fingerprint"], summary)


def tabular_from_frame(name: str, df, target: str, max_levels: int = MAX_LEVELS) -> "Dataset":
    """A DataFrame (e.g. breast-cancer) → Dataset with the inferred types and default options."""
    if max_levels != MAX_LEVELS:
        raise ExplorerError(f"max_levels is fixed at {MAX_LEVELS}")
    return prepare(table_from_frame(df), TableSpec(str(target)), name=name).dataset


def load_csv(csv=None, target: str | None = None, **_) -> "Dataset":
    """The user's own table — a path, a file-like object, bytes, a DataFrame, or a PreparedTable (the
    study's: its options already applied) — and a target column. Nothing is written anywhere."""
    if isinstance(csv, PreparedTable):
        if target is not None and str(target) != csv.spec.target:
            raise ExplorerError(f"the prepared table's target is {csv.spec.target!r}, not {target!r}")
        return csv.dataset
    if csv is None or not target:
        raise ExplorerError("the csv dataset needs a file and a target column (--csv FILE --target COLUMN)")
    return prepare(read_table(csv), TableSpec(str(target))).dataset
