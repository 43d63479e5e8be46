"""Datasets: real files, hash checks, and every bad input explained by ExplorerError."""
import gzip
import shutil

import numpy as np
import pandas as pd
import pytest

from explorer import data
from explorer.errors import ExplorerError


def test_mnist_5k_splits_are_disjoint_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path))
    ds = data.load_mnist_5k()
    assert (tmp_path / "mnist5k.npz").exists()
    assert (ds.n_train, len(ds.y_test), len(ds.y_pop)) == (3000, 1000, 1000)
    assert ds.x_train.shape[1:] == (1, 28, 28) and ds.x_train.dtype == np.float32
    assert np.bincount(ds.y_train).min() == 300  # stratified
    rows = {r.tobytes() for r in ds.x_train[:500]}
    assert not rows & {r.tobytes() for r in ds.x_pop} and not rows & {r.tobytes() for r in ds.x_test}
    again = data.load_mnist_5k()  # from the .npz cache now
    np.testing.assert_array_equal(again.x_train, ds.x_train)
    (tmp_path / "mnist5k.npz").write_bytes(b"not an npz")  # a corrupt cache is rebuilt, not trusted
    np.testing.assert_array_equal(data.load_mnist_5k().y_train, ds.y_train)


def test_full_mnist_and_adult_load_with_hash_checks(data_dir):
    mnist = data.load_mnist(data_dir=data_dir)
    assert (mnist.n_train, len(mnist.y_test), len(mnist.y_pop)) == (55000, 10000, 5000)
    adult = data.load_adult(data_dir=data_dir)
    assert len(adult.y_test) == 16281 and adult.n_train + len(adult.y_pop) == 32561
    assert set(np.unique(adult.y_test)) == {0, 1}  # '>50K.' in adult.test is parsed as '>50K'
    assert 0.2 < adult.y_test.mean() < 0.3
    # standardised on train only: train columns have mean ≈ 0, test columns only roughly
    assert np.abs(adult.x_train[:, :6].mean(0)).max() < 1e-4
    assert any(n.startswith("workclass=?") for n in adult.feature_names)  # '?' kept as a category


def test_corrupted_files_fail_with_the_projects_error(data_dir, tmp_path):
    (tmp_path / "adult").mkdir()
    for name in ("adult.data", "adult.test"):
        shutil.copy(data_dir / "adult" / name, tmp_path / "adult" / name)
    raw = bytearray((tmp_path / "adult" / "adult.data").read_bytes())
    raw[100] ^= 1
    (tmp_path / "adult" / "adult.data").write_bytes(bytes(raw))
    with pytest.raises(ExplorerError, match="hash check"):
        data.load_adult(data_dir=tmp_path)

    (tmp_path / "mnist").mkdir()
    for name in data.MNIST_FILES:
        shutil.copy(data_dir / "mnist" / f"{name}.gz", tmp_path / "mnist" / f"{name}.gz")
    labels = bytearray(gzip.decompress((tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    labels[-1] = (labels[-1] + 1) % 10
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(labels)))
    with pytest.raises(ExplorerError, match="hash check"):
        data.load_mnist(data_dir=tmp_path)


def test_missing_files_offline_are_explained(tmp_path):
    with pytest.raises(ExplorerError, match="data directory"):
        data.load_mnist(data_dir=tmp_path)


def test_breast_cancer_and_unknown_name():
    ds = data.load("breast-cancer")
    assert ds.num_classes == 2 and ds.n_train + len(ds.y_test) + len(ds.y_pop) == 569
    with pytest.raises(ExplorerError, match="unknown dataset"):
        data.load("cifar")


def _frame(n=200, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame({"age": rng.integers(18, 90, n), "colour": rng.choice(["red", "blue"], n),
                         "x": x, "label": np.where(x > 0, "yes", "no")})


def test_csv_good_table_from_bytes_and_frame():
    df = _frame()
    ds = data.load_csv(df.to_csv(index=False).encode(), target="label")
    assert ds.num_classes == 2 and ds.x_train.shape[1] == 4  # age, x, colour=blue, colour=red
    assert data.load_csv(df, target="label").n_train == ds.n_train


@pytest.mark.parametrize("content,target,message", [
    (b"", "label", "empty|could not read"),
    (b"a,b\n1,2\n", "label", "not in the data|too few rows"),
    (None, "missing", "not in the data"),
    (None, "one_class", "1 class"),
    (None, "junk", "numeric except"),
    (b"\x00\x01\x02\xff\xfe" * 50, "label", "could not read|empty|single column|binary data"),
])
def test_csv_bad_tables_are_explained(content, target, message):
    if content is None:
        df = _frame()
        df["one_class"] = "same"
        df["junk_src"] = df["x"].astype(str)
        df.loc[3, "junk_src"] = "n/a?"
        if target == "junk":
            df = df.rename(columns={"junk_src": "junk_feature"})
            target = "label"
        else:
            df = df.drop(columns=["junk_src"])
        content = df.to_csv(index=False).encode()
    with pytest.raises(ExplorerError, match=message):
        data.load_csv(content, target=target)


def test_availability_looks_at_files_only(data_dir, tmp_path, monkeypatch):
    assert data.availability("mnist-5k") is None and data.availability("breast-cancer") is None
    assert data.availability("adult", data_dir) is None and data.availability("mnist", data_dir) is None
    told = data.availability("adult", tmp_path)  # a data directory without the files
    assert "EXPLORER_DATA_DIR" in told and str(tmp_path) in told and told.count(".") <= 3
    monkeypatch.delenv("EXPLORER_DATA_DIR", raising=False)
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path))
    assert "network" in data.availability("mnist") and "EXPLORER_DATA_DIR" in data.availability("mnist")


def test_an_offline_download_gives_up_within_five_seconds(tmp_path, monkeypatch):
    """No data directory, an empty cache and mirrors that cannot be reached (this machine has no network;
    a blackhole address stands in for the mirrors wherever it does)."""
    import time

    monkeypatch.delenv("EXPLORER_DATA_DIR", raising=False)
    monkeypatch.setenv("EXPLORER_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(data, "ADULT_MIRRORS", ["https://192.0.2.1/adult/"])  # TEST-NET-1: never answers
    monkeypatch.setitem(data.FILES_NEEDED, "adult", (*data.FILES_NEEDED["adult"][:2], data.ADULT_MIRRORS))
    started = time.monotonic()
    with pytest.raises(ExplorerError, match="EXPLORER_DATA_DIR") as info:
        data.load_adult()
    assert time.monotonic() - started < data.PROBE_S + 1.0
    assert "Traceback" not in str(info.value) and "\n" not in str(info.value)
