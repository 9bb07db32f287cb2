"""Reductions over ``dim`` (None = all dims, an int, or a tuple) with ``keepdim``."""

from __future__ import annotations

import numpy as np

from tinydyn._checks import normalize_dims
from tinydyn.autograd.function import Function
from tinydyn.autograd.tensor import Tensor

__all__ = ["sum","mean"]


def _expand_back(grad, shape, axes, keepdim):
    """Reshape a reduced gradient so it broadcasts against the input of ``shape``."""
    if axes is None:  # the common case of a full reduction: a filled array is cheapest
        return np.full(shape, grad, dtype=grad.dtype)
    if not keepdim:
        grad = np.expand_dims(grad, axes)
    return np.broadcast_to(grad, shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axes=None, keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        return np.asarray(a.sum(axis=axes, keepdims=keepdim))

    @staticmethod
    def backward(ctx, grad):
        return _expand_back(grad, ctx.shape, ctx.axes, ctx.keepdim)


class Mean(Function):
    @staticmethod
    def forward(ctx, a, axes=None, keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        ctx.count = a.size // max(1, np.asarray(a.sum(axis=axes, keepdims=keepdim)).size)
        return np.asarray(a.mean(axis=axes, keepdims=keepdim))

    @staticmethod
    def backward(ctx, grad):
        return _expand_back(grad / ctx.count, ctx.shape, ctx.axes, ctx.keepdim)


def sum(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001 - mirrors torch
    """Sum over ``dim`` (all elements when None)."""
    return Sum.apply(a, axes=normalize_dims("sum", dim, a.ndim), keepdim=keepdim)


def mean(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Mean over ``dim`` (all elements when None)."""
    return Mean.apply(a, axes=normalize_dims("mean", dim, a.ndim), keepdim=keepdim)
