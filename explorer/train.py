"""Training: DP-SGD by Opacus, and the non-private baseline through the same loop.

A private run goes through Opacus' `PrivacyEngine.make_private`: Opacus wraps the model (per-sample
gradients in the config's `grad_sample_mode`) and the optimizer (its DPOptimizer clips each example's
gradient, adds the Gaussian noise and averages over the expected batch size; AdaClipDPOptimizer for
adaptive clipping), and the batches come from Opacus' DPDataLoader (every record drawn with
probability q at every step, empty batches included), split by its BatchMemoryManager where large.
Opacus' accountant records every step taken, and the run fails unless it recorded the planned ones.
This is the only DP-SGD in the tree: nothing here clips, samples or draws noise itself; speed comes
only from Opacus' extension points (explorer/samplers.py, the per-model grad_sample_mode).

The noise and sampling generators are seeded from OS entropy and never stored, unless the config is
`reproducible` (then from the config seed). The non-private baseline is the same loop with
torch.optim.SGD on shuffled batches.
"""
from __future__ import annotations

import functools
import math
import secrets
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import opacus
import torch
from opacus import PrivacyEngine
from opacus.data_loader import DPDataLoader
from opacus.optimizers import AdaClipDPOptimizer, DPOptimizer
from opacus.utils.batch_memory_manager import wrap_data_loader
from torch import nn

from . import accounting, samplers  # noqa: F401  (samplers registers its grad samplers with Opacus)
from .config import RunConfig, plan  # noqa: F401  (plan and the two below are this module's API too)
from .errors import ExplorerError, RunCancelled, is_cancelled  # noqa: F401
from .models import build

# Opacus' per-sample hooks are full backward hooks on the model's layers; torch warns on every run that
# the first layer's input (the data) does not require a gradient, which it never does here
warnings.filterwarnings("ignore", message="Full backward hook is firing when gradients are computed with "
                                          "respect to module outputs since no inputs require gradients")

# examples per forward/backward pass when per-sample gradients are materialised: a larger Poisson
# batch goes through Opacus' BatchMemoryManager in parts of at most this size
MAX_PHYSICAL_BATCH = 1024
# adaptive clipping (Opacus' AdaClipDPOptimizer): the clip norm's geometric learning rate and the
# count noise σ_b = expected batch / 20, both as recommended by Andrew et al. 2021; the bounds only
# keep the clip norm finite
CLIPBOUND_LEARNING_RATE = 0.2
COUNT_NOISE_FRACTION = 1 / 20
MIN_CLIPBOUND, MAX_CLIPBOUND = 1e-4, 1e3
SECURE_RNG_NOTE = (
    "Opacus' secure_mode is off: it needs torchcsprng, which has no build for torch 2.13. The noise and "
    "the Poisson sampling come from torch's Mersenne Twister generator, which is not cryptographically "
    "secure, and floating-point attacks on the Gaussian noise (Mironov 2012) are not mitigated.")
SEEDED_NOTE = ("reproducible: the noise and sampling follow the config seed; not private against anyone who "
               "holds the seed")
Progress = Callable[[dict], None]


@dataclass
class TrainResult:
    model: nn.Module  # a fresh module on the CPU holding the trained weights, without Opacus hooks
    history: list[dict]
    noise_multiplier: float | None
    sample_rate: float | None
    steps: int
    test_accuracy: float | None
    seconds: float
    engine: dict | None = None  # how Opacus trained it: the record's privacy.engine
    accountant: object | None = None  # the Opacus accountant that recorded the run's steps
    device: str = "cpu"
    training_rows: tuple | None = field(default=None, repr=False)  # (x, y), for train_accuracy

    @functools.cached_property
    def train_accuracy(self) -> float:
        """Accuracy on the rows it was trained on, computed when first asked (RMIA's reference models
        never are)."""
        return accuracy(self.model, *self.training_rows)


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ExplorerError("--device cuda: no CUDA device is available here; use --device cpu or auto")
    if device not in ("cpu", "cuda"):
        raise ExplorerError(f"device must be auto, cpu or cuda; got {device!r}")
    return torch.device(device)


