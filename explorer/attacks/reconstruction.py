"""Training-data reconstruction by an informed adversary, beside the bound DP puts on it.

Balle, Cherubin & Hayes (IEEE S&P 2022): the adversary knows every training record but one (the
target), and the training recipe, and sees the released weights. For softmax regression with L2
regularisation trained to its optimum θ the objective's gradient vanishes:

    Σ_others ∇ℓ_i(θ) + ∇ℓ_target(θ) + λ·(W, 0) = 0,

so the target's gradient is known: g = −(Σ_others ∇ℓ_i(θ) + λ·(W, 0)). For softmax regression
∇_W ℓ = (p − e_y)·xᵀ and ∇_b ℓ = p − e_y, so every row of g_W is the target x scaled by the matching
entry of g_b: x̂ = g_Wᵀ g_b / ‖g_b‖² (least squares over the rows).

Protocol (mnist-5k): each trial draws m candidates from the population split and a target uniformly
among them; the model trains on the fixed other records plus the target; the attack succeeds when the
candidate nearest (L2) to x̂ is the target. A blind guess succeeds with κ = 1/m. Without privacy the
model is trained to its optimum (full-batch L-BFGS in float64; not a private model, so not through
Opacus). With privacy it is trained by explorer.train.train (Opacus' DP-SGD) and the same attack is
applied, with the recipe's regularisation (none: the DP recipe has no weight decay). Beside the
success rate: the ReRo bound of that run's privacy profile (rero.py).
"""
from __future__ import annotations

import time

import numpy as np

from ..errors import ExplorerError, RunCancelled, is_cancelled
from .statements import reconstruction_statement

L2 = 100.0  # λ of the non-private objective Σ CE + λ/2‖W‖² (bias unregularised)
GTOL = 1e-6  # max |∂objective| at the stop: reconstructions within ~1e-3 of the target
FIXED = 1000  # known other records: a fixed random subset of the training split keeps the study fast
GALLERY = 8  # trials whose target and reconstruction the record keeps
CONFIDENCE = 0.95
# the DP recipe for softmax regression on mnist-5k (plain DP-SGD, as the explorer's other runs)
DP_RECIPE = dict(model="logreg", epochs=15, batch_size=256, learning_rate=1.0, clip_norm=1.0, momentum=0.0)


def softmax_regression_optimum(x: np.ndarray, y: np.ndarray, num_classes: int, l2: float,
                               start: tuple[np.ndarray, np.ndarray] | None = None):
    """(W, b) minimising Σ CE + l2/2‖W‖², by L-BFGS in float64 until every gradient entry is ≤ GTOL."""
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits  # (scikit-learn's dependency)

    d = x.shape[1]
    onehot = np.eye(num_classes)[y]

    def objective(theta):
        w, b = theta[:num_classes * d].reshape(num_classes, d), theta[num_classes * d:]
        z = x @ w.T + b
        z -= z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        g = np.exp(logp) - onehot
        value = -(logp * onehot).sum() + 0.5 * l2 * (w * w).sum()
        return value, np.r_[(g.T @ x + l2 * w).ravel(), g.sum(axis=0)]

    theta0 = np.zeros(num_classes * (d + 1)) if start is None else np.r_[start[0].ravel(), start[1]]
    with threadpool_limits(1):  # these small products run ~5× slower when BLAS threads fight for 2 cores
        res = minimize(objective, theta0, jac=True, method="L-BFGS-B",
                       options={"maxiter": 20000, "maxcor": 30, "gtol": GTOL, "ftol": 0.0})
    return res.x[:num_classes * d].reshape(num_classes, d), res.x[num_classes * d:]


def reconstruct(w: np.ndarray, b: np.ndarray, x_others: np.ndarray, y_others: np.ndarray, l2: float) -> np.ndarray:
    """The target record from the optimality condition (see the module docstring)."""
    z = x_others @ w.T + b
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    g = p - np.eye(w.shape[0])[y_others]
    g_w = -(g.T @ x_others + l2 * w)
    g_b = -g.sum(axis=0)
    return g_w.T @ g_b / max(float(g_b @ g_b), 1e-300)


