"""Linear algebra: batched matrix multiplication."""

from __future__ import annotations

import numpy as np

from tinydyn._checks import fail
from tinydyn.autograd.function import Function
from tinydyn.autograd.tensor import Tensor

__all__ = ["matmul"]


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