@torch.no_grad()
def predict_logits(model: nn.Module, x: np.ndarray, chunk: int = 2048) -> np.ndarray:
    model.eval()
    dev = next(model.parameters()).device
    out = [model(torch.from_numpy(x[i:i + chunk]).to(dev)).cpu().numpy() for i in range(0, len(x), chunk)]
    model.train()
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    return float((predict_logits(model, x).argmax(1) == y).mean())


@torch.no_grad()
def _accuracy_on(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 2048) -> float:
    """Accuracy on tensors already on the model's device."""
    model.eval()
    correct = sum(int((model(x[i:i + chunk]).argmax(1) == y[i:i + chunk]).sum()) for i in range(0, len(y), chunk))
    model.train()
    return correct / len(y)


class Rows(torch.utils.data.Dataset):
    """(x, y) rows that a DataLoader fetches a whole batch at a time: its fetcher passes the batch
    sampler's index list to `__getitems__`, so a batch is two gathers, not B look-ups and a collate."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]

    def __getitems__(self, index: list[int]):
        idx = torch.as_tensor(index, dtype=torch.long, device=self.x.device)
        return [self.x[idx], self.y[idx]]


def _batch_as_is(batch):
    return batch


def generators(config: RunConfig, device: torch.device) -> tuple[torch.Generator, torch.Generator, str]:
    """(noise generator, sampling generator, how they were seeded). Not reproducible: 64 bits of OS
    entropy each, kept nowhere (torch's global generator is no use: models.build seeds it with the
    config seed). Reproducible: two distinct seeds derived from the config seed."""
    if config.reproducible:
        seeds = np.random.SeedSequence([config.seed, 13]).generate_state(2, np.uint64)
        noise_seed, sample_seed = (int(s) for s in seeds)
        label = "seeded"
    else:
        noise_seed, sample_seed = secrets.randbits(64), secrets.randbits(64)
        label = "os-entropy"
    noise = torch.Generator(device=device).manual_seed(noise_seed)
    sampling = torch.Generator().manual_seed(sample_seed)  # Opacus' sampler draws on the CPU
    return noise, sampling, label


class AdaptiveClipDPOptimizer(AdaClipDPOptimizer):
    """Opacus' adaptive clipping — AdaClipDPOptimizer: a noisy count of the unclipped examples moves
    the clip norm geometrically towards the target quantile, and the gradient noise uses
    σ_eff = (σ⁻² − (2σ_b)⁻²)^−½ so that the accountant's σ covers both releases (Andrew et al. 2021,
    Theorem 1) — with three corrections, each tested in tests/test_engine.py:
    - the count released is Σᵢ(bᵢ − ½) + N(0, σ_b²) over the *expected* batch size: the query
      Theorem 1 prices (sensitivity ½), as in TF Privacy's QuantileAdaptiveClipSumQuery. Opacus
      divides Σᵢ bᵢ + noise (sensitivity 1) by the realised Poisson batch size, itself private;
    - an empty Poisson batch, on which AdaClipDPOptimizer's reshape fails, takes DPOptimizer's own
      empty-batch path: the step still adds noise to the gradient and to the count;
    - under BatchMemoryManager the count adds up over a logical batch's physical parts (Opacus'
      zero_grad reset it after each part)."""

    def clip_and_accumulate(self):
        if len(self.grad_samples[0]) == 0:
            DPOptimizer.clip_and_accumulate(self)
            self.unclipped_num = torch.as_tensor(self.unclipped_num, device=self.grad_samples[0].device)
        else:
            super().clip_and_accumulate()

    def zero_grad(self, set_to_none: bool = False):
        kept = (self.sample_size, self.unclipped_num) if self._is_last_step_skipped else None
        super().zero_grad(set_to_none)
        if kept is not None:
            self.sample_size, self.unclipped_num = kept

    def update_max_grad_norm(self):
        # after add_noise: unclipped_num = Σᵢ bᵢ + N(0, σ_b²), sample_size = |B|
        centred = float(self.unclipped_num) - self.sample_size / 2
        unclipped_frac = centred / self.expected_batch_size + 0.5
        clip = self.max_grad_norm * math.exp(-self.clipbound_learning_rate
                                             * (unclipped_frac - self.target_unclipped_quantile))
        self.max_grad_norm = min(max(clip, self.min_clipbound), self.max_clipbound)


class Engine(PrivacyEngine):
    """Opacus' PrivacyEngine, building the adaptive-clipping optimizer above for clipping='adaptive'."""

    def _prepare_optimizer(self, *, optimizer, clipping="flat", noise_generator=None, distributed=False,
                           grad_sample_mode="hooks", **kwargs):
        if clipping != "adaptive":
            return super()._prepare_optimizer(optimizer=optimizer, clipping=clipping,
                                              noise_generator=noise_generator, distributed=distributed,
                                              grad_sample_mode=grad_sample_mode, **kwargs)
        return AdaptiveClipDPOptimizer(optimizer, generator=noise_generator, secure_mode=self.secure_mode,
                                       **kwargs)


