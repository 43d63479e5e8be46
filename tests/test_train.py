"""Training through Opacus: the loop, its step count, progress and cancel, the baseline (tiny real runs)."""
import threading

import numpy as np
import pytest
import torch
from torch import nn

from explorer import data
from explorer.config import RunConfig
from explorer.errors import ExplorerError
from explorer.models import MODELS, build
from explorer.train import RunCancelled, plan, resolve_device, train


def test_models_are_opacus_valid():
    from opacus.validators import ModuleValidator

    for name, shape in [("logreg", (30,)), ("mlp", (30,)), ("cnn", (1, 28, 28))]:
        assert ModuleValidator.validate(build(name, shape, 10, 0), strict=True) == []
    assert set(MODELS) == {"logreg", "mlp", "cnn", "scatternet"}


def _bc():
    return data.load("breast-cancer")


def test_plan_is_the_step_count_opacus_takes():
    """plan() gives q = 1/ceil(n/B) and ceil(n/B) steps per epoch. Opacus' Poisson sampler would take
    int(1/q) steps, which floating point makes one short for 93 steps per epoch (1/(1/93) < 93):
    train() must still take (and Opacus' accountant record) exactly the planned steps."""
    cfg = RunConfig(dataset="mnist-5k", batch_size=256, epochs=15)
    q, steps = plan(cfg, 3000)
    assert q == pytest.approx(1 / 12) and steps == 180
    assert int(1 / (1 / 93)) == 92  # the Opacus quirk this guards against
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(93, 4)).astype(np.float32), rng.integers(0, 2, 93)
    cfg = RunConfig(dataset="breast-cancer", mode="noise", noise_multiplier=1.0, batch_size=1, epochs=2)
    result = train(cfg, x, y, 2)
    assert plan(cfg, 93) == (1 / 93, 186) and result.steps == 186
    assert sum(t for _, _, t in result.accountant.history) == 186


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the ε twin overflows on σ = 0.05's huge ε
@pytest.mark.parametrize("kwargs", [{}, {"grad_sample_mode": "ghost"}, {"clipping": "adaptive"}])
def test_empty_poisson_batches_are_trained_through(kwargs):
    """batch_size 1 on 200 records: q = 1/200, so about e^-1 ≈ 37 % of the steps draw no example.
    Every step is taken and counted by Opacus' accountant, empty or not. (σ = 0.05: adaptive
    clipping needs σ below twice its count noise, here 2 · 1/20.)"""
    ds = _bc()
    x, y, n = ds.x_train[:200], ds.y_train[:200], 200
    cfg = RunConfig(dataset="breast-cancer", noise_multiplier=0.05, mode="noise", batch_size=1, epochs=1,
                    **kwargs)
    events = []
    result = train(cfg, x, y, 2, progress=events.append)
    steps = [e for e in events if e["stage"] == "train"]
    assert result.steps == len(steps) == n
    assert sum(t for _, _, t in result.accountant.history) == n
    empty = sum(e["loss"] is None for e in steps)  # a step whose Poisson batch was empty has no loss
    assert 0.25 * n < empty < 0.5 * n
    assert np.isfinite(result.history[0]["train_loss"])
    assert all(torch.isfinite(p).all() for p in result.model.parameters())


@pytest.mark.parametrize("clipping", ["flat", "adaptive"])
def test_large_logical_batches_go_in_physical_parts(clipping):
    """A Poisson batch larger than MAX_PHYSICAL_BATCH is processed by Opacus' BatchMemoryManager in parts;
    the optimizer steps (and the accountant counts) once per logical batch."""
    from explorer.train import MAX_PHYSICAL_BATCH, generators, make_private, needs_parts

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 20)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    cfg = RunConfig(dataset="breast-cancer", mode="noise", noise_multiplier=0.5, batch_size=1500, epochs=3,
                    learning_rate=2.0, clip_norm=1.0, clipping=clipping)
    assert needs_parts(cfg)
    if clipping == "flat":
        assert not needs_parts(cfg.replace(grad_sample_mode="ghost"))  # ghost forms no per-sample gradients
    result = train(cfg, x, y, 2)
    assert result.steps == 6 and sum(t for _, _, t in result.accountant.history) == 6
    assert result.train_accuracy > 0.8  # the summed parts make a working gradient
    model = build("logreg", (20,), 2, 0)
    noise, sampling, _ = generators(cfg, resolve_device("cpu"))
    private = make_private(cfg, model, torch.optim.SGD(model.parameters(), lr=0.1), torch.from_numpy(x),
                           torch.from_numpy(y), 1.0, noise, sampling, steps_per_epoch=2)
    sizes, steps = [], 0
    for xb, yb in private.loader:
        sizes.append(len(yb))
        private.optimizer.zero_grad()
        private.criterion(private.module(xb), yb).backward()
        private.optimizer.step()
        steps += not private.optimizer._is_last_step_skipped
    assert max(sizes) <= MAX_PHYSICAL_BATCH and len(sizes) >= 4 and steps == 2
    assert 2400 < sum(sizes) < 3600  # two Poisson batches of expected size 1500


