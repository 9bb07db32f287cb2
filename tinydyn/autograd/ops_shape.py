"""Shape ops: they move or copy values without arithmetic, so each backward undoes the move."""

from __future__ import annotations

import numpy as np

from tinydyn._checks import fail, normalize_dim
from tinydyn.autograd.function import Function
from tinydyn.autograd.tensor import Tensor

__all__ = ["reshape","view","permute","transpose"]


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape=None):
        ctx.shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape)


class Permute(Function):
    @staticmethod
    def forward(ctx, a, dims=None):
        ctx.dims = dims
        return np.transpose(a, dims)

    @staticmethod
    def backward(ctx, grad):
        return np.transpose(grad, np.argsort(ctx.dims))


def reshape(a: Tensor, shape) -> Tensor:
    """The same values in a new shape (one entry may be -1)."""
    shape = tuple(int(s) for s in shape)
    known = int(np.prod([s for s in shape if s != -1]))
    if shape.count(-1) > 1 or (
        (-1 in shape and (known == 0 or a.size % known))
        or (-1 not in shape and known != a.size)
    ):
        fail("reshape", f"cannot reshape a tensor of shape {a.shape} ({a.size} elements) "
             f"into shape {shape}")
    return Reshape.apply(a, shape=shape)


view = reshape


def permute(a: Tensor, dims) -> Tensor:
    """Reorder dimensions: output dim i is input dim ``dims[i]``."""
    dims = tuple(dims)
    if sorted(normalize_dim("permute", d, a.ndim) for d in dims) != list(range(a.ndim)):
        fail("permute", f"dims must be a permutation of 0..{a.ndim - 1}, got {dims}")
    dims = tuple(normalize_dim("permute", d, a.ndim) for d in dims)
    return Permute.apply(a, dims=dims)


def transpose(a: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dimensions."""
    d0 = normalize_dim("transpose", dim0, a.ndim, "dim0")
    d1 = normalize_dim("transpose", dim1, a.ndim, "dim1")
    dims = list(range(a.ndim))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return Permute.apply(a, dims=tuple(dims))
