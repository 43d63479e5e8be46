"""The grad samplers explorer/samplers.py registers with Opacus equal Opacus' functorch per-sample
gradients (torch.func, no registered sampler involved) on real batches of every shipped model."""
import pytest
import torch
from opacus import GradSampleModule
from opacus.grad_sample import GradSampleHooks
from torch import nn

from explorer import data, features, samplers
from explorer.models import build


def _batches():
    mnist = data.load("mnist-5k")
    bc, adult = data.load("breast-cancer"), data.load("adult")
    head = features.apply("scatternet", mnist)
    return {"logreg-breast-cancer": ("logreg", bc.x_train[:32], bc.y_train[:32], 2),
            "logreg-adult": ("logreg", adult.x_train[:64], adult.y_train[:64], 2),
            "mlp": ("mlp", mnist.x_train[:64], mnist.y_train[:64], 10),
            "cnn": ("cnn", mnist.x_train[:64], mnist.y_train[:64], 10),
            "scatternet": ("scatternet", head.x_train[:64], head.y_train[:64], 10)}


def _per_sample(model: nn.Module, x, y, functorch: bool) -> list[torch.Tensor]:
    gsm = GradSampleModule(model, force_functorch=functorch)
    gsm.zero_grad()
    nn.functional.cross_entropy(gsm(x), y).backward()
    out = [p.grad_sample.clone() for p in gsm.parameters()]
    gsm._close()
    return out


@pytest.mark.parametrize("case", list(_batches()))
def test_registered_samplers_equal_functorch(case):
    name, x, y, classes = _batches()[case]
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    model = build(name, x.shape[1:], classes, 0)
    for step in range(2):  # at initialisation and after a step (non-trivial activations)
        ours = _per_sample(model, x, y, functorch=False)
        ref = _per_sample(model, x, y, functorch=True)
        for a, b in zip(ours, ref):
            assert a.shape == b.shape and a.shape[0] == len(y)
            assert (a - b).abs().max().item() <= 1e-5, case
        with torch.no_grad():
            for p, g in zip(model.parameters(), ref):
                p -= 0.5 * g.mean(0)
    if any(isinstance(m, nn.Conv2d) for m in model.modules()):
        assert GradSampleHooks.GRAD_SAMPLERS[nn.Conv2d] is samplers.conv2d_grad_sample  # really ours


@pytest.mark.parametrize("conv", [nn.Conv2d(1, 5, 3), nn.Conv2d(1, 4, (3, 2), stride=(2, 1), padding=(1, 2)),
                                  nn.Conv2d(1, 3, 3, dilation=2, padding=2, bias=False),
                                  nn.Conv2d(3, 5, 3), nn.Conv2d(3, 4, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(2, 1)),
                                  nn.Conv2d(2, 3, 2, stride=2, bias=False), nn.Conv2d(4, 4, 3, groups=2),
                                  nn.Conv2d(1, 3, 3, padding="same")])
def test_conv_sampler_on_other_shapes_and_its_fallbacks(conv):
    """Strides, padding, dilation and no bias through both strided paths (one input channel, several);
    groups and string padding go to Opacus' own sampler; an empty batch too. Each against per-example
    autograd."""
    torch.manual_seed(0)
    x = torch.randn(5, conv.in_channels, 9, 8)
    out = conv(x)
    g = torch.randn_like(out)
    ours = samplers.conv2d_grad_sample(conv, [x], g)
    ref = {}
    for i in range(len(x)):  # each example's own gradient by autograd
        grads = torch.autograd.grad(conv(x[i:i + 1]), list(conv.parameters()), g[i:i + 1])
        for p, gp in zip(conv.parameters(), grads):
            ref.setdefault(p, []).append(gp)
    for p in conv.parameters():
        torch.testing.assert_close(ours[p], torch.stack(ref[p]), atol=1e-5, rtol=1e-5)
    empty = samplers.conv2d_grad_sample(conv, [x[:0]], g[:0])
    assert all(v.abs().sum() == 0 for v in empty.values())


def test_opacus_defaults_restores_opacus_then_ours():
    from opacus.grad_sample.conv import compute_conv_grad_sample

    with samplers.opacus_defaults():
        assert GradSampleHooks.GRAD_SAMPLERS[nn.Conv2d] is compute_conv_grad_sample
    assert GradSampleHooks.GRAD_SAMPLERS[nn.Conv2d] is samplers.conv2d_grad_sample
