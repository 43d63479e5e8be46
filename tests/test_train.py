"""Training: real Opacus steps and tiny real runs (no mocks of the DP machinery)."""
import threading

import numpy as np
import pytest
import torch
from torch import nn

from explorer import data
from explorer.config import RunConfig
from explorer.models import MODELS, build
from explorer.clipping import PerSampleClipper
from explorer.train import RunCancelled, plan, poisson_batches, train


def test_models_are_opacus_valid():
    from opacus.validators import ModuleValidator

    for name, shape in [("logreg", (30,)), ("mlp", (30,)), ("cnn", (1, 28, 28))]:
        assert ModuleValidator.validate(build(name, shape, 10, 0), strict=False) == []
    assert set(MODELS) == {"logreg", "mlp", "cnn", "scatternet"}


@pytest.mark.parametrize("model_name,shape", [("logreg", (30,)), ("mlp", (30,)), ("cnn", (1, 28, 28))])
def test_per_sample_gradients_are_clipped_to_C(model_name, shape):
    """Read Opacus' grad_sample on a real step: each per-sample gradient equals the one plain autograd
    gives for that example alone, its clipped version has norm ≤ C, and the accumulated gradient is
    the sum of the clipped ones."""
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    clip = 0.05  # small, so that most examples are really clipped
    x = torch.randn(8, *shape)
    y = torch.randint(0, 10, (8,))
    model = build(model_name, shape, 10, 0)
    reference = build(model_name, shape, 10, 0)
    reference.load_state_dict(model.state_dict())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(TensorDataset(x, y), batch_size=8)
    model, opt, loader = PrivacyEngine(accountant="rdp").make_private(
        module=model, optimizer=opt, data_loader=loader, noise_multiplier=0.0, max_grad_norm=clip,
        poisson_sampling=False)
    opt.zero_grad()
    nn.CrossEntropyLoss(reduction="mean")(model(x), y).backward()
    params = [p for p in model.parameters() if p.requires_grad]
    per_sample = torch.cat([p.grad_sample.reshape(8, -1) for p in params], dim=1)

    # the same gradients, one example at a time: with loss_reduction="mean" Opacus rescales
    # grad_sample to each example's own loss gradient (the 1/B comes back after clipping)
    for i in range(8):
        reference.zero_grad()
        nn.CrossEntropyLoss()(reference(x[i:i + 1]), y[i:i + 1]).backward()
        g = torch.cat([p.grad.reshape(-1) for p in reference.parameters()])
        torch.testing.assert_close(per_sample[i], g, rtol=1e-4, atol=1e-6)

    opt.clip_and_accumulate()
    norms = per_sample.norm(dim=1)
    factors = torch.clamp(clip / (norms + 1e-6), max=1.0)
    clipped = per_sample * factors[:, None]
    assert (clipped.norm(dim=1) <= clip * (1 + 1e-5)).all()
    assert (norms > clip).sum() >= 4  # the bound was really exercised
    summed = torch.cat([p.summed_grad.reshape(-1) for p in params])
    torch.testing.assert_close(summed, clipped.sum(0), rtol=1e-4, atol=1e-7)

    # the explorer's own one-pass clipper (what training uses) gives the same clipped sum
    clipper = PerSampleClipper(reference)
    for p in reference.parameters():
        p.grad = torch.zeros_like(p)
    total = clipper.clipped_sum(x, y, clip)
    ours = torch.cat([p.grad.reshape(-1) for p in reference.parameters()])
    torch.testing.assert_close(ours, summed, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(total, nn.CrossEntropyLoss(reduction="sum")(reference(x), y))


def test_plan_matches_opacus_poisson_loader():
    cfg = RunConfig(dataset="mnist-5k", batch_size=256, epochs=15)
    q, steps = plan(cfg, 3000)
    assert q == pytest.approx(1 / 12) and steps == 180


def _bc():
    return data.load("breast-cancer")


def test_deterministic_for_a_seed():
    ds = _bc()
    cfg = RunConfig(dataset="breast-cancer", target_epsilon=2.0, epochs=3)
    a = train(cfg, ds.x_train, ds.y_train, 2, ds.x_test, ds.y_test)
    b = train(cfg, ds.x_train, ds.y_train, 2, ds.x_test, ds.y_test)
    assert a.history == b.history
    for pa, pb in zip(a.model.parameters(), b.model.parameters()):
        assert torch.equal(pa, pb)
    c = train(cfg.replace(seed=1), ds.x_train, ds.y_train, 2, ds.x_test, ds.y_test)
    assert c.history != a.history


def test_empty_poisson_batches_are_handled():
    """batch_size 1 on 343 records: q = 1/343, so about e^-1 ≈ 37 % of the steps draw no example."""
    ds = _bc()
    cfg = RunConfig(dataset="breast-cancer", noise_multiplier=1.0, mode="noise", batch_size=1, epochs=1)
    result = train(cfg, ds.x_train, ds.y_train, 2, ds.x_test, ds.y_test)
    assert result.steps == 343  # every step was taken and counted, empty or not
    # the sampler really draws empty batches, and its batch sizes are Binomial(n, q)
    sizes = [len(b) for b in poisson_batches(343, 1 / 343, 2000, torch.Generator().manual_seed(0))]
    assert sizes.count(0) > 600 and np.isfinite(result.history[0]["train_loss"])
    big = [len(b) for b in poisson_batches(3000, 0.1, 400, torch.Generator().manual_seed(0))]
    assert abs(np.mean(big) - 300) < 3 and abs(np.var(big) - 270) < 60


@pytest.mark.parametrize("model_name,shape", [("logreg", (30,)), ("mlp", (1, 6, 5))])
def test_precomputed_input_norms_give_the_same_clipped_sum(model_name, shape):
    """train.py computes the first Linear layer's ‖xᵢ‖² + 1 once per dataset; a batch's rows of it must
    give bit for bit the clipped sum the clipper forms from the batch itself (shipped records depend on it)."""
    torch.manual_seed(0)
    x, y = torch.randn(300, *shape), torch.randint(0, 10, (300,))
    idx = torch.tensor([5, 17, 17, 42, 299, 0, 123])  # any rows, repeated ones included
    grads = []
    for use_norms in (False, True):
        model = build(model_name, shape, 10, 0)
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        clipper = PerSampleClipper(model)
        row_sq = clipper.input_norms(x, chunk=64)  # chunks of another size than the batch
        assert row_sq.shape == (300,)
        clipper.clipped_sum(x[idx], y[idx], 0.05, input_sq=row_sq[idx] if use_norms else None)
        grads.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    assert torch.equal(grads[0], grads[1]) and grads[0].abs().sum() > 0


def test_input_norms_only_where_the_first_layer_is_a_linear_on_the_input():
    assert PerSampleClipper(build("cnn", (1, 28, 28), 10, 0)).input_norms(torch.zeros(2, 1, 28, 28)) is None
    assert PerSampleClipper(nn.Sequential(nn.Tanh(), nn.Linear(3, 2))).input_norms(torch.zeros(2, 3)) is None
    no_bias = PerSampleClipper(nn.Sequential(nn.Linear(2, 2, bias=False)))
    assert torch.equal(no_bias.input_norms(torch.tensor([[3.0, 4.0]])), torch.tensor([25.0]))
    with_bias = PerSampleClipper(nn.Sequential(nn.Flatten(), nn.Linear(2, 2)))
    assert torch.equal(with_bias.input_norms(torch.tensor([[3.0, 4.0]])), torch.tensor([26.0]))


def test_clipper_rejects_unsupported_layers():
    with pytest.raises(TypeError, match="Linear and Conv2d"):
        PerSampleClipper(nn.Sequential(nn.Linear(3, 3), nn.LayerNorm(3)))
    with pytest.raises(TypeError, match="nn.Sequential"):
        PerSampleClipper(nn.Linear(3, 3))


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