# warnings.catch_warnings swaps process-wide state: two runs in two threads (target and reference
# models) must not interleave it
_WARNINGS_LOCK = threading.Lock()


@dataclass
class Private:
    """One private run's Opacus objects."""
    module: nn.Module  # Opacus' GradSampleModule around the model
    optimizer: object  # DPOptimizer (or the adaptive one)
    criterion: Callable
    loader: torch.utils.data.DataLoader  # Opacus' DPDataLoader (Poisson sampling), possibly split
    accountant: object
    engine: dict = field(default_factory=dict)


def accountant_name(config: RunConfig) -> str:
    """The Opacus accountant that follows the run: the config's, or PRV for PLD (Opacus has none)."""
    return "rdp" if config.accountant == "rdp" else "prv"


def needs_parts(config: RunConfig) -> bool:
    """Whether logical batches go through Opacus' BatchMemoryManager in physical parts: where per-sample
    gradients are materialised (ghost clipping forms none for the models' Linear layers)."""
    return config.batch_size > MAX_PHYSICAL_BATCH and config.grad_sample_mode != "ghost"


def make_private(config: RunConfig, model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor,
                 y: torch.Tensor, sigma: float, noise: torch.Generator, sampling: torch.Generator,
                 steps_per_epoch: int) -> Private:
    """Opacus' make_private on (model, optimizer, Poisson loader over x, y), as this config asks."""
    n = len(y)
    # Opacus' Poisson loader (its DPDataLoader: each record in each batch with probability q, empty
    # batches included), built here rather than by make_private(poisson_sampling=True), which would
    # re-derive q as 1/int(1/q): floating point makes that one step short for some step counts
    # (int(1/(1/93)) = 92), so the sampler, the accountant and plan() would disagree
    loader = DPDataLoader(Rows(x, y), sample_rate=1 / steps_per_epoch, generator=sampling,
                          collate_fn=_batch_as_is)
    loader.batch_sampler.steps = steps_per_epoch
    expected_batch = n / steps_per_epoch
    kwargs = {}
    if config.clipping == "adaptive":
        count_std = expected_batch * COUNT_NOISE_FRACTION
        if sigma >= 2 * count_std:
            raise ExplorerError(
                f"adaptive clipping needs σ < 2 × its count noise (expected batch {expected_batch:.4g} / 20 = "
                f"{count_std:.3g}), so σ < {2 * count_std:.3g}; this run's σ is {sigma:.3g}. Use a larger "
                f"batch size (about {math.ceil(10 * sigma * 1.1)} or more), a larger ε or fewer epochs, "
                "or --clipping flat")
        kwargs = dict(target_unclipped_quantile=config.target_quantile,
                      clipbound_learning_rate=CLIPBOUND_LEARNING_RATE, max_clipbound=MAX_CLIPBOUND,
                      min_clipbound=MIN_CLIPBOUND, unclipped_num_std=count_std)
    with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        engine = Engine(accountant=accountant_name(config))
    # poisson_sampling=False: the loader is Opacus' Poisson loader already (above), not to be wrapped again
    out = engine.make_private(module=model, optimizer=optimizer, data_loader=loader,
                              criterion=nn.CrossEntropyLoss(), noise_multiplier=sigma,
                              max_grad_norm=config.clip_norm, poisson_sampling=False, clipping=config.clipping,
                              noise_generator=noise, grad_sample_mode=config.grad_sample_mode, **kwargs)
    if config.grad_sample_mode == "ghost":
        module, dp_optimizer, criterion, dp_loader = out
    else:
        (module, dp_optimizer, dp_loader), criterion = out, nn.CrossEntropyLoss()
    module.forbid_grad_accumulation()  # what make_private does for Poisson sampling
    # make_private averages over int(len(data) · q), which floating point can truncate one too low
    # (int(49 · (1/49)) = 0, a division by zero); the expected Poisson batch size is n · q
    dp_optimizer.expected_batch_size = expected_batch
    if needs_parts(config):  # what Opacus' BatchMemoryManager context returns, for the whole run
        dp_loader = wrap_data_loader(data_loader=dp_loader, max_batch_size=MAX_PHYSICAL_BATCH, optimizer=dp_optimizer)
    info = {"library": "opacus", "version": opacus.__version__, "grad_sample_mode": config.grad_sample_mode,
            "clipping": config.clipping, "noise_rng": "seeded" if config.reproducible else "os-entropy",
            "secure_rng": False, "note": SECURE_RNG_NOTE,
            "opacus_warnings": sorted({str(w.message) for w in caught})}
    if config.reproducible:
        info["seeded_note"] = SEEDED_NOTE
    if config.clipping == "adaptive":
        info["adaptive"] = {"initial_clip_norm": config.clip_norm, "target_quantile": config.target_quantile,
                            "clipbound_learning_rate": CLIPBOUND_LEARNING_RATE, "count_noise_std": count_std,
                            "gradient_noise_multiplier": (sigma ** -2 - (2 * count_std) ** -2) ** -0.5}
    return Private(module, dp_optimizer, criterion, dp_loader, engine.accountant, info)


