"""Per-sample clipped gradient sums in one backward pass, for models built of Linear and Conv2d layers.

DP-SGD needs Σᵢ clip(∇ℓᵢ, C). Opacus gets it by storing every per-sample gradient (grad_sample) and
then clipping; for the small models the explorer trains, that bookkeeping costs more than the model.
Here one backward pass gives each layer's output gradient gᵢ; the per-sample norms follow without
materialising per-sample weight gradients where a layer allows it (Linear: ‖gᵢ aᵢᵀ‖ = ‖gᵢ‖·‖aᵢ‖, the
"ghost norm"), and the clipped sum is one weighted matmul per layer, Σᵢ cᵢ gᵢ aᵢᵀ = (c⊙g)ᵀa.
Conv2d layers materialise per-sample gradients from a strided view of the input (small kernels).

The result is the same quantity Opacus computes (tests/test_train.py compares them on real batches);
noise and sampling stay in train.py.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

SUPPORTED = (nn.Linear, nn.Conv2d)


class PerSampleClipper:
    """Wrap an nn.Sequential once; `clipped_sum(x, y, C)` adds the sum of the batch's clipped per-sample
    gradients to each parameter's .grad and returns the summed loss. The forward pass walks the
    Sequential itself and keeps each layer's input and output (forward hooks cost more than the small
    models' layers)."""

    def __init__(self, model: nn.Module):
        if not isinstance(model, nn.Sequential):
            raise TypeError(f"per-sample clipping supports nn.Sequential models, not {type(model).__name__}")
        self.children = list(model)
        self.layers = []  # positions of the children that own parameters
        for i, module in enumerate(self.children):
            if not any(p.requires_grad for p in module.parameters()):
                continue
            if not isinstance(module, SUPPORTED) or (isinstance(module, nn.Conv2d) and module.groups != 1):
                raise TypeError(f"per-sample clipping supports Linear and Conv2d (groups=1) layers, "
                                f"not {type(module).__name__}")
            if isinstance(module, nn.Conv2d) and (isinstance(module.padding, str)
                                                  or module.padding_mode != "zeros"):
                raise TypeError("per-sample clipping supports Conv2d with numeric zero padding only")
            self.layers.append(i)
        # a first Linear fed by the flattened input sees the same rows every epoch: its ‖aᵢ‖² can be
        # computed once per dataset (input_norms) instead of on every batch (on the full-MNIST head's
        # 3,969 ScatterNet features that per-batch sum was a quarter of the DP step)
        first = self.layers[0] if self.layers else None
        self.input_linear = (first is not None and isinstance(self.children[first], nn.Linear)
                             and all(isinstance(m, nn.Flatten) for m in self.children[:first]))

    def input_norms(self, x: torch.Tensor, chunk: int = 4096) -> torch.Tensor | None:
        """‖xᵢ‖² (+ 1 for the bias) of every row, the first layer's part of the per-sample norms, to
        pass to clipped_sum as `input_sq`; None where the first layer is not a Linear on the input."""
        if not self.input_linear:
            return None
        bias = self.children[self.layers[0]].bias is not None
        with torch.no_grad():
            parts = [torch.linalg.vecdot(c, c) for c in x.flatten(1).split(chunk)]
            sq = torch.cat(parts) if parts else x.new_zeros(0)
            return sq + 1.0 if bias else sq

    def clipped_sum(self, x: torch.Tensor, y: torch.Tensor, clip: float, scale: float = 1.0,
                    loss_fn=F.cross_entropy, input_sq: torch.Tensor | None = None) -> torch.Tensor:
        """Add scale · Σᵢ clip(∇ℓᵢ, C) to each parameter's .grad (which must exist); return Σᵢ ℓᵢ.
        `input_sq`: this batch's rows of input_norms(x_train), if the caller has them."""
        inputs, outputs, h = [], [], x
        for i, module in enumerate(self.children):
            a, h = h, module(h)
            if i in self.layers:
                inputs.append(a.detach())
                outputs.append(h)
        total = loss_fn(h, y, reduction="sum")
        # gradients of Σᵢ ℓᵢ w.r.t. each layer's output: row i is example i's own gradient
        grads = torch.autograd.grad(total, outputs)
        with torch.no_grad():
            parts, sq = [], None  # sq: each example's squared gradient norm over all layers
            for i, a, g in zip(self.layers, inputs, grads):
                module = self.children[i]
                if isinstance(module, nn.Linear):
                    if a.dim() != 2:
                        raise TypeError("per-sample clipping supports Linear layers on flat inputs only")
                    if input_sq is None or i != self.layers[0]:
                        a_sq = torch.linalg.vecdot(a, a)
                        a_sq = a_sq + 1.0 if module.bias is not None else a_sq
                    else:
                        a_sq = input_sq
                    layer_sq = torch.linalg.vecdot(g, g) * a_sq
                    parts.append((module, a, g))
                else:
                    per_sample = _conv_per_sample(module, a, g)  # B × C_out × C_in × kh × kw
                    layer_sq = per_sample.pow(2).flatten(1).sum(1)
                    bias = g.sum((2, 3)) if module.bias is not None else None
                    if bias is not None:
                        layer_sq += bias.pow(2).sum(1)
                    parts.append((module, per_sample, bias))
                sq = layer_sq if sq is None else sq + layer_sq
            # Opacus' factor min(1, C / (‖g‖ + 1e-6)), times `scale`, so both paths clip identically
            # (in place: a Python scalar divided by a tensor costs a scalar-to-tensor copy per step)
            factors = sq.sqrt_().add_(1e-6).reciprocal_().mul_(clip * scale).clamp_(max=scale)
            for module, first, second in parts:
                if isinstance(module, nn.Linear):
                    weighted = second * factors[:, None]
                    module.weight.grad.addmm_(weighted.t(), first)
                    if module.bias is not None:
                        module.bias.grad += weighted.sum(0)
                else:
                    module.weight.grad += torch.einsum("b,bkcij->kcij", factors, first)
                    if second is not None:
                        module.bias.grad += factors @ second
        return total.detach()


def _conv_per_sample(module: nn.Conv2d, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Per-sample weight gradients of a Conv2d from a strided view of the padded input: the patches
    are never copied out (F.unfold + bmm took 4× longer on the first MNIST layer)."""
    (ph, pw), (sh, sw), (dh, dw) = module.padding, module.stride, module.dilation
    kh, kw = module.kernel_size
    padded = F.pad(a, (pw, pw, ph, ph)).contiguous()
    b, c, h, w = padded.shape
    ho, wo = g.shape[2], g.shape[3]
    patches = padded.as_strided((b, c, ho, wo, kh, kw), (c * h * w, h * w, sh * w, sw, dh * w, dw))
    return torch.einsum("bkhw,bchwij->bkcij", g, patches)
