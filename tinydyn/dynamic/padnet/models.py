"""Turning a fully dynamic network into a partially dynamic one, and its cost.

:func:`to_pad` swaps every DY-Conv layer of a model for a :class:`PadDynamicConv2d` that
carries the same kernels, biases and attention and an all-dynamic mask, so the PAD network
starts out computing exactly what the fully dynamic one computes, from the same initial
weights; only the static kernels are new. :func:`pad_dyconv_net` does this to the small CNN of
:mod:`tinydyn.dynamic.dyconv.models`.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import fail
from tinydyn.autograd.random import get_rng
from tinydyn.dynamic.dyconv.cost import dynamic_conv_cost
from tinydyn.dynamic.dyconv.layers import DynamicConv2d
from tinydyn.dynamic.dyconv.models import DyConvNet
from tinydyn.dynamic.padnet.layers import PadDynamicConv2d
from tinydyn.nn.module import Module

__all__ = ["pad_conv_cost", "pad_dyconv_net", "to_pad"]


def to_pad(model: Module, rng=None, scale_mode: str = "both") -> int:
    """Replace, in place, every DynamicConv2d of ``model`` by its PAD twin (same weights, all
    entries dynamic, static kernels drawn from ``rng``). Returns how many were replaced."""
    if not isinstance(model, Module):
        fail("to_pad", f"model must be a Module, got {type(model).__name__}", TypeError)
    rng = get_rng(rng, "to_pad")
    count = 0
    for module in list(model.modules()):
        for name, child in list(module._modules.items()):
            if isinstance(child, DynamicConv2d) and not isinstance(child, PadDynamicConv2d):
                # written into the ordered registry so a Sequential keeps its order
                module._modules[name] = PadDynamicConv2d.from_dynamic(child, rng, scale_mode)
                count += 1
    return count


def pad_dyconv_net(in_channels: int, num_classes: int, width: int = 8, depth: int = 2,
                   num_kernels: int = 4, rng=None, static_rng=None,
                   dtype=np.float32) -> DyConvNet:
    """The DY-Conv CNN of ``DyConvNet(kind="dyconv", rng=rng)`` with PAD convolutions; with the
    same ``rng`` seed as a fully dynamic net it starts from the same weights."""
    net = DyConvNet(in_channels, num_classes, width=width, depth=depth, kind="dyconv",
                    num_kernels=num_kernels, rng=rng, dtype=dtype)
    to_pad(net, static_rng if static_rng is not None else np.random.default_rng(0))
    return net


def pad_conv_cost(layer, input_hw) -> dict:
    """FLOPs per input of a post-processed PAD DY-Conv: DY-Conv's parts with the aggregation
    over the dynamic entries only (``2 K kappa N`` + the biases' ``2 K O``)."""
    from tinydyn.dynamic.padnet.compress import CompressedDynamicConv2d

    if not isinstance(layer, (PadDynamicConv2d, CompressedDynamicConv2d)):
        fail("pad_conv_cost", f"layer must be a PAD or compressed DY-Conv, got "
             f"{type(layer).__name__}", TypeError)
    shadow = DynamicConv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                           layer.num_kernels, layer.stride, layer.padding, layer.groups,
                           getattr(layer, "bias", None) is not None, hidden=layer.hidden,
                           rng=np.random.default_rng(0))
    parts = dynamic_conv_cost(shadow, input_hw)
    k, o = layer.num_kernels, layer.out_channels
    n_dyn = int(round(layer.dynamic_ratio * int(np.prod(shadow.weight.shape[1:]))))
    parts["aggregation"] = 2 * k * n_dyn + (2 * k * o if shadow.bias is not None else 0)
    parts["total"] = sum(v for key, v in parts.items() if key != "total")
    return parts