def test_progress_and_cancel():
    ds = _bc()
    cfg = RunConfig(dataset="breast-cancer", target_epsilon=1.0, epochs=3)
    events = []
    train(cfg, ds.x_train, ds.y_train, 2, ds.x_test, ds.y_test, progress=events.append)
    steps = [e for e in events if e["stage"] == "train"]
    epochs = [e for e in events if e["stage"] == "epoch"]
    assert len(steps) == plan(cfg, ds.n_train)[1] and [e["epoch"] for e in epochs] == [1, 2, 3]
    assert all(0 < e["epsilon"] <= 1.0 for e in epochs) and epochs[-1]["epsilon"] > epochs[0]["epsilon"]

    flag = threading.Event()
    seen = []

    def stop_after_three(event):
        seen.append(event)
        if len(seen) == 3:
            flag.set()

    with pytest.raises(RunCancelled):
        train(cfg, ds.x_train, ds.y_train, 2, ds.x_test, ds.y_test, progress=stop_after_three, cancel=flag)
    assert len([e for e in seen if e["stage"] == "train"]) == 3


def test_threads_are_asked_before_every_step():
    """pipeline.run gives the target more threads once its helper is done: the count `threads` returns
    holds from the next step on, in the training thread."""
    ds = _bc()
    cfg = RunConfig(dataset="breast-cancer", target_epsilon=1.0, epochs=1)
    seen, before = [], torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        train(cfg, ds.x_train, ds.y_train, 2, threads=lambda: 1 if len(seen) < 3 else 2,
              progress=lambda e: seen.append(torch.get_num_threads()) if e["stage"] == "train" else None)
    finally:
        torch.set_num_threads(before)
    assert seen[:3] == [1, 1, 1] and set(seen[3:]) == {2} and len(seen) == plan(cfg, ds.n_train)[1]


def test_trained_model_is_a_plain_cpu_module():
    """The attacks score the returned model with predict_logits: no Opacus wrapper, hooks or
    per-sample state may come with it."""
    ds = _bc()
    result = train(RunConfig(dataset="breast-cancer", target_epsilon=2.0, epochs=1), ds.x_train, ds.y_train, 2)
    model = result.model
    assert type(model) is nn.Sequential and result.device == "cpu"
    for module in model.modules():
        assert not module._forward_hooks and not module._backward_hooks and not module._forward_pre_hooks
    for p in model.parameters():
        assert p.device.type == "cpu" and not hasattr(p, "grad_sample") and not hasattr(p, "summed_grad")


def test_baseline_is_torch_sgd_on_shuffled_batches_and_seeded():
    ds = _bc()
    cfg = RunConfig(dataset="breast-cancer", mode="non_private", epochs=3, momentum=0.9)
    a = train(cfg, ds.x_train, ds.y_train, 2, ds.x_test, ds.y_test)
    b = train(cfg, ds.x_train, ds.y_train, 2, ds.x_test, ds.y_test)
    assert a.history == b.history and a.engine is None and a.noise_multiplier is None
    assert a.steps == plan(cfg, ds.n_train)[1]
    c = train(cfg.replace(seed=1), ds.x_train, ds.y_train, 2, ds.x_test, ds.y_test)
    assert c.history != a.history
    assert a.test_accuracy > 0.9


def test_init_state_sets_the_starting_weights_and_not_the_budget():
    ds = _bc()
    start = build("logreg", ds.x_train.shape[1:], 2, 99).state_dict()
    cfg = RunConfig(dataset="breast-cancer", target_epsilon=2.0, epochs=1, learning_rate=1e-6)
    plain = train(cfg, ds.x_train, ds.y_train, 2)
    warm = train(cfg, ds.x_train, ds.y_train, 2, init_state=start)
    assert warm.steps == plain.steps and warm.noise_multiplier == plain.noise_multiplier
    for name, p in warm.model.state_dict().items():  # a tiny learning rate: still the given weights
        torch.testing.assert_close(p, start[name], atol=1e-3, rtol=0)
        assert not torch.allclose(plain.model.state_dict()[name], start[name], atol=1e-3)


def test_device_option():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ExplorerError, match="no CUDA device"):
            resolve_device("cuda")
    with pytest.raises(ExplorerError, match="auto, cpu or cuda"):
        resolve_device("tpu")


@pytest.mark.slow
def test_mnist_5k_accuracy_dp_eps3_and_baseline():
    ds = data.load("mnist-5k")
    dp = train(RunConfig(dataset="mnist-5k", target_epsilon=3.0), ds.x_train, ds.y_train, 10,
               ds.x_test, ds.y_test)
    assert dp.test_accuracy >= 0.85, dp.test_accuracy
    base = train(RunConfig(dataset="mnist-5k", mode="non_private"), ds.x_train, ds.y_train, 10,
                 ds.x_test, ds.y_test)
    assert base.test_accuracy >= 0.95, base.test_accuracy
    assert base.test_accuracy > dp.test_accuracy
