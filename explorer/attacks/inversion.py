"""Model inversion, MI-Face (Fredrikson et al. 2015): gradient ascent on the input towards a class.

One reconstruction per class, with a small smoothness (total-variation) prior for images and an L2
prior for tables. Leakage metric: the share of reconstructions that lie closer to a training member
of their class than to any non-member of that class, with equally many of each, so 0.5 is the base
rate. Class prototypes are population knowledge, which DP does not and should not hide; record-level
leakage is what DP bounds.
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


def _normalise(v: np.ndarray) -> np.ndarray:
    v = v.reshape(len(v), -1).astype(np.float64)
    v = v - v.mean(axis=1, keepdims=True)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def member_closer_rate(recon: np.ndarray, x_mem, y_mem, x_non, y_non, seed: int) -> tuple[float, list]:
    """Per class: is the nearest (L2 after normalisation) of k members and k non-members a member?"""
    rng = np.random.default_rng([seed, 13])
    verdicts = []
    for c, r in enumerate(_normalise(recon)):
        mem, non = np.flatnonzero(y_mem == c), np.flatnonzero(y_non == c)
        k = min(len(mem), len(non))
        if k == 0:
            continue
        mem, non = rng.choice(mem, k, replace=False), rng.choice(non, k, replace=False)
        d_mem = np.linalg.norm(_normalise(x_mem[mem]) - r, axis=1).min()
        d_non = np.linalg.norm(_normalise(x_non[non]) - r, axis=1).min()
        verdicts.append(bool(d_mem < d_non))
    return (float(np.mean(verdicts)) if verdicts else float("nan")), verdicts


def run(model, num_classes: int, kind: str, x_mem, y_mem, x_non, y_non, seed: int,
        pixel_mean: float = 0.0, pixel_std: float = 1.0) -> dict:
    shape = tuple(x_mem.shape[1:])
    if kind == "image":
        lo, hi = (0 - pixel_mean) / pixel_std, (1 - pixel_mean) / pixel_std
    else:  # standardised features: stay within the range the data has
        lo, hi = float(np.min(x_mem)), float(np.max(x_mem))
    recon, steps = invert(model, num_classes, shape, lo, hi, image=(kind == "image"))
    rate, verdicts = member_closer_rate(recon, x_mem, y_mem, x_non, y_non, seed)
    block = {"method": "mi-face", "classes": num_classes, "steps": steps, "member_closer_rate": rate,
             "base_rate": 0.5, "per_class_member_closer": verdicts}
    if kind == "image":
        pixels = np.clip((recon.reshape(num_classes, -1) * pixel_std + pixel_mean) * 255, 0, 255)
        block["images"] = {"shape": list(shape[-2:]), "encoding": "base64 uint8, row-major",
                           "data": [base64.b64encode(p.astype(np.uint8).tobytes()).decode() for p in pixels]}
    elif recon[0].size <= 256:  # table rows; thousands of ScatterNet features would bloat the record
        block["vectors"] = [[round(float(v), 4) for v in row] for row in recon.reshape(num_classes, -1)]
    return block


def decode_image(block: dict, index: int) -> np.ndarray:
    """uint8 (h, w) array of reconstruction `index` from a record's inversion block."""
    h, w = block["images"]["shape"]
    return np.frombuffer(base64.b64decode(block["images"]["data"][index]), dtype=np.uint8).reshape(h, w)
