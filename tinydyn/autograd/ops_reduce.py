"""Reductions over ``dim`` (None = all dims, an int, or a tuple) with ``keepdim``.

Every backward has the same first step: put the reduced dimensions back (as size 1) so the
output gradient broadcasts against the input. What differs is the local derivative it is
multiplied by: 1 for sum, 1/n for mean, a mask of the winners for max/min, 2(x - mean)/(n - c)
for var, and softmax(x) for logsumexp.

This module defines functions named ``sum``, ``max`` and ``min`` (as torch does), which shadow
the builtins here; the code below uses NumPy's versions only.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_float_dtype, check_int, fail, normalize_dim, normalize_dims
from tinydyn.autograd.function import Function
from tinydyn.autograd.tensor import Tensor

__all__ = ["sum", "mean", "max", "min", "var", "logsumexp", "argmax", "argmin"]


def _keep(grad, shape, axes, keepdim):
    """Reshape a reduced array so it broadcasts against the input of ``shape``."""
    if axes is None:
        return grad.reshape((1,) * len(shape))
    return grad if keepdim else np.expand_dims(grad, axes)


def _spread(grad, shape, axes, keepdim):
    """The reduced gradient copied back over the reduced dims, in the input's shape.

    A fresh array rather than an ``np.broadcast_to`` view: for the small tensors of a training
    step the copy is several times cheaper than building the view.
    """
    out = np.empty(shape, dtype=grad.dtype)
    out[...] = _keep(grad, shape, axes, keepdim)
    return out


def _drop(kept, axes):
    """The inverse of ``_keep``: remove the size-1 dims left by ``keepdims=True``."""
    return kept.reshape(()) if axes is None else np.squeeze(kept, axis=axes)


def _count(shape, axes) -> int:
    """How many input elements fold into each output element."""
    if axes is None:
        return int(np.prod(shape, dtype=np.int64))
    return int(np.prod([shape[d] for d in axes], dtype=np.int64))


# ---- sum and mean ----------------------------------------------------------------------------


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axes=None, keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        return np.asarray(a.sum(axis=axes, keepdims=keepdim))

    @staticmethod
    def backward(ctx, grad):
        # every input element contributed with weight 1: copy the gradient back over the dims
        return _spread(grad, ctx.shape, ctx.axes, ctx.keepdim)


class Mean(Function):
    @staticmethod
    def forward(ctx, a, axes=None, keepdim=False):
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        ctx.count = _count(a.shape, axes)
        return np.asarray(a.mean(axis=axes, keepdims=keepdim))

    @staticmethod
    def backward(ctx, grad):
        return _spread(grad / ctx.count, ctx.shape, ctx.axes, ctx.keepdim)


# ---- max and min -----------------------------------------------------------------------------


def _extreme_forward(ctx, a, axes, keepdim, reduce):
    kept = reduce(a, axis=axes, keepdims=True)
    ctx.a, ctx.kept = a, kept
    ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
    return kept if keepdim else _drop(kept, axes)


def _extreme_backward(ctx, grad):
    # the gradient goes to the element(s) that won; ties share it evenly (torch.amax's rule),
    # so the input gradient still sums to the output gradient
    winners = ctx.a == ctx.kept
    share = winners / winners.sum(axis=ctx.axes, keepdims=True).astype(grad.dtype)
    return _keep(grad, ctx.shape, ctx.axes, ctx.keepdim) * share


class Max(Function):
    @staticmethod
    def forward(ctx, a, axes=None, keepdim=False):
        return _extreme_forward(ctx, a, axes, keepdim, np.max)

    backward = staticmethod(_extreme_backward)


class Min(Function):
    @staticmethod
    def forward(ctx, a, axes=None, keepdim=False):
        return _extreme_forward(ctx, a, axes, keepdim, np.min)

    backward = staticmethod(_extreme_backward)


# ---- var and logsumexp -----------------------------------------------------------------------


class Var(Function):
    """sum((x - mean)^2) / (n - correction); d/dx = 2 (x - mean) / (n - correction).

    The mean's own dependence on x drops out because sum(x - mean) = 0.
    """

    @staticmethod
    def forward(ctx, a, axes=None, keepdim=False, correction=1):
        centered = a - a.mean(axis=axes, keepdims=True)
        denom = _count(a.shape, axes) - correction
        ctx.centered, ctx.denom = centered, denom
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        return np.asarray((centered * centered).sum(axis=axes, keepdims=keepdim) / denom)

    @staticmethod
    def backward(ctx, grad):
        return _keep(grad, ctx.shape, ctx.axes, ctx.keepdim) * ctx.centered * (2 / ctx.denom)


class LogSumExp(Function):
    """log(sum(exp(x))) computed as m + log(sum(exp(x - m))) with m the max, so exp never
    sees a positive argument and cannot overflow. The gradient is softmax(x)."""

    @staticmethod
    def forward(ctx, a, axes=None, keepdim=False):
        m = np.max(a, axis=axes, keepdims=True)
        # a slice that is all -inf has m = -inf; shifting by 0 instead avoids inf - inf = nan
        m = np.where(np.isfinite(m), m, 0).astype(a.dtype, copy=False)
        e = np.exp(a - m)
        total = e.sum(axis=axes, keepdims=True)
        with np.errstate(divide="ignore"):  # log(0) = -inf is the right answer there
            kept = m + np.log(total)
        # softmax as e / total, not exp(a - out): out is large where a is, and rounding it
        # (in float32, 1e4 is only good to ~1e-3) would spoil the gradient
        ctx.e, ctx.total = e, total
        ctx.shape, ctx.axes, ctx.keepdim = a.shape, axes, keepdim
        return kept if keepdim else _drop(kept, axes)

    @staticmethod
    def backward(ctx, grad):
        return _keep(grad, ctx.shape, ctx.axes, ctx.keepdim) * (ctx.e / ctx.total)


# ---- public functions ------------------------------------------------------------------------


def _check_input(fn: str, a) -> None:
    if not isinstance(a, Tensor):
        fail(fn, f"input must be a Tensor, got {type(a).__name__}", TypeError)


def _check_keepdim(fn: str, keepdim) -> None:
    if not isinstance(keepdim, (bool, np.bool_)):
        fail(fn, f"keepdim must be a bool, got {type(keepdim).__name__} {keepdim!r}",
             TypeError)


def _axes(fn: str, a, dim, keepdim):
    """Validate the common arguments; return the reduced axes (None for all)."""
    _check_input(fn, a)
    _check_keepdim(fn, keepdim)
    axes = normalize_dims(fn, dim, a.ndim)
    # a 0-d tensor accepts dim=0 or -1 (as torch does) but NumPy has no axis 0 to reduce
    return None if a.ndim == 0 else axes


def _check_not_empty(fn: str, a, axes) -> None:
    if _count(a.shape, axes) == 0:
        fail(fn, f"cannot reduce over an empty dimension: input shape {a.shape}, "
             f"dim {'None' if axes is None else axes}")


def sum(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001 - mirrors torch
    """Sum over ``dim`` (all elements when None)."""
    return Sum.apply(a, axes=_axes("sum", a, dim, keepdim), keepdim=bool(keepdim))


def mean(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Mean over ``dim`` (all elements when None)."""
    axes = _axes("mean", a, dim, keepdim)
    check_float_dtype("mean", "input", a.data)
    _check_not_empty("mean", a, axes)
    return Mean.apply(a, axes=axes, keepdim=bool(keepdim))


