"""Attention's softmax as one op: scale the scores, mask padded keys, softmax over the keys.

``masked_softmax(scores, key_padding_mask, scale)`` equals, up to rounding,
``softmax(masked_fill(scale * scores, mask, MASKED_SCORE), -1)``, but runs as one fused Numba
kernel each way (:mod:`tinydyn.kernels.softmax`) instead of three ops with a temporary each.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_float, fail
from tinydyn.autograd.function import Function
from tinydyn.autograd.tensor import Tensor
from tinydyn.kernels.softmax import (
    MASKED_SCORE,
    masked_softmax_backward,
    masked_softmax_forward,
)

__all__ = ["MASKED_SCORE", "masked_softmax"]


class MaskedSoftmax(Function):
    """scores (B, h, Tq, Tk) -> probabilities of the same shape (``pad`` and ``scale`` fixed)."""

    @staticmethod
    def forward(ctx, scores, pad=None, scale=1.0):
        probs = masked_softmax_forward(scores, pad, scale)
        ctx.save_for_backward(probs)
        ctx.pad, ctx.scale = pad, scale
        return probs

    @staticmethod
    def backward(ctx, grad):
        (probs,) = ctx.saved
        return masked_softmax_backward(probs, grad, ctx.pad, ctx.scale)

    @staticmethod
    def flops(arrays, out, kwargs):
        """Scale, max-subtract, exp, sum, divide: 5 per score (as ``attention_flops``)."""
        return 5 * out.size


def masked_softmax(scores: Tensor, key_padding_mask=None, scale: float = 1.0) -> Tensor:
    """Softmax over the last axis of ``scale * scores``, padded keys given weight 0.

    Args:
        scores: (B, h, Tq, Tk) float Tensor, e.g. ``q @ k.T`` per head.
        key_padding_mask: (B, Tk) bool Tensor or ndarray, True marks a padding key; None: none.
        scale: multiplies the scores first (``1 / sqrt(d)`` in attention).

    Returns (B, h, Tq, Tk) probabilities; each row sums to 1. A row whose keys are all padding
    is a uniform average (finite, where torch gives NaN) and passes no gradient to the scores.
    """
    fn = "masked_softmax"
    if not isinstance(scores, Tensor):
        fail(fn, f"scores must be a Tensor, got {type(scores).__name__}", TypeError)
    if scores.dtype not in (np.float32, np.float64):
        fail(fn, f"scores must be float32 or float64, got dtype {scores.dtype}", TypeError)
    if scores.ndim != 4:
        fail(fn, f"scores must be 4-D (batch, heads, queries, keys), got shape {scores.shape}")
    scale = check_float(fn, "scale", scale)
    B, _, _, Tk = scores.shape
    if key_padding_mask is None:
        pad = np.zeros((B, Tk), bool)
    else:
        pad = key_padding_mask.data if isinstance(key_padding_mask, Tensor) else key_padding_mask
        if not isinstance(pad, np.ndarray):
            fail(fn, f"key_padding_mask must be a bool Tensor or ndarray, got "
                 f"{type(key_padding_mask).__name__}", TypeError)
        if pad.dtype != np.bool_:
            fail(fn, f"key_padding_mask must be boolean (True = padding), got dtype {pad.dtype}",
                 TypeError)
        if pad.shape != (B, Tk):
            fail(fn, f"key_padding_mask must have shape (B, Tk) = {(B, Tk)}, got {pad.shape}")
    return MaskedSoftmax.apply(scores, pad=pad, scale=scale)
