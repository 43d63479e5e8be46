"""Model inversion, MI-Face (Fredrikson et al. 2015): gradient ascent on the input towards a class.

One reconstruction per class, with a small smoothness (total-variation) prior for images and an L2
prior for tables. What it shows is a class prototype: what the model has learned a typical member of a
class looks like. That is population knowledge, which DP does not and should not hide, so no
record-level figure is drawn from it (ten prototypes cannot measure record-level leakage; the
reconstruction study in reconstruction.py does, beside its DP bound).
"""
from __future__ import annotations

import base64

import numpy as np

MAX_STEPS, PATIENCE, TOL = 300, 20, 1e-4


def invert(model, num_classes: int, shape: tuple, lo: float, hi: float, image: bool,
           lr: float = 0.1, tv: float = 0.05, l2: float = 0.01) -> tuple[np.ndarray, int]:
    """All classes at once (one batch); stop when the objective stops improving (TOL over PATIENCE
    steps) or after MAX_STEPS. Returns (reconstructions, steps taken)."""
    import torch  # here, so that the UI can decode stored images without loading torch

    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.zeros((num_classes, *shape), requires_grad=True)
    opt = torch.optim.Adam([x], lr=lr)
    target = torch.arange(num_classes)
    best, stale, step = np.inf, 0, 0
    for step in range(1, MAX_STEPS + 1):
        opt.zero_grad()
        nll = torch.nn.functional.cross_entropy(model(x), target, reduction="sum")
        prior = l2 * (x ** 2).sum()
        if image:
            prior = prior + tv * ((x[..., 1:, :] - x[..., :-1, :]).abs().sum()
                                  + (x[..., :, 1:] - x[..., :, :-1]).abs().sum())
        objective = nll + prior
        objective.backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(lo, hi)
        value = objective.item()
        if value < best - TOL * max(1.0, abs(best)):
            best, stale = value, 0
        else:
            stale += 1
            if stale >= PATIENCE:
                break
    for p in model.parameters():
        p.requires_grad_(True)
    model.train()
    return x.detach().numpy(), step


def run(model, num_classes: int, kind: str, x_ref: np.ndarray, pixel_mean: float = 0.0,
        pixel_std: float = 1.0) -> dict:
    """Class prototypes of `model`; `x_ref` (population rows) gives the input shape and, for vectors,
    the range the search stays in."""
    from .statements import inversion_statement

    shape = tuple(x_ref.shape[1:])
    if kind == "image":
        lo, hi = (0 - pixel_mean) / pixel_std, (1 - pixel_mean) / pixel_std
    else:  # standardised features: stay within the range the population has
        lo, hi = float(np.min(x_ref)), float(np.max(x_ref))
    recon, steps = invert(model, num_classes, shape, lo, hi, image=(kind == "image"))
    block = {"method": "mi-face", "classes": num_classes, "steps": steps, "shows": "class prototypes",
             "population_knowledge": True}
    if kind == "image":
        block["images"] = {"shape": list(shape[-2:]), "encoding": "base64 uint8, row-major",
                           "data": encode_images(recon.reshape(num_classes, -1) * pixel_std + pixel_mean)}
    elif recon[0].size <= 256:  # table rows; thousands of ScatterNet features would bloat the record
        block["vectors"] = [[round(float(v), 4) for v in row] for row in recon.reshape(num_classes, -1)]
    block["statement"] = inversion_statement(block)
    return block


def encode_images(intensities) -> list[str]:
    """Images with intensities in [0, 1] (clipped) as base64 uint8 strings, row-major."""
    px = np.clip(np.asarray(intensities, dtype=np.float64).reshape(len(intensities), -1) * 255, 0, 255)
    return [base64.b64encode(np.rint(p).astype(np.uint8).tobytes()).decode() for p in px]


def decode(encoded: str, shape) -> np.ndarray:
    """uint8 (h, w) array from one encode_images string."""
    return np.frombuffer(base64.b64decode(encoded), dtype=np.uint8).reshape(*shape)


def decode_image(block: dict, index: int) -> np.ndarray:
    """uint8 (h, w) array of reconstruction `index` from a record's inversion block."""
    return decode(block["images"]["data"][index], block["images"]["shape"])
