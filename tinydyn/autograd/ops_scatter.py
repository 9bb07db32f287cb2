"""Indexing ops that write by index: scatter_add, index_add, masked_fill.

The mirror of :mod:`tinydyn.autograd.ops_index`: what a forward *adds* at an index, its backward
*reads* back at that index (and a repeated index accumulates in the forward, through
``np.add.at`` or the scatter-add kernel). Index checks are shared with ops_index.
"""

from __future__ import annotations

import numbers

import numpy as np

from tinydyn._checks import fail, normalize_dim
from tinydyn.autograd.function import Function
from tinydyn.autograd.ops_index import (
    _check_along_dim,
    _check_range,
    _check_tensor,
    _coordinates,
    _crop,
    _index_array,
)
from tinydyn.autograd.tensor import Tensor
from tinydyn.kernels.scatter import scatter_add_rows

__all__ = ["index_add", "masked_fill", "scatter_add"]


# ---- scatter_add / index_add ----------------------------------------------------------------


class ScatterAdd(Function):
    @staticmethod
    def forward(ctx, a, src, index=None, dim=0):
        ctx.index, ctx.dim, ctx.src_shape = index, dim, src.shape
        out = a.copy()
        np.add.at(out, _coordinates(index, dim), src[_crop(index.shape)])
        return out

    @staticmethod
    def backward(ctx, grad):
        # src[i][j][k] went to out[index[i][j][k]][j][k], so its gradient is read back there
        grad_src = np.zeros(ctx.src_shape, dtype=grad.dtype)
        grad_src[_crop(ctx.index.shape)] = grad[_coordinates(ctx.index, ctx.dim)]
        return grad, grad_src


class IndexAdd(Function):
    @staticmethod
    def forward(ctx, a, source, index=None, dim=0):
        ctx.index, ctx.dim = index, dim
        out = a.copy()
        if dim == 0 and out.dtype in (np.float32, np.float64):  # the kernel's dtypes
            width = int(np.prod(out.shape[1:]))
            flat = out.reshape(out.shape[0], width)  # a view of the fresh copy
            scatter_add_rows(flat, index,
                             np.ascontiguousarray(source).reshape(index.size, width))
        else:
            np.add.at(out, (slice(None),) * dim + (index,), source)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad, np.take(grad, ctx.index, axis=ctx.dim)


def _check_source(fn: str, name: str, a: Tensor, src) -> Tensor:
    if isinstance(src, np.ndarray):
        src = Tensor(src, _copy=False)
    _check_tensor(fn, name, src)
    if src.dtype != a.dtype:
        fail(fn, f"{name} must have the dtype of the input ({a.dtype}), got dtype {src.dtype}",
             TypeError)
    return src


def scatter_add(a: Tensor, dim: int, index, src) -> Tensor:
    """A copy of ``a`` with ``src[i][j][k]`` added at ``[index[i][j][k]][j][k]`` (dim=0);
    repeats accumulate. ``index.shape[k] <= src.shape[k]`` for all k, ``<= a.shape[k]`` for
    ``k != dim`` (torch.scatter_add semantics). Differentiable in ``a`` and ``src``."""
    _check_tensor("scatter_add", "a", a)
    src = _check_source("scatter_add", "src", a, src)
    index = _index_array("scatter_add", "index", index)
    dim = normalize_dim("scatter_add", dim, a.ndim)
    _check_along_dim("scatter_add", a, index, dim, "index")
    if src.ndim != a.ndim:
        fail("scatter_add", f"src must have as many dimensions as the input ({a.ndim}), got "
             f"shape {src.shape}")
    for k in range(a.ndim):
        if index.shape[k] > src.shape[k] or (k != dim and index.shape[k] > a.shape[k]):
            fail("scatter_add", f"index shape {index.shape} is larger than src shape "
                 f"{src.shape} or input shape {a.shape} in dimension {k}")
    return ScatterAdd.apply(a, src, index=index, dim=dim)


def index_add(a: Tensor, dim: int, index, source) -> Tensor:
    """A copy of ``a`` with ``source`` slice ``i`` added at position ``index[i]`` of ``dim``;
    repeats accumulate. ``index`` is 1-D (N,), ``source`` is ``a``'s shape with N at ``dim``."""
    _check_tensor("index_add", "a", a)
    source = _check_source("index_add", "source", a, source)
    index = _index_array("index_add", "index", index)
    dim = normalize_dim("index_add", dim, a.ndim)
    if index.ndim != 1:
        fail("index_add", f"index must be 1-D, got shape {index.shape}")
    expected = a.shape[:dim] + (index.size,) + a.shape[dim + 1:]
    if source.shape != expected:
        fail("index_add", f"source must have shape {expected} (input shape with len(index) "
             f"at dim {dim}), got shape {source.shape}")
    _check_range("index_add", "index", index, a.shape[dim],
                 f"dimension {dim} of size {a.shape[dim]}")
    return IndexAdd.apply(a, source, index=index.astype(np.int64, copy=False), dim=dim)


# ---- masked_fill ----------------------------------------------------------------------------


class MaskedFill(Function):
    @staticmethod
    def forward(ctx, a, value, mask=None):
        ctx.mask = mask
        return np.where(mask, value, a).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        # filled positions no longer depend on a: their gradient goes to value instead
        grad_a = np.where(ctx.mask, 0, grad)
        if not ctx.needs_input_grad[1]:  # a constant fill value (the usual case): skip its sum
            return grad_a, None
        return grad_a, np.where(ctx.mask, grad, 0).sum()


def masked_fill(a: Tensor, mask, value) -> Tensor:
    """``a`` with ``value`` wherever the boolean ``mask`` (broadcastable with ``a``) is True.
    ``value`` is a number or a 0-d Tensor (then it receives a gradient too)."""
    _check_tensor("masked_fill", "a", a)
    mask_array = mask.data if isinstance(mask, Tensor) else mask
    if not isinstance(mask_array, np.ndarray):
        fail("masked_fill", f"mask must be a boolean Tensor or ndarray, got "
             f"{type(mask).__name__}", TypeError)
    if mask_array.dtype != bool:
        fail("masked_fill", f"mask must be boolean, got dtype {mask_array.dtype}", TypeError)
    try:
        np.broadcast_shapes(a.shape, mask_array.shape)
    except ValueError:
        fail("masked_fill", f"mask of shape {mask_array.shape} does not broadcast with input "
             f"shape {a.shape}")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            fail("masked_fill", f"value must be a number or a 0-d Tensor, got a Tensor of "
                 f"shape {value.shape}")
    elif isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail("masked_fill", f"value must be a number or a 0-d Tensor, got "
             f"{type(value).__name__} {value!r}", TypeError)
    return MaskedFill.apply(a, value, mask=mask_array)
