"""Small CNNs whose convolutions are static, DY-Conv or CondConv, for the tasks of spec B.3.

    x -> [conv 3x3 -> BatchNorm -> ReLU] x depth -> global average pool -> linear -> logits

Every convolution, the stem included, is of the chosen kind: in a two-layer network the stem's
pooled input is where a global context lives (the image's mean), and the paper's ablation
found making more layers dynamic helps. ``kind="static"`` is the baseline of the same width.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_int, fail
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.dyconv.cost import dynamic_conv_cost, static_conv_cost
from tinydyn.dynamic.dyconv.layers import CondConv2d, DynamicConv2d, MixtureConv2d
from tinydyn.measure.flops import count_flops
from tinydyn.nn.containers import Sequential
from tinydyn.nn.conv import BatchNorm2d, Conv2d, GlobalAvgPool2d
from tinydyn.nn.layers import Linear, ReLU
from tinydyn.nn.module import Module

__all__ = ["KINDS", "DyConvNet", "overhead_by_size"]

KINDS = ("static", "dyconv", "condconv")


class DyConvNet(Module):
    """A narrow CNN: ``depth`` 3x3 convolutions of ``width`` channels, GAP, a linear head.

    x (N, in_channels, H, W) -> logits (N, num_classes). ``num_kernels`` is K (DY-Conv) or the
    number of experts (CondConv); DY-Conv's attention has ``max(4, C // reduction)`` hidden
    units.
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 8, depth: int = 2,
                 kind: str = "dyconv", num_kernels: int = 4, reduction: int = 4,
                 batch_norm: bool = True, rng=None, dtype=np.float32):
        super().__init__()
        fn = "DyConvNet"
        if kind not in KINDS:
            fail(fn, f"kind must be one of {KINDS}, got {kind!r}")
        self.kind = kind
        check_int(fn, "in_channels", in_channels, min_value=1)
        check_int(fn, "num_classes", num_classes, min_value=2)
        self.width = check_int(fn, "width", width, min_value=1)
        self.depth = check_int(fn, "depth", depth, min_value=1)
        rng = get_rng(rng, fn)
        layers, c = [], in_channels
        for _ in range(self.depth):
            if kind == "static":
                conv = Conv2d(c, width, 3, padding=1, rng=rng, dtype=dtype)
            elif kind == "dyconv":
                # at least 4 hidden units: with C // reduction = 1 a single ReLU unit can die
                # and freeze the attention at a constant
                conv = DynamicConv2d(c, width, 3, num_kernels=num_kernels, padding=1,
                                     hidden=max(4, c // reduction), rng=rng, dtype=dtype)
            else:
                conv = CondConv2d(c, width, 3, num_experts=num_kernels, padding=1, rng=rng,
                                  dtype=dtype)
            layers += [conv, BatchNorm2d(width, dtype=dtype), ReLU()] if batch_norm else [
                conv, ReLU()]
            c = width
        self.features = Sequential(*layers, GlobalAvgPool2d())
        self.head = Linear(width, num_classes, rng=rng, dtype=dtype)
        self.num_classes = num_classes

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

    def convs(self) -> list:
        """The convolution layers, input to output."""
        return [m for m in self.features if isinstance(m, (Conv2d, MixtureConv2d))]

    def attention(self) -> list:
        """The last mixing weights (N, K) of each dynamic layer (empty for a static net)."""
        return [m.last_weights for m in self.convs() if isinstance(m, MixtureConv2d)]

    def cost(self, input_hw) -> dict:
        """FLOPs per input of the convolutions: ``conv`` (the convolutions themselves, as in the
        static net) and ``dynamic`` (pooling, routing and aggregation of the dynamic layers).
        The rest (BatchNorm, ReLU, pooling, head) is the same in every kind."""
        h, w = input_hw
        conv = dynamic = 0
        for layer in self.convs():
            if isinstance(layer, MixtureConv2d):
                parts = dynamic_conv_cost(layer, (h, w))
                conv += parts["conv"]
                dynamic += parts["total"] - parts["conv"]
            else:
                conv += static_conv_cost(_as_mixture_shape(layer), (h, w))
        return {"conv": conv, "dynamic": dynamic}


def _as_mixture_shape(conv: Conv2d) -> MixtureConv2d:
    """A one-kernel DynamicConv2d of the same shape, only to reuse the static cost formula."""
    return DynamicConv2d(conv.in_channels, conv.out_channels, conv.kernel_size, num_kernels=1,
                         stride=conv.stride, padding=conv.padding, groups=conv.groups,
                         bias=conv.bias is not None, rng=np.random.default_rng(0))


def overhead_by_size(sizes=(8, 16, 32, 64), width=4, kernels=4) -> list:
    """DY-Conv's FLOP overhead over the static net of the same width (the digits network: 1
    input channel, ``width`` channels, 10 classes) on square inputs of each size, counted by the
    op-level counter. Returns one dict per size: ``size``, ``static_flops``, ``dyconv_flops``,
    ``overhead`` (dyconv / static - 1), ``aggregation_share`` (the aggregation's FLOPs over
    the static network's) and ``bound`` = K / (size * size), the aggregation's share of a
    convolution on maps of that size (every layer keeps the size: 3x3, padding 1)."""
    rows = []
    for s in sizes:
        x = Tensor(np.zeros((2, 1, s, s), np.float32))
        nets = {kind: DyConvNet(1, 10, width=width, kind=kind, num_kernels=kernels,
                                rng=np.random.default_rng(0)).eval()
                for kind in ("static", "dyconv")}
        flops = {kind: count_flops(net, x) / 2 for kind, net in nets.items()}
        aggregation = sum(dynamic_conv_cost(layer, (s, s))["aggregation"]
                          for layer in nets["dyconv"].convs())
        rows.append({"size": s, "static_flops": flops["static"], "dyconv_flops": flops["dyconv"],
                     "overhead": flops["dyconv"] / flops["static"] - 1,
                     "aggregation_share": aggregation / flops["static"],
                     "bound": kernels / (s * s)})
    return rows
