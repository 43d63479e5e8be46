"""DP-SGD with Opacus (Poisson sampling) and the non-private baseline: one loop, two set-ups.

Privacy mode uses Opacus' PrivacyEngine with `poisson_sampling=True`, so the batches really are the
Poisson-subsampled ones the accountants assume; logical batches larger than memory go through
BatchMemoryManager. The non-private mode runs the same loop on shuffled batches without the engine.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from . import accounting
from .config import RunConfig
from .errors import ExplorerError
from .models import build

# Opacus' hooks on a first layer whose input needs no gradient make torch say so on every step; benign.
warnings.filterwarnings("ignore", message="Full backward hook is firing")
MAX_PHYSICAL_BATCH = 256
Progress = Callable[[dict], None]


class RunCancelled(Exception):
    """Raised inside training when the cancel flag is set; nothing is recorded."""


@dataclass
class TrainResult:
    model: nn.Module  # the plain module (Opacus wrappers removed)
    history: list[dict]
    noise_multiplier: float | None
    sample_rate: float | None
    steps: int
    train_accuracy: float
    test_accuracy: float | None
    seconds: float


def is_cancelled(cancel) -> bool:
    if cancel is None:
        return False
    return bool(cancel.is_set() if hasattr(cancel, "is_set") else cancel())


@torch.no_grad()
def predict_logits(model: nn.Module, x: np.ndarray, chunk: int = 2048) -> np.ndarray:
    model.eval()
    out = [model(torch.from_numpy(x[i:i + chunk])).numpy() for i in range(0, len(x), chunk)]
    model.train()
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    return float((predict_logits(model, x).argmax(1) == y).mean())


def plan(config: RunConfig, n: int) -> tuple[float, int]:
    """(sample rate, steps) Opacus will use: q = 1/len(loader), len(loader) steps per epoch."""
    if config.batch_size >= n:
        raise ExplorerError(f"batch_size {config.batch_size} must be smaller than the training set "
                            f"({n} records); Poisson sampling needs a sample rate below 1")
    per_epoch = -(-n // config.batch_size)
    return 1.0 / per_epoch, per_epoch * config.epochs


def train(config: RunConfig, x_train: np.ndarray, y_train: np.ndarray, num_classes: int,
          x_test: np.ndarray | None = None, y_test: np.ndarray | None = None,
          progress: Progress | None = None, cancel=None) -> TrainResult:
    """Train one model by `config`'s recipe on (x_train, y_train); evaluate on the test set per epoch."""
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    n = len(y_train)
    sample_rate, total_steps = plan(config, n)
    steps_per_epoch = total_steps // config.epochs
    model = build(config.model, x_train.shape[1:], num_classes, config.seed)
    data = TensorDataset(torch.from_numpy(np.ascontiguousarray(x_train)), torch.from_numpy(y_train))
    loader = DataLoader(data, batch_size=config.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(config.seed))
    optimizer = torch.optim.SGD(model.parameters(), lr=config.learning_rate, momentum=config.momentum)
    criterion = nn.CrossEntropyLoss()
    sigma = None
    engine = None
    if config.private:
        from opacus import PrivacyEngine

        if config.mode == "epsilon":
            sigma = accounting.noise_for_epsilon(config.target_epsilon, config.delta, sample_rate,
                                                 total_steps, config.accountant, verify=True)
        else:
            sigma = config.noise_multiplier
        engine = PrivacyEngine(accountant="rdp")  # only its step history is used; ε comes from accounting
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Opacus warns about secure RNG; the seeded one is deliberate
            model, optimizer, loader = engine.make_private(
                module=model, optimizer=optimizer, data_loader=loader, noise_multiplier=sigma,
                max_grad_norm=config.clip_norm, poisson_sampling=True,
                noise_generator=torch.Generator().manual_seed(config.seed + 1))

    plain = model._module if hasattr(model, "_module") else model
    history, step = [], 0
    for epoch in range(1, config.epochs + 1):
        losses = []
        batches = _batches(loader, optimizer, engine is not None)
        with batches as it:
            for xb, yb in it:
                if is_cancelled(cancel):
                    raise RunCancelled()
                optimizer.zero_grad(set_to_none=True)
                loss = criterion(model(xb), yb) if len(yb) else model(xb).sum() * 0.0
                loss.backward()
                optimizer.step()
                if len(yb):
                    losses.append(loss.item())
                logical = engine is None or not optimizer._is_last_step_skipped
                if logical:
                    step += 1
                    if progress is not None:
                        progress({"stage": "train", "epoch": epoch, "epochs": config.epochs, "step": step,
                                  "steps": total_steps, "loss": losses[-1] if losses else None})
        entry = {"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else None,
                 "test_accuracy": accuracy(plain, x_test, y_test) if x_test is not None else None,
                 "epsilon": (accounting.FAST_ACCOUNTANTS[config.accountant](
                     sigma, sample_rate, epoch * steps_per_epoch, config.delta) if sigma else None)}
        history.append(entry)
        if progress is not None:
            progress({"stage": "epoch", **entry, "epochs": config.epochs})
    if engine is not None:
        (hist_sigma, hist_q, hist_steps), = engine.accountant.history
        assert hist_sigma == sigma and abs(hist_q - sample_rate) < 1e-12 and hist_steps == total_steps, \
            "Opacus took other steps than planned; the accounting would be wrong"
    # a clean copy: Opacus' per-sample hooks stay attached to `plain` and would break any later
    # backward pass through it (model inversion)
    clean = build(config.model, x_train.shape[1:], num_classes, config.seed)
    clean.load_state_dict(plain.state_dict())
    return TrainResult(model=clean, history=history, noise_multiplier=sigma,
                       sample_rate=sample_rate if sigma else None, steps=total_steps,
                       train_accuracy=accuracy(clean, x_train, y_train),
                       test_accuracy=history[-1]["test_accuracy"], seconds=time.perf_counter() - start)


class _batches:
    """BatchMemoryManager for DP runs (logical batch split into physical ones), the loader otherwise."""

    def __init__(self, loader, optimizer, private: bool):
        self.loader, self.optimizer, self.private = loader, optimizer, private
        self.manager = None

    def __enter__(self):
        if not self.private:
            return iter(self.loader)
        from opacus.utils.batch_memory_manager import BatchMemoryManager

        self.manager = BatchMemoryManager(data_loader=self.loader, max_physical_batch_size=MAX_PHYSICAL_BATCH,
                                          optimizer=self.optimizer)
        return iter(self.manager.__enter__())

    def __exit__(self, *exc):
        if self.manager is not None:
            return self.manager.__exit__(*exc)
        return False
