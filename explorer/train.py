"""DP-SGD with Poisson sampling and the non-private baseline: one loop, two step functions.

The private step draws each record with probability q (exactly the sampling the accountants assume),
sums per-sample gradients clipped to C (explorer/clipping.py: the quantity Opacus' DPOptimizer forms,
computed in one backward pass; tests compare the two on real batches), adds N(0, σ²C²) noise and
divides by the expected batch size. ε always comes from the library accountants (accounting.py).
The non-private step is plain SGD on shuffled batches.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from . import accounting
from .clipping import PerSampleClipper
from .config import RunConfig, plan  # noqa: F401  (plan and the two below are this module's API too)
from .errors import RunCancelled, is_cancelled  # noqa: F401
from .models import build

# examples per forward/backward pass; a larger Poisson batch is processed in chunks (the clipped sums add up)
MAX_PHYSICAL_BATCH = 1024
Progress = Callable[[dict], None]


@dataclass
class TrainResult:
    model: nn.Module  # a fresh module holding the trained weights
    history: list[dict]
    noise_multiplier: float | None
    sample_rate: float | None
    steps: int
    train_accuracy: float
    test_accuracy: float | None
    seconds: float


@torch.no_grad()
def predict_logits(model: nn.Module, x: np.ndarray, chunk: int = 2048) -> np.ndarray:
    model.eval()
    out = [model(torch.from_numpy(x[i:i + chunk])).numpy() for i in range(0, len(x), chunk)]
    model.train()
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    return float((predict_logits(model, x).argmax(1) == y).mean())


class SGD:
    """torch.optim.SGD's update (momentum, no dampening, no Nesterov) over one flat parameter buffer and
    one flat gradient buffer: the parameters and their .grad become views into them, so zeroing, noising
    and the update are one call each (per-call overhead dominates the small models' steps). Without
    torch.optim, whose first construction in a process imports torch._dynamo (1.7 s of a live run)."""

    def __init__(self, params, lr: float, momentum: float = 0.0):
        params = [p for p in params if p.requires_grad]
        self.lr, self.momentum, self.buffer = lr, momentum, None
        self.flat = torch.cat([p.detach().reshape(-1) for p in params]) if params else torch.zeros(0)
        self.grad = torch.zeros_like(self.flat)
        offset = 0
        for p in params:
            p.data = self.flat[offset:offset + p.numel()].view_as(p)
            p.grad = self.grad[offset:offset + p.numel()].view_as(p)  # backward adds into it in place
            offset += p.numel()

    @torch.no_grad()
    def step(self):
        g = self.grad
        if self.momentum:
            if self.buffer is None:
                self.buffer = g.clone()
            else:
                self.buffer.mul_(self.momentum).add_(g)
            g = self.buffer
        self.flat.add_(g, alpha=-self.lr)

    def zero_grad(self):
        self.grad.zero_()


def poisson_batches(n: int, sample_rate: float, steps: int, generator: torch.Generator):
    """Each step draws every record independently with probability q (the sampling the accountants
    assume); a step may draw none."""
    for _ in range(steps):
        yield (torch.rand(n, generator=generator) < sample_rate).nonzero().squeeze(1)


def train(config: RunConfig, x_train: np.ndarray, y_train: np.ndarray, num_classes: int,
          x_test: np.ndarray | None = None, y_test: np.ndarray | None = None,
          progress: Progress | None = None, cancel=None, verify_sigma: bool = True) -> TrainResult:
    """Train one model by `config`'s recipe on (x_train, y_train); evaluate on the test set per epoch."""
    start = time.perf_counter()
    n = len(y_train)
    sample_rate, total_steps = plan(config, n)
    steps_per_epoch = total_steps // config.epochs
    model = build(config.model, x_train.shape[1:], num_classes, config.seed)
    x, y = torch.from_numpy(np.ascontiguousarray(x_train)), torch.from_numpy(y_train)
    optimizer = SGD(model.parameters(), lr=config.learning_rate, momentum=config.momentum)
    sampler = torch.Generator().manual_seed(config.seed)
    sigma = None
    if config.private:
        if config.mode == "epsilon":
            # the library check costs ~0.4 s; reference models (an attacker's, no privacy claim) skip it
            sigma = accounting.noise_for_epsilon(config.target_epsilon, config.delta, sample_rate,
                                                 total_steps, config.accountant, verify=verify_sigma)
        else:
            sigma = config.noise_multiplier
        step_fn = _dp_step(model, optimizer, sigma, config.clip_norm, n * sample_rate,
                           torch.Generator().manual_seed(config.seed + 1), x)
    else:
        step_fn = _plain_step(model, optimizer)

    history, step = [], 0
    for epoch in range(1, config.epochs + 1):
        if config.private:
            batches = poisson_batches(n, sample_rate, steps_per_epoch, sampler)
        else:
            batches = torch.randperm(n, generator=sampler).split(config.batch_size)
        losses = []
        for idx in batches:
            if is_cancelled(cancel):
                raise RunCancelled()
            loss = step_fn(x[idx], y[idx], idx)
            if loss is not None:
                losses.append(loss)
            step += 1
            if progress is not None:
                progress({"stage": "train", "epoch": epoch, "epochs": config.epochs, "step": step,
                          "steps": total_steps, "loss": losses[-1] if losses else None})
        entry = {"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else None,
                 "test_accuracy": accuracy(model, x_test, y_test) if x_test is not None else None,
                 "epsilon": (accounting.FAST_ACCOUNTANTS[config.accountant](
                     sigma, sample_rate, epoch * steps_per_epoch, config.delta) if sigma else None)}
        history.append(entry)
        if progress is not None:
            progress({"stage": "epoch", **entry, "epochs": config.epochs})
    assert step == total_steps, "training took other steps than planned; the accounting would be wrong"
    # a fresh copy for later use (attacks, inversion): the trained parameters and their .grad are views
    # into the optimizer's flat buffers
    clean = build(config.model, x_train.shape[1:], num_classes, config.seed)
    clean.load_state_dict(model.state_dict())
    return TrainResult(model=clean, history=history, noise_multiplier=sigma,
                       sample_rate=sample_rate if sigma else None, steps=total_steps,
                       train_accuracy=accuracy(clean, x_train, y_train),
                       test_accuracy=history[-1]["test_accuracy"], seconds=time.perf_counter() - start)


def _plain_step(model: nn.Module, optimizer: SGD):
    """One non-private SGD step on a batch (mean loss); returns the loss. `idx` (the batch's row numbers)
    is the DP step's business."""
    def step(xb, yb, idx=None):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def _dp_step(model: nn.Module, optimizer: SGD, sigma: float, clip: float, expected_batch: float,
             noise: torch.Generator, x_train: torch.Tensor):
    """One DP-SGD step on a Poisson batch: (clipped per-sample sum + N(0, σ²C²) per coordinate) over the
    expected batch size, as Opacus' DPOptimizer forms it. Large batches go in physical chunks.
    The step takes the batch and its row numbers in x_train, to gather the first layer's precomputed
    input norms (PerSampleClipper.input_norms) where the model allows them."""
    clipper = PerSampleClipper(model)
    std = sigma * clip / expected_batch
    row_sq = clipper.input_norms(x_train)

    def step(xb, yb, idx):
        # the noise is drawn into the gradient buffer first and the clipped sums are added onto it
        optimizer.grad.normal_(0.0, std, generator=noise)
        sqb = row_sq[idx] if row_sq is not None else None
        if len(yb) <= MAX_PHYSICAL_BATCH:  # one chunk unsplit: slicing calls are measurable on small models
            total = clipper.clipped_sum(xb, yb, clip, 1.0 / expected_batch, input_sq=sqb).item()
        else:
            sq_chunks = sqb.split(MAX_PHYSICAL_BATCH) if sqb is not None else [None] * len(yb)
            total = sum(clipper.clipped_sum(xc, yc, clip, 1.0 / expected_batch, input_sq=sc).item()
                        for xc, yc, sc in zip(xb.split(MAX_PHYSICAL_BATCH), yb.split(MAX_PHYSICAL_BATCH),
                                              sq_chunks))
        optimizer.step()
        return total / len(yb) if len(yb) else None

    return step
