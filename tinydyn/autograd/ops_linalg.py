"""Linear algebra: batched matrix multiplication, and the fused affine map of a linear layer."""

from __future__ import annotations

import numpy as np

from tinydyn._checks import fail
from tinydyn.autograd.function import Function
from tinydyn.autograd.tensor import Tensor

__all__ = ["linear", "matmul"]


class MatMul(Function):
    """a @ b with NumPy's rules: 1-D operands are promoted, batch dimensions broadcast."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        if a.ndim == 1 and b.ndim == 1:  # dot product: grad is a scalar
            return grad * b, grad * a
        if a.ndim == 1:  # (k,) @ (..., k, n) -> (..., n)
            grad_a = (grad[..., None, :] @ np.swapaxes(b, -1, -2))[..., 0, :]
            grad_b = a[:, None] * grad[..., None, :]
            return grad_a, grad_b
        if b.ndim == 1:  # (..., m, k) @ (k,) -> (..., m)
            grad_a = grad[..., :, None] * b
            grad_b = (np.swapaxes(a, -1, -2) @ grad[..., :, None])[..., 0]
            return grad_a, grad_b
        return grad @ np.swapaxes(b, -1, -2), np.swapaxes(a, -1, -2) @ grad


def matmul(a, b) -> Tensor:
    """Matrix product ``a @ b``; leading (batch) dimensions broadcast.

    Shapes: (..., m, k) @ (..., k, n) -> (..., m, n); a 1-D operand is a vector.
    """
    for name, x in (("input", a), ("other", b)):
        if not isinstance(x, (Tensor, np.ndarray)):
            fail("matmul", f"{name} must be a Tensor, got {type(x).__name__}", TypeError)
    sa = a.shape
    sb = b.shape
    if len(sa) == 0 or len(sb) == 0:
        fail("matmul", f"both operands need at least 1 dimension, got shapes {sa} and {sb}")
    ka = sa[-1]
    kb = sb[0] if len(sb) == 1 else sb[-2]
    if ka != kb:
        fail("matmul", f"shapes {sa} and {sb} do not align: {ka} != {kb}")
    if len(sa) > 2 and len(sb) > 2:
        try:
            np.broadcast_shapes(sa[:-2], sb[:-2])
        except ValueError:
            fail("matmul", f"batch dimensions of shapes {sa} and {sb} cannot be broadcast")
    return MatMul.apply(a, b)


class Linear(Function):
    """``x @ weight.T + bias`` as one op on x viewed as a matrix (rows = all leading dims).

    Composed, it is three ops (transpose, matmul, add): the add allocates the output twice and
    its backward reduces the bias gradient through ``unbroadcast``. Fused, the bias is added in
    place, and the backward is three products: ``dx = g @ W``, ``dW = g.T @ x``,
    ``db = ones @ g`` (BLAS sums the rows faster than a strided ``sum(axis=0)``).
    """

    @staticmethod
    def forward(ctx, x, weight, *bias):
        rows = x.reshape(-1, x.shape[-1])
        out = rows @ weight.T
        if bias:
            out += bias[0]
        ctx.save_for_backward(rows, weight)
        ctx.shape = x.shape
        return out.reshape(*x.shape[:-1], weight.shape[0])

    @staticmethod
    def backward(ctx, grad):
        rows, weight = ctx.saved
        needs = ctx.needs_input_grad
        g = grad.reshape(-1, weight.shape[0])
        dx = (g @ weight).reshape(ctx.shape) if needs[0] else None
        dw = g.T @ rows if needs[1] else None
        if len(needs) == 2:
            return dx, dw
        db = np.ones(g.shape[0], g.dtype) @ g if needs[2] else None
        return dx, dw, db

    @staticmethod
    def flops(arrays, out, kwargs):
        """2 per multiply-add, plus one per output for the bias (as ``linear_flops``)."""
        k = arrays[1].shape[1]
        return out.size * (2 * k + (1 if len(arrays) > 2 else 0))


def linear(x, weight, bias=None) -> Tensor:
    """``x @ weight.T + bias`` in one op: x (..., in), weight (out, in), bias (out,) or None
    -> (..., out). Same result as ``matmul(x, weight.T) + bias``, fewer temporaries."""
    fn = "linear"
    for name, t in (("input", x), ("weight", weight), ("bias", bias)):
        if t is None and name == "bias":
            continue
        if not isinstance(t, Tensor):
            fail(fn, f"{name} must be a Tensor, got {type(t).__name__}", TypeError)
        if t.dtype.kind != "f" or t.dtype != x.dtype:
            fail(fn, f"{name} must have the input's floating dtype {x.dtype}, got {t.dtype}",
                 TypeError)
    if weight.ndim != 2:
        fail(fn, f"weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    if x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        fail(fn, f"input's last dimension must equal weight.shape[1] = {weight.shape[1]}, got "
             f"input of shape {x.shape}")
    if bias is None:
        return Linear.apply(x, weight)
    if bias.shape != (weight.shape[0],):
        fail(fn, f"bias must have shape ({weight.shape[0]},), got {bias.shape}")
    return Linear.apply(x, weight, bias)
