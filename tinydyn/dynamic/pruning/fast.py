"""Inference on raw arrays: the encoder layer without the autograd engine's dispatch.

Every autograd op checks its inputs, builds a Tensor and consults its observers: about 10 µs
a call on this machine, whatever the size. A Transformer layer runs about thirty of them, so at
width 32 a layer on 2 tokens costs most of a layer on 100, and token pruning saves little at
batch 1 (see the bench). :func:`fast_layer` runs the same arithmetic as
:func:`~tinydyn.dynamic.pruning.common.encoder_layer` in eval mode with NumPy calls and the
engine's own kernels (the fused masked softmax and layer norm), so the fixed cost per layer
drops and the saving of fewer tokens shows. It charges its FLOPs to active
:class:`~tinydyn.measure.flops.FlopCounter` s analytically (same total as the ops it replaces).

Both sides of a comparison use it: :func:`fast_forward` is the full encoder classifier, and
``hard_forward(..., fast=True)`` the pruned one.
"""

from __future__ import annotations

import math

import numpy as np

from tinydyn._checks import fail
from tinydyn.kernels.layer_norm import layer_norm_forward
from tinydyn.kernels.softmax import masked_softmax_forward
from tinydyn.measure import flops as _flops
from tinydyn.measure.flops import linear_flops, transformer_layer_flops
from tinydyn.nn.attention import TransformerEncoderLayer

__all__ = ["charge", "fast_head", "fast_layer"]


def charge(flops: int, label: str) -> None:
    """:func:`~tinydyn.measure.flops.add_flops`, skipped when no counter is active (its
    argument check costs a few µs a call, which the fast path pays a dozen times)."""
    if _flops._active:  # the counters open right now
        _flops.add_flops(int(flops), label)


def _norm(norm, x2):
    return layer_norm_forward(x2, norm.weight.data, norm.bias.data, norm.eps)[0]


def fast_layer(layer: TransformerEncoderLayer, x: np.ndarray, pad: np.ndarray):
    """One eval-mode encoder layer on x (B, T, D) ndarray -> ``(out (B, T, D), probs
    (B, H, T, T))``; ``pad`` (B, T) bool excludes keys. Post-norm, ReLU (the pruning models')."""
    if layer.norm_first or layer.activation != "relu" or layer.training:
        fail("fast_layer", "layer must be a post-norm ReLU TransformerEncoderLayer in eval mode")
    B, T, D = x.shape
    attn = layer.self_attn
    H, hd = attn.num_heads, attn.head_dim
    x2 = x.reshape(B * T, D)
    qkv = x2 @ attn.in_proj_weight.data.T  # one GEMM for q, k and v (same sums, one call)
    qkv += attn.in_proj_bias.data
    qkv = qkv.reshape(B, T, 3, H, hd).transpose(2, 0, 3, 1, 4)  # (3, B, H, T, hd)
    scores = qkv[0] @ qkv[1].transpose(0, 1, 3, 2)
    probs = masked_softmax_forward(scores, pad, 1.0 / math.sqrt(hd))
    context = (probs @ qkv[2]).transpose(0, 2, 1, 3).reshape(B * T, D)
    h = context @ attn.out_proj.weight.data.T
    h += attn.out_proj.bias.data
    h += x2
    h = _norm(layer.norm1, h)
    f = h @ layer.linear1.weight.data.T
    f += layer.linear1.bias.data
    np.maximum(f, 0, out=f)
    out = f @ layer.linear2.weight.data.T
    out += layer.linear2.bias.data
    out += h
    out = _norm(layer.norm2, out)
    charge(transformer_layer_flops(T, D, H, layer.dim_feedforward, batch=B), "fast layer")
    return out.reshape(B, T, D), probs


def fast_head(head, cls_states: np.ndarray) -> np.ndarray:
    """The linear head on the [CLS] states (B, D) -> logits (B, C)."""
    logits = cls_states @ head.weight.data.T
    logits += head.bias.data
    charge(linear_flops(head.in_features, head.out_features, len(cls_states)), "fast head")
    return logits