def clopper_pearson(successes: int, trials: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Two-sided exact binomial interval: the trials are independent, so this is the plain one."""
    from scipy.special import betaincinv

    alpha = 1 - confidence
    lo = 0.0 if successes == 0 else float(betaincinv(successes, trials - successes + 1, alpha / 2))
    hi = 1.0 if successes == trials else float(betaincinv(successes + 1, trials - successes, 1 - alpha / 2))
    return lo, hi


def _linear_weights(model) -> tuple[np.ndarray, np.ndarray]:
    from torch import nn

    linear = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if len(linear) != 1:
        raise ExplorerError("the reconstruction attack needs softmax regression (one linear layer)")
    return (linear[0].weight.detach().double().numpy(), linear[0].bias.detach().double().numpy())


def _dp_config(epsilon: float, delta: float, seed: int, reproducible: bool):
    from ..config import RunConfig

    return RunConfig(dataset="mnist-5k", mode="epsilon", target_epsilon=epsilon, delta=delta, seed=seed,
                     attacks=False, reproducible=reproducible, **DP_RECIPE)


def study(epsilon: float | None, targets: int = 20, candidates: int = 10, seed: int = 0,
          reproducible: bool = False, progress=None, cancel=None, dataset: str = "mnist-5k",
          fixed: int | None = FIXED, delta: float = 1e-5, data_dir=None) -> dict:
    """Run the reconstruction study at `epsilon` (None: no privacy) over `targets` independent trials.

    `fixed` keeps only that many training records as the known others (None: the whole training split).
    Returns a JSON-ready block: success_rate, interval, kappa, bound, per-target verdicts, gallery."""
    from .. import data
    from .inversion import encode_images

    if dataset != "mnist-5k":
        raise ExplorerError(f"the reconstruction study runs on mnist-5k only; got {dataset!r}")
    if targets < 1 or candidates < 2:
        raise ExplorerError(f"the study needs ≥ 1 target and ≥ 2 candidates; got {targets} and {candidates}")
    t0 = time.perf_counter()
    ds = data.load(dataset, data_dir=data_dir)
    n_fixed = ds.n_train if fixed is None else min(int(fixed), ds.n_train)
    if candidates > len(ds.y_pop):
        raise ExplorerError(f"{candidates} candidates need as many population images; there are {len(ds.y_pop)}")
    # a fixed random subset (the training split is stored class by class, so never its first rows)
    keep = np.sort(np.random.default_rng([seed, 29]).permutation(ds.n_train)[:n_fixed])
    x_others = ds.x_train[keep].reshape(n_fixed, -1).astype(np.float64)
    y_others = ds.y_train[keep]
    pop = ds.x_pop.reshape(len(ds.x_pop), -1).astype(np.float64)
    private = epsilon is not None
    warm = None if private else softmax_regression_optimum(x_others, y_others, ds.num_classes, L2)
    verdicts, gallery, accuracies, runs = [], [], [], set()
    for t in range(targets):
        if is_cancelled(cancel):
            raise RunCancelled()
        rng = np.random.default_rng([seed, 23, t])
        cand = rng.choice(len(pop), candidates, replace=False)
        pick = int(rng.integers(candidates))
        target = pop[cand[pick]]
        x = np.concatenate([x_others, target[None]])
        y = np.r_[y_others, ds.y_pop[cand[pick]]]
        if private:
            from ..train import accuracy, train

            cfg = _dp_config(epsilon, delta, seed * 10_000 + t, reproducible)
            result = train(cfg, x.reshape(-1, *ds.input_shape).astype(np.float32), y, ds.num_classes,
                           verify_sigma=False)  # the block reports the library ε of the run below
            w, b = _linear_weights(result.model)
            accuracies.append(accuracy(result.model, ds.x_test, ds.y_test))
            runs.add((result.noise_multiplier, result.sample_rate, result.steps))
            l2 = 0.0
        else:
            w, b = softmax_regression_optimum(x, y, ds.num_classes, L2, start=warm)
            accuracies.append(float(((ds.x_test.reshape(len(ds.y_test), -1) @ w.T + b).argmax(1) == ds.y_test).mean()))
            l2 = L2
        guess = reconstruct(w, b, x_others, y_others, l2)
        nearest = int(np.argmin(np.linalg.norm(pop[cand] - guess, axis=1)))
        verdicts.append(nearest == pick)
        if t < GALLERY:
            gallery.append((target, guess))
        if progress:
            progress({"stage": "reconstruction", "target": t + 1, "targets": targets, "success": nearest == pick})
    assert len(runs) <= 1, "every DP trial must spend the same privacy (same n, σ, q, steps)"
    successes = int(sum(verdicts))
    kappa = 1.0 / candidates
    block = {
        "kind": "reconstruction", "method": "informed adversary, closed form from the optimality condition "
                                            "(Balle, Cherubin & Hayes 2022)",
        "dataset": dataset, "model": "softmax regression (logreg)", "epsilon": epsilon, "delta": delta,
        "fixed_records": n_fixed, "fixed_records_are": ("the whole training split" if n_fixed == ds.n_train else
                                                      f"{n_fixed} training rows drawn once by the seed"),
        "targets": targets, "candidates": candidates, "kappa": kappa, "successes": successes,
        "success_rate": successes / targets, "interval": list(clopper_pearson(successes, targets)),
        "confidence": CONFIDENCE, "per_target": [bool(v) for v in verdicts],
        "test_accuracy": round(float(np.mean(accuracies)), 4), "seed": seed,
        "reproducible": reproducible,
    }
    if private:
        from ..accounting import epsilon as account
        from . import rero

        sigma, q, steps = next(iter(runs))
        block.update(recipe={**DP_RECIPE, "l2": 0.0}, bound=round(rero.bound(sigma, q, steps, kappa), 4),
                     bound_method="ReRo (Hayes, Mahloujifar & Balle 2023): min(1, inf over ε′ of "
                                  "e^ε′·κ + δ(ε′)), δ(ε′) from dp-accounting's PLD",
                     privacy={"noise_multiplier": sigma, "sample_rate": q, "steps": steps,
                              "epsilon": account(sigma, q, steps, delta, "prv"), "accountant": "prv"})
    else:
        block.update(recipe={"optimizer": "full-batch L-BFGS (float64) to the optimum", "l2": L2},
                     bound=None, bound_method="no DP: nothing bounds the attack")
    def pixels(v):  # normalised → [0, 1] intensities
        return np.array(v) * data.MNIST_STD + data.MNIST_MEAN

    block["gallery"] = {"shape": [28, 28], "encoding": "base64 uint8, row-major",
                        "targets": encode_images(pixels([g[0] for g in gallery])),
                        "reconstructions": encode_images(pixels([g[1] for g in gallery])),
                        "success": [bool(v) for v in verdicts[:len(gallery)]]}
    block["statement"] = reconstruction_statement(block)
    block["seconds"] = round(time.perf_counter() - t0, 2)
    return block


# what the app and report read from a stored study; anything else in the file is left alone
STUDY_FIELDS = ("kind", "epsilon", "targets", "candidates", "kappa", "successes", "success_rate", "interval",
                "bound", "statement", "gallery", "test_accuracy")


def check_study(block: dict) -> dict:
    """A stored study as the app reads it, or ExplorerError naming what is wrong (a hand-edited rate, a
    missing field). The rate and interval are recomputed from the verdicts, so neither can be edited."""
    missing = [k for k in STUDY_FIELDS if k not in block] if isinstance(block, dict) else list(STUDY_FIELDS)
    if missing or block.get("kind") != "reconstruction":
        raise ExplorerError(f"not a reconstruction study (missing {', '.join(missing) or 'kind'})")
    verdicts = block.get("per_target")
    if not isinstance(verdicts, list) or len(verdicts) != block["targets"] or sum(map(bool, verdicts)) != block["successes"]:
        raise ExplorerError("its per-target verdicts do not add up to its success count")
    if abs(block["success_rate"] - block["successes"] / block["targets"]) > 1e-12 or any(
            abs(a - b) > 1e-9 for a, b in zip(block["interval"], clopper_pearson(block["successes"], block["targets"]))):
        raise ExplorerError("its success rate or interval does not follow from its verdicts")
    if (block["epsilon"] is None) != (block["bound"] is None):
        raise ExplorerError("a DP study needs its bound, and a non-private one has none")
    return block


def load_studies(folder) -> tuple[list[dict], list[str]]:
    """The reconstruction studies stored in `folder` (cached_runs/reconstruction), no privacy first then
    by ε; and one sentence per file skipped (unreadable, not JSON, or failing check_study)."""
    import json
    from pathlib import Path

    studies, problems = [], []
    for path in sorted(Path(folder).glob("*.json")) if Path(folder).is_dir() else []:
        try:
            studies.append(check_study(json.loads(path.read_text(encoding="utf-8"))))
        except ExplorerError as e:
            problems.append(f"skipped {path.name}: {e}")
        except (OSError, UnicodeDecodeError, ValueError) as e:  # JSONDecodeError is a ValueError
            problems.append(f"skipped {path.name}: not a readable JSON file ({e})")
    studies.sort(key=lambda b: -1.0 if b["epsilon"] is None else b["epsilon"])
    return studies, problems
