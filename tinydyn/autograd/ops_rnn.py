"""Recurrent ops: a whole-sequence LSTM on the fused kernel of :mod:`tinydyn.kernels.lstm`.

An autograd op returns one array, but an LSTM has three outputs (all hidden states, the final
h and the final c) and each may feed the loss. So the op is split in two:

* :class:`LSTM` runs the kernel and returns its packed ``states`` array (T+2, B, H), which
  holds ``h_0, h_1 .. h_T, c_T`` time-major; its backward is the kernel's backward.
* :class:`_Unpack` picks one output out of ``states`` (a view, no copy); its backward puts the
  gradient back in place. The engine adds the three unpackings' gradients, and the LSTM
  backward sees the gradient of the packed array, just as if it had three outputs.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import fail
from tinydyn.autograd.function import Function
from tinydyn.autograd.tensor import Tensor
from tinydyn.kernels.lstm import lstm_backward_packed, lstm_forward

__all__ = ["lstm"]


class LSTM(Function):
    """One LSTM layer over a whole sequence; returns the packed states (T+2, B, H)."""

    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, bias, mask):
        *_, saved = lstm_forward(x, h0, c0, w_ih, w_hh, bias, mask)
        ctx.save_for_backward(saved, w_ih, w_hh)
        return saved.states

    @staticmethod
    def backward(ctx, grad):
        saved, w_ih, w_hh = ctx.saved
        # (dx, dh0, dc0, dw_ih, dw_hh, dbias, dmask): one per input, in order
        return lstm_backward_packed(saved, w_ih, w_hh, grad)


class _Unpack(Function):
    """``hs`` (B, T, H), ``h_T`` or ``c_T`` (B, H) out of the packed states (T+2, B, H)."""

    @staticmethod
    def forward(ctx, states, part=None):
        ctx.shape, ctx.part = states.shape, part
        T = states.shape[0] - 2
        if part == "hs":
            return states[1:T + 1].transpose(1, 0, 2)
        return states[T] if part == "h" else states[T + 1]

    @staticmethod
    def backward(ctx, grad):
        out = np.zeros(ctx.shape, grad.dtype)
        T = ctx.shape[0] - 2
        if ctx.part == "hs":
            out[1:T + 1] = grad.transpose(1, 0, 2)
        else:
            out[T if ctx.part == "h" else T + 1] = grad
        return out


def _check(name: str, value, shape: tuple, what: str, dtype) -> None:
    """``value`` must be a Tensor or ndarray of ``shape`` and ``dtype``."""
    if not isinstance(value, (Tensor, np.ndarray)):
        fail("lstm", f"{name} must be a Tensor, got {type(value).__name__}", TypeError)
    if value.dtype != dtype:
        fail("lstm", f"{name} must have the dtype of x ({dtype}), got dtype {value.dtype}",
             TypeError)
    if tuple(value.shape) != shape:
        fail("lstm", f"{name} must have shape {what} = {shape}, got shape {tuple(value.shape)}")


def lstm(x, h0, c0, w_ih, w_hh, bias, mask=None):
    """A one-layer LSTM over a whole batch-first sequence, differentiable in every input.

    Gate order i, f, g, o (as in PyTorch)::

        i, f, g, o = split(x_t @ w_ih.T + bias + h_{t-1} @ w_hh.T)    (sigmoid, tanh for g)
        c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)

    Where ``mask[b, t]`` is 0 the step is padding: h and c are carried over unchanged. A float
    mask in [0, 1] interpolates ``m * new + (1 - m) * old`` and is differentiable too.

    Args:
        x: (B, T, I) float32 or float64.
        h0, c0: (B, H) initial state, or None for zeros.
        w_ih: (4H, I); w_hh: (4H, H); bias: (4H,) or None (PyTorch's b_ih + b_hh).
        mask: (B, T) bool, or float of the dtype of x; None means no padding.

    Returns:
        ``(hs, h_T, c_T)``: all hidden states (B, T, H) and the final state (B, H) each. With
        padding at the end of a sequence, h_T and c_T are its state after its last real step.
    """
    if not isinstance(x, (Tensor, np.ndarray)):
        fail("lstm", f"x must be a Tensor, got {type(x).__name__}", TypeError)
    if x.dtype not in (np.float32, np.float64):
        fail("lstm", f"x must be float32 or float64, got dtype {x.dtype}", TypeError)
    if x.ndim != 3:
        fail("lstm", f"x must be 3-D (batch, time, input), got shape {tuple(x.shape)}")
    B, T, I = x.shape
    if not isinstance(w_hh, (Tensor, np.ndarray)):
        fail("lstm", f"w_hh must be a Tensor, got {type(w_hh).__name__}", TypeError)
    if w_hh.ndim != 2 or w_hh.shape[0] != 4 * w_hh.shape[1] or w_hh.shape[1] == 0:
        fail("lstm", f"w_hh must have shape (4*hidden, hidden) with hidden >= 1, got shape "
             f"{tuple(w_hh.shape)}")
    H = w_hh.shape[1]
    dtype = x.dtype
    _check("w_hh", w_hh, (4 * H, H), "(4*hidden, hidden)", dtype)
    _check("w_ih", w_ih, (4 * H, I), "(4*hidden, input)", dtype)
    if bias is None:
        bias = np.zeros(4 * H, dtype)
    _check("bias", bias, (4 * H,), "(4*hidden,)", dtype)
    if h0 is None:
        h0 = np.zeros((B, H), dtype)
    _check("h0", h0, (B, H), "(batch, hidden)", dtype)
    if c0 is None:
        c0 = np.zeros((B, H), dtype)
    _check("c0", c0, (B, H), "(batch, hidden)", dtype)
    if mask is None:
        mask = np.ones((B, T), dtype)
    if not isinstance(mask, (Tensor, np.ndarray)):
        fail("lstm", f"mask must be a Tensor, got {type(mask).__name__}", TypeError)
    if mask.dtype not in (np.bool_, dtype):
        fail("lstm", f"mask must be bool or {dtype} (the dtype of x), got dtype {mask.dtype}",
             TypeError)
    if tuple(mask.shape) != (B, T):
        fail("lstm", f"mask must have shape (batch, time) = {(B, T)}, got shape "
             f"{tuple(mask.shape)}")
    states = LSTM.apply(x, h0, c0, w_ih, w_hh, bias, mask)
    return (_Unpack.apply(states, part="hs"), _Unpack.apply(states, part="h"),
            _Unpack.apply(states, part="c"))
