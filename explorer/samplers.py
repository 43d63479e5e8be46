"""Per-sample gradient samplers registered with Opacus (its `register_grad_sampler` extension point).

Importing this module replaces Opacus' Conv2d and Linear grad samplers in this process. Opacus' Conv2d
sampler (`opacus.grad_sample.conv.compute_conv_grad_sample`) copies every patch out with `unfold` and
then contracts; for a layer with one input channel ours reads the patches through an `as_strided` view
of the padded input and contracts in one einsum. Its Linear sampler goes through einsum twice; ours is
one broadcast multiply. docs/performance.md gives the measurements. Every other case (more input
channels, grouped convolutions, string or non-zero padding modes, an empty batch, Linear layers on
sequences) goes to Opacus' sampler unchanged.

tests/test_engine_samplers.py checks the result against Opacus' functorch per-sample gradients on
real batches of every shipped model.
"""
from __future__ import annotations

import contextlib

import torch
from opacus.grad_sample import GradSampleHooks, register_grad_sampler
from opacus.grad_sample.conv import compute_conv_grad_sample
from opacus.grad_sample.linear import compute_linear_grad_sample
from torch import nn
from torch.nn import functional as F

# Opacus' samplers for the layer types this module replaces, as registered before it ran
OPACUS = {cls: GradSampleHooks.GRAD_SAMPLERS[cls] for cls in (nn.Conv2d, nn.Linear)}


def _strided_case(layer: nn.Conv2d, a: torch.Tensor) -> bool:
    return (type(layer) is nn.Conv2d and layer.groups == 1 and not isinstance(layer.padding, str)
            and layer.padding_mode == "zeros" and a.dim() == 4 and len(a) > 0)


@register_grad_sampler(nn.Conv2d)
def conv2d_grad_sample(layer: nn.Conv2d, activations: list[torch.Tensor],
                       backprops: torch.Tensor) -> dict[nn.Parameter, torch.Tensor]:
    """Opacus' grad-sampler signature: the per-sample gradients of `layer`'s parameters from the
    layer's inputs (`activations`) and the gradients at its output (`backprops`, already rescaled by
    Opacus for the loss reduction)."""
    a = activations[0]
    if not _strided_case(layer, a):
        return compute_conv_grad_sample(layer, activations, backprops)
    a = a.to(backprops.dtype)
    (ph, pw), (sh, sw), (dh, dw) = layer.padding, layer.stride, layer.dilation
    kh, kw = layer.kernel_size
    padded = (F.pad(a, (pw, pw, ph, ph)) if ph or pw else a).contiguous()  # the strides below assume NCHW
    n, c, h, w = padded.shape
    k, ho, wo = backprops.shape[1:]
    out = {}
    if layer.weight.requires_grad:
        if c == 1:
            # an image's first layer: the patches with the kernel innermost, contracted in one einsum
            patches = padded.as_strided((n, c, ho, wo, kh, kw), (c * h * w, h * w, sh * w, sw, dh * w, dw))
            out[layer.weight] = torch.einsum("nkhw,nchwij->nkcij", backprops, patches)
        else:
            # more channels: the patches gathered once as (channel, kernel) × position — what unfold
            # makes, without its index arithmetic — then one batched product
            patches = padded.as_strided((n, c, kh, kw, ho, wo), (c * h * w, h * w, dh * w, dw, sh * w, sw))
            out[layer.weight] = torch.bmm(backprops.reshape(n, k, ho * wo),
                                          patches.reshape(n, c * kh * kw, ho * wo).transpose(1, 2)
                                          ).view(n, k, c, kh, kw)
    if layer.bias is not None and layer.bias.requires_grad:
        out[layer.bias] = backprops.sum((2, 3))
    return out


@register_grad_sampler(nn.Linear)
def linear_grad_sample(layer: nn.Linear, activations: list[torch.Tensor],
                       backprops: torch.Tensor) -> dict[nn.Parameter, torch.Tensor]:
    """Per-sample gradients of a Linear layer on flat (n, features) inputs: the outer products gᵢaᵢᵀ
    as one broadcast multiply, and the bias gradient is gᵢ itself (Opacus' sampler forms both with
    einsum, whose dispatch and reduction cost more than the arithmetic on the small models)."""
    a = activations[0]
    if type(layer) is not nn.Linear or a.dim() != 2:
        return compute_linear_grad_sample(layer, activations, backprops)
    out = {}
    if layer.weight.requires_grad:
        out[layer.weight] = backprops.unsqueeze(2) * a.to(backprops.dtype).unsqueeze(1)
    if layer.bias is not None and layer.bias.requires_grad:
        out[layer.bias] = backprops
    return out


OURS = {nn.Conv2d: conv2d_grad_sample, nn.Linear: linear_grad_sample}


@contextlib.contextmanager
def opacus_defaults():
    """Opacus' own grad samplers for the duration (the benchmark's "Opacus as it comes"). Process-wide:
    not for use while another thread trains."""
    for cls, fn in OPACUS.items():
        register_grad_sampler(cls)(fn)
    try:
        yield
    finally:
        for cls, fn in OURS.items():
            register_grad_sampler(cls)(fn)
