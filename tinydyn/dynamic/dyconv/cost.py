"""The cost of a dynamic convolution for one input, part by part, in FLOPs (2 per multiply-add).

    pool         C*H*W                 global average pooling (one add per pixel)
    routing      DY-Conv: 2*C*h + h (FC1) + h (relu) + 2*h*K + K (FC2) + K (/tau) + 5K (softmax)
                 CondConv: 2*C*K + K (router) + K (sigmoid)
    aggregation  2*K*O*(C/g)*kh*kw + 2*K*O      mixing the kernels and the biases
    conv         Ho*Wo*O*(2*(C/g)*kh*kw + 1)    unchanged from a static convolution

The terms follow the ops the layer runs, so they equal what
:class:`~tinydyn.measure.flops.FlopCounter` records (a test checks it). Only the convolution
grows with the image; on small maps the aggregation is a visible share (see the bench).
"""

from __future__ import annotations

from tinydyn._checks import check_int, fail
from tinydyn.dynamic.dyconv.layers import CondConv2d, DynamicConv2d, MixtureConv2d
from tinydyn.measure.flops import conv2d_flops, linear_flops

__all__ = ["dynamic_conv_cost", "static_conv_cost"]


def _out_hw(layer, input_hw):
    (kh, kw), (sh, sw), (ph, pw) = layer.kernel_size, layer.stride, layer.padding
    h, w = input_hw
    return (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1


def _check_hw(fn, input_hw):
    if not isinstance(input_hw, (tuple, list)) or len(input_hw) != 2:
        fail(fn, f"input_hw must be a pair (H, W), got {input_hw!r}")
    return tuple(check_int(fn, "input_hw", v, min_value=1) for v in input_hw)


def static_conv_cost(layer: MixtureConv2d, input_hw) -> int:
    """FLOPs of the static convolution of the same shape, for one input."""
    fn = "static_conv_cost"
    if not isinstance(layer, MixtureConv2d):
        fail(fn, f"layer must be a DynamicConv2d or CondConv2d, got {type(layer).__name__}",
             TypeError)
    out_hw = _out_hw(layer, _check_hw(fn, input_hw))
    return conv2d_flops(layer.in_channels, layer.out_channels, layer.kernel_size, out_hw,
                        groups=layer.groups, bias=layer.bias is not None)


def dynamic_conv_cost(layer: MixtureConv2d, input_hw) -> dict:
    """FLOPs for one (C, H, W) input: dict with pool, routing, aggregation, conv and total."""
    fn = "dynamic_conv_cost"
    if not isinstance(layer, MixtureConv2d):
        fail(fn, f"layer must be a DynamicConv2d or CondConv2d, got {type(layer).__name__}",
             TypeError)
    h, w = _check_hw(fn, input_hw)
    c, o, k = layer.in_channels, layer.out_channels, layer.num_kernels
    kh, kw = layer.kernel_size
    if isinstance(layer, DynamicConv2d):
        hid = layer.hidden
        routing = linear_flops(c, hid) + hid + linear_flops(hid, k) + k + 5 * k
    elif isinstance(layer, CondConv2d):
        routing = linear_flops(c, k) + k
    else:
        fail(fn, f"no cost model for {type(layer).__name__}", TypeError)
    kernel_size = o * (c // layer.groups) * kh * kw
    aggregation = 2 * k * kernel_size + (2 * k * o if layer.bias is not None else 0)
    parts = {"pool": c * h * w, "routing": routing, "aggregation": aggregation,
             "conv": static_conv_cost(layer, (h, w))}
    parts["total"] = sum(parts.values())
    return parts
