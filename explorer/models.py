"""Models the explorer trains; each passes Opacus' ModuleValidator (no BatchNorm, per-sample grads)."""
from __future__ import annotations

import threading
from typing import Callable

import torch
from torch import nn
from torch.nn import functional as F


def logreg(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(_numel(input_shape), num_classes))


def mlp(input_shape: tuple[int, ...], num_classes: int, hidden: int = 64) -> nn.Module:
    # tanh rather than ReLU: bounded activations keep clipped DP-SGD stable (Papernot et al. 2021)
    return nn.Sequential(nn.Flatten(), nn.Linear(_numel(input_shape), hidden), nn.Tanh(),
                         nn.Linear(hidden, num_classes))


class MaxPool2x2Stride1(nn.Module):
    """nn.MaxPool2d(2, 1) computed in channels-last layout: the same function and gradients, but torch's
    CPU kernel for this small stride-1 pool is ~2× faster forward and backward in that layout."""

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(a.contiguous(memory_format=torch.channels_last), 2, 1).contiguous()


def cnn(input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
    """The 2-conv MNIST network of Papernot et al. / the Opacus example, with tanh activations."""
    if tuple(input_shape) != (1, 28, 28):
        raise ValueError(f"the CNN expects 1×28×28 images, got {input_shape}")
    return nn.Sequential(
        nn.Conv2d(1, 16, 8, stride=2, padding=3), nn.Tanh(), MaxPool2x2Stride1(),
        nn.Conv2d(16, 32, 4, stride=2), nn.Tanh(), MaxPool2x2Stride1(),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 32), nn.Tanh(), nn.Linear(32, num_classes))


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


# "scatternet": a linear head on fixed ScatterNet features (explorer/features.py maps the data first)
MODELS: dict[str, Callable[..., nn.Module]] = {"logreg": logreg, "mlp": mlp, "cnn": cnn, "scatternet": logreg}


_INIT_LOCK = threading.Lock()  # initialisation draws from torch's global generator; runs may overlap in threads


def build(name: str, input_shape, num_classes: int, seed: int) -> nn.Module:
    with _INIT_LOCK:
        torch.manual_seed(seed)
        return MODELS[name](tuple(input_shape), num_classes)