def train(config: RunConfig, x_train: np.ndarray, y_train: np.ndarray, num_classes: int,
          x_test: np.ndarray | None = None, y_test: np.ndarray | None = None,
          progress: Progress | None = None, cancel=None, verify_sigma: bool = True,
          device: str = "auto", init_state: dict | None = None,
          threads: Callable[[], int] | None = None) -> TrainResult:
    """Train one model by `config`'s recipe on (x_train, y_train); evaluate on the test set per epoch.
    `init_state`: initial weights (a state_dict) loaded after the model is built (public pre-training;
    steps and ε are unchanged). `verify_sigma=False` skips the library check of a calibrated σ
    (reference models: an attacker's, no privacy claim). `threads`: asked before every step, the torch
    threads this training may use from then on (pipeline.run: one while the reference models train
    beside it, all once they are done; the calling thread keeps the last count); torch's setting for
    the calling thread when None."""
    start = time.perf_counter()
    dev = resolve_device(device)
    n = len(y_train)
    sample_rate, total_steps = plan(config, n)
    steps_per_epoch = total_steps // config.epochs
    model = build(config.model, x_train.shape[1:], num_classes, config.seed)
    if init_state is not None:
        model.load_state_dict(init_state)
    model.to(dev)
    x = torch.from_numpy(np.ascontiguousarray(x_train)).to(dev)
    y = torch.from_numpy(np.asarray(y_train, dtype=np.int64)).to(dev)
    test = None
    if x_test is not None:
        test = (torch.from_numpy(np.ascontiguousarray(x_test)).to(dev),
                torch.from_numpy(np.asarray(y_test, dtype=np.int64)).to(dev))
    optimizer = torch.optim.SGD(model.parameters(), lr=config.learning_rate, momentum=config.momentum)
    sigma, private = None, None
    if config.private:
        if config.mode == "epsilon":
            sigma = accounting.noise_for_epsilon(config.target_epsilon, config.delta, sample_rate,
                                                 total_steps, config.accountant, verify=verify_sigma)
        else:
            sigma = config.noise_multiplier
        noise, sampling, _ = generators(config, dev)
        private = make_private(config, model, optimizer, x, y, sigma, noise, sampling, steps_per_epoch)
        del noise, sampling  # the optimizer and the loader hold the only references
        forward, criterion, step_optimizer = private.module, private.criterion, private.optimizer
    else:
        forward, criterion, step_optimizer = model, nn.CrossEntropyLoss(), optimizer
        shuffle = torch.Generator().manual_seed(config.seed)

    history, step = [], 0
    for epoch in range(1, config.epochs + 1):
        if private is not None:
            batches = private.loader
        else:
            batches = ((x[i], y[i]) for i in torch.randperm(n, generator=shuffle).to(dev).split(config.batch_size))
        loss_sum, seen = 0.0, 0
        for xb, yb in batches:
            if is_cancelled(cancel):
                raise RunCancelled()
            if threads is not None and threads() != torch.get_num_threads():
                torch.set_num_threads(threads())  # OpenMP keeps the count per thread: this one's only
            step_optimizer.zero_grad()
            loss = criterion(forward(xb), yb)
            loss.backward()
            step_optimizer.step()
            if len(yb):  # an empty Poisson batch has no loss (its step still adds noise)
                loss_sum += float(loss.detach()) * len(yb)
                seen += len(yb)
            if private is not None and private.optimizer._is_last_step_skipped:
                continue  # a physical part of a larger logical batch: the step comes with its last part
            step += 1
            if progress is not None:
                progress({"stage": "train", "epoch": epoch, "epochs": config.epochs, "step": step,
                          "steps": total_steps, "loss": float(loss.detach()) if len(yb) else None})
        # ε so far by the config's accountant (its fast twin, ~30 ms): for whoever watches the run; a
        # caller with neither progress nor a test set (RMIA's reference models) is not shown it
        watched = progress is not None or test is not None
        entry = {"epoch": epoch, "train_loss": loss_sum / seen if seen else None,
                 "test_accuracy": _accuracy_on(model, *test) if test is not None else None,
                 "epsilon": (accounting.epsilon_so_far(sigma, sample_rate, epoch * steps_per_epoch, config.delta,
                                                       config.accountant) if sigma and watched else None)}
        if private is not None and config.clipping == "adaptive":
            entry["clip_norm"] = float(private.optimizer.max_grad_norm)
        history.append(entry)
        if progress is not None:
            progress({"stage": "epoch", **entry, "epochs": config.epochs})
    if step != total_steps:
        raise AssertionError(f"training took {step} steps, planned {total_steps}: the accounting would be wrong")
    engine, accountant = None, None
    if private is not None:
        accountant = private.accountant
        recorded = sum(s for _, _, s in accountant.history)
        if recorded != total_steps or {(s, q) for s, q, _ in accountant.history} != {(sigma, sample_rate)}:
            raise AssertionError(f"Opacus' accountant recorded {accountant.history}, planned "
                                 f"{total_steps} steps at σ={sigma}, q={sample_rate}")
        engine = private.engine
    # a fresh CPU copy without Opacus' hooks and per-sample state, for the attacks and inversion
    clean = build(config.model, x_train.shape[1:], num_classes, config.seed)
    clean.load_state_dict({k: v.cpu() for k, v in model.state_dict().items()})
    return TrainResult(model=clean, history=history, noise_multiplier=sigma,
                       sample_rate=sample_rate if sigma else None, steps=total_steps,
                       test_accuracy=history[-1]["test_accuracy"], seconds=time.perf_counter() - start,
                       engine=engine, accountant=accountant, device=str(dev), training_rows=(x_train, y_train))