def max(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001 - mirrors torch
    """Largest value over ``dim`` (all elements when None); values only, like ``torch.amax``.
    Tied maxima share the gradient evenly."""
    axes = _axes("max", a, dim, keepdim)
    _check_not_empty("max", a, axes)
    return Max.apply(a, axes=axes, keepdim=bool(keepdim))


def min(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001 - mirrors torch
    """Smallest value over ``dim`` (all elements when None); values only, like ``torch.amin``.
    Tied minima share the gradient evenly."""
    axes = _axes("min", a, dim, keepdim)
    _check_not_empty("min", a, axes)
    return Min.apply(a, axes=axes, keepdim=bool(keepdim))


def var(a: Tensor, dim=None, keepdim: bool = False, correction: int = 1) -> Tensor:
    """Variance over ``dim``: sum((x - mean)^2) / (n - correction). ``correction=1`` is the
    unbiased estimate (torch's default), ``correction=0`` the population variance."""
    axes = _axes("var", a, dim, keepdim)
    check_float_dtype("var", "input", a.data)
    correction = check_int("var", "correction", correction, min_value=0)
    n = _count(a.shape, axes)
    if n - correction <= 0:
        # torch returns nan/inf here; an error is kinder than a silent non-finite value
        fail("var", f"correction={correction} leaves no degrees of freedom: each variance is "
             f"over {n} element(s) (input shape {a.shape}, dim {dim})")
    return Var.apply(a, axes=axes, keepdim=bool(keepdim), correction=correction)


def logsumexp(a: Tensor, dim, keepdim: bool = False) -> Tensor:
    """log(sum(exp(a))) over ``dim`` (required: an int or a tuple), finite for large |a|."""
    _check_input("logsumexp", a)
    if dim is None:
        fail("logsumexp", "dim is required (an int or a tuple of ints), got None", TypeError)
    axes = _axes("logsumexp", a, dim, keepdim)
    check_float_dtype("logsumexp", "input", a.data)
    _check_not_empty("logsumexp", a, axes)
    return LogSumExp.apply(a, axes=axes, keepdim=bool(keepdim))


def _arg(fn: str, reduce, a, dim, keepdim) -> Tensor:
    """Index of the extreme value (first one on ties); an int64 Tensor, never differentiable."""
    _check_input(fn, a)
    _check_keepdim(fn, keepdim)
    if dim is None:
        if a.size == 0:
            fail(fn, f"cannot reduce an empty tensor (shape {a.shape})")
        out = np.asarray(reduce(a.data), dtype=np.int64)  # index into the flattened tensor
        if keepdim:
            out = out.reshape((1,) * a.ndim)
        return Tensor(out, _copy=False)
    axis = normalize_dim(fn, dim, a.ndim)
    if a.ndim == 0:
        return Tensor(np.zeros((), dtype=np.int64), _copy=False)
    if a.shape[axis] == 0:
        fail(fn, f"cannot reduce over an empty dimension: input shape {a.shape}, dim {dim}")
    out = reduce(a.data, axis=axis, keepdims=bool(keepdim)).astype(np.int64, copy=False)
    return Tensor(np.asarray(out), _copy=False)


def argmax(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Index of the largest value along ``dim`` (into the flattened tensor when None)."""
    return _arg("argmax", np.argmax, a, dim, keepdim)


def argmin(a: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """Index of the smallest value along ``dim`` (into the flattened tensor when None)."""
    return _arg("argmin", np.argmin, a, dim, keepdim)
