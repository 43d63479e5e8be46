"""Public pre-training: train the run's model without privacy on data the user declares public, then
fine-tune it with DP-SGD from those weights (`train(..., init_state=...)`).

Pre-training never touches the private data, so it costs no ε: the guarantee covers the private
training set only, and the public data is — by the user's assertion — public already. Sources
(RunConfig.pretrain):

- "digits": scikit-learn's load_digits (1,797 handwritten 8×8 digits, shipped inside scikit-learn, so
  offline), each scaled from 0–16 to 0–1, resized bilinearly to 20×20 and centred in a 28×28 frame —
  MNIST's own layout (its digits fit a 20×20 box) — then normalised with MNIST's mean and std, as
  data.py normalises MNIST. For the image datasets (mnist, mnist-5k).
- "public-csv:<fingerprint>": a table the user declares public with the private table's columns
  (`--public-csv FILE`). It is encoded by its own statistics (fitting them on public rows costs no
  privacy), and its inputs are matched to the private model's by name: a numeric column by its name,
  a category level by "column=level"; a level the private table lacks is dropped, one the public table
  lacks stays 0. Labels are matched by class name; rows of another class are left out.

The pre-training recipe (PRETRAIN) is fixed, not tuned per run; its weights depend only on the
public data, the model and the seed, so they are computed once per process.
"""
from __future__ import annotations

import functools
import hashlib

import numpy as np

from .config import RunConfig
from .errors import ExplorerError

# non-private SGD with momentum, as the image baseline (config.DATASET_DEFAULTS["mnist-5k"]["baseline"]);
# 20 epochs of 1,797 digits reach ~98 % on held-out digits (tests/test_pretrain.py measures the transfer)
PRETRAIN = dict(epochs=20, batch_size=64, learning_rate=0.05, momentum=0.9)
DIGITS_ROWS = 1797
DIGITS_NOTE = ("scikit-learn's load_digits: 1,797 handwritten 8×8 digits (UCI optical recognition of handwritten "
               "digits test set, 43 writers), resized to 28×28 and normalised like MNIST")


def digits() -> tuple[np.ndarray, np.ndarray]:
    """(x, y): scikit-learn's digits as float32 (n, 1, 28, 28) images normalised like MNIST (a copy)."""
    x, y = _digits()
    return x.copy(), y.copy()


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    import torch
    from sklearn.datasets import load_digits

    from .data import MNIST_MEAN, MNIST_STD

    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32) / 16.0)[:, None]  # 0–16 → 0–1, like MNIST's /255
    x = torch.nn.functional.interpolate(x, size=(20, 20), mode="bilinear", align_corners=False).clamp(0, 1)
    x = torch.nn.functional.pad(x, (4, 4, 4, 4))  # MNIST centres its 20×20 digits in 28×28
    x = ((x - MNIST_MEAN) / MNIST_STD).numpy().astype(np.float32)
    x.setflags(write=False)
    return x, d.target.astype(np.int64)


def fingerprint(raw: bytes) -> str:
    """The public table's identity in the config (RunConfig.pretrain = "public-csv:<this>")."""
    return hashlib.sha256(raw).hexdigest()[:16]


def public_table(source, ds, target: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """(x, y, info): a public CSV (path, bytes or file-like) as rows in `ds`'s input space and classes."""
    from . import tables

    try:
        raw = tables.read_bytes(source)
        public = tables.prepare(tables.read_table(raw), tables.TableSpec(target), name="public").dataset
    except ExplorerError as e:
        raise ExplorerError(f"the public CSV: {e}") from None
    x_pub = np.concatenate([public.x_train, public.x_test, public.x_pop])
    y_pub = np.concatenate([public.y_train, public.y_test, public.y_pop])
    where = {name: i for i, name in enumerate(public.feature_names)}
    shared = [name for name in ds.feature_names if name in where]
    if not shared:
        raise ExplorerError(f"the public CSV shares no column with the private table ({ds.name}): pre-training needs "
                            "the same columns (and, for categories, the same levels)")
    x = np.zeros((len(y_pub), len(ds.feature_names)), np.float32)
    for j, name in enumerate(ds.feature_names):
        if name in where:
            x[:, j] = x_pub[:, where[name]]
    private_class = {str(c): i for i, c in enumerate(ds.class_names)}
    mapped = np.array([private_class.get(str(public.class_names[k]), -1) for k in y_pub], np.int64)
    keep = mapped >= 0
    if keep.sum() < 2:
        raise ExplorerError(f"the public CSV's target {target!r} has none of the private classes "
                            f"({', '.join(map(str, ds.class_names))}): pre-training needs the same classes")
    info = {"source": f"public-csv:{fingerprint(raw)}", "rows": int(keep.sum()),
            "features_matched": len(shared), "features": len(ds.feature_names),
            "rows_of_other_classes": int((~keep).sum())}
    return x[keep], mapped[keep], info


def _recipe(config: RunConfig, n: int) -> RunConfig:
    return RunConfig(dataset=config.dataset, mode="non_private", model=config.model, seed=config.seed,
                     attacks=False, csv_sha256=config.csv_sha256, epochs=PRETRAIN["epochs"],
                     batch_size=min(PRETRAIN["batch_size"], max(1, n // 2)),
                     learning_rate=PRETRAIN["learning_rate"], momentum=PRETRAIN["momentum"])


@functools.lru_cache(maxsize=8)
def _digits_state(model: str, dataset: str, seed: int) -> tuple[dict, float]:
    from .train import train

    x, y = digits()
    config = _recipe(RunConfig(dataset=dataset, model=model, seed=seed), len(y))
    result = train(config, x, y, 10, device="cpu")
    return {k: v.clone() for k, v in result.model.state_dict().items()}, result.train_accuracy


def initial_state(config: RunConfig, ds, public=None) -> tuple[dict, dict]:
    """(state_dict, info): the run's model pre-trained on `config.pretrain` (no privacy spent).
    `public`: (x, y, info) of a public table (public_table), for a "public-csv:…" source."""
    kind = config.pretrain.partition(":")[0]
    if kind == "digits":
        if ds.input_shape != (1, 28, 28) or ds.num_classes != 10:
            raise ExplorerError(f"digits pre-training needs 28×28 images of 10 classes; {ds.name} has inputs "
                                f"{ds.input_shape} and {ds.num_classes} classes")
        state, fit = _digits_state(config.model, config.dataset, config.seed)
        info = {"source": "digits", "rows": DIGITS_ROWS, "description": DIGITS_NOTE}
    else:
        if public is None:
            raise ExplorerError(f"this run pre-trains on a public CSV ({config.pretrain}): pass the file with "
                                "--public-csv FILE")
        x, y, info = public
        if info["source"] != config.pretrain:
            raise ExplorerError(f"the public CSV given is {info['source']}, but the run asks for {config.pretrain}: "
                                "pass the same file")
        from .train import train

        result = train(_recipe(config, len(y)), x, y, ds.num_classes, device="cpu")
        state, fit = {k: v.clone() for k, v in result.model.state_dict().items()}, result.train_accuracy
    return {k: v.clone() for k, v in state.items()}, {
        **info, "recipe": {**PRETRAIN, "non_private": True}, "public_train_accuracy": round(float(fit), 4),
        "note": f"pre-trained on public data {info['source']}: not covered by ε because it is public; the user "
                "asserts it is public"}


# the target column a public twin of a shipped table must have (a user's table names its own)
TABLE_TARGETS = {"adult": "income", "breast-cancer": "diagnosis"}
