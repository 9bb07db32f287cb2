"""Gradient estimators for discrete decisions: Gumbel-softmax, the straight-through step, top-k.

A dynamic network keeps making discrete choices — skim this token or read it, send it to
expert 3, exit at layer 4 — and a discrete choice has no useful derivative: it is flat almost
everywhere and jumps in between. These ops give a gradient anyway:

- **Gumbel-softmax** replaces "sample a category" with a softmax of noisy logits, which is
  differentiable and becomes one-hot as the temperature ``tau`` goes to 0.
- **Straight-through** estimators use the hard value in the forward pass and *pretend* it was
  the identity (or the soft relaxation) in the backward pass. :class:`StraightThrough` is
  the shared piece: its value is the hard array, its gradient flows to the soft input
  unchanged. That is ``hard - soft.detach() + soft`` from the papers, except that the value
  is *exactly* ``hard`` (the arithmetic version can be off by one rounding error).
- **top-k** picks positions (not differentiable: the indices) and reads values there (which
  are differentiable: the gradient goes back to the chosen positions).
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from tinydyn._checks import check_float, check_float_dtype, check_int, fail, normalize_dim
from tinydyn.autograd.function import Function
from tinydyn.autograd.ops_elementwise import add, div
from tinydyn.autograd.ops_nn import softmax
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import Tensor

__all__ = ["TopK", "gumbel_noise", "gumbel_softmax", "straight_through", "straight_through_step",
           "topk"]


def _check_float_tensor(fn: str, name: str, a) -> None:
    if not isinstance(a, Tensor):
        fail(fn, f"{name} must be a Tensor, got {type(a).__name__}", TypeError)
    check_float_dtype(fn, name, a.data)


# ---- straight-through ---------------------------------------------------------------------------


class StraightThrough(Function):
    """Forward: the given ``hard`` array. Backward: the gradient passes to ``soft`` unchanged."""

    @staticmethod
    def forward(ctx, soft, hard=None):
        return hard

    @staticmethod
    def backward(ctx, grad):
        return grad


def straight_through(soft: Tensor, hard) -> Tensor:
    """A tensor with the values of ``hard`` and the gradient of ``soft``.

    ``hard`` (a Tensor or ndarray, not differentiated) must have the shape of ``soft``; it is
    cast to ``soft``'s dtype.
    """
    fn = "straight_through"
    _check_float_tensor(fn, "soft", soft)
    hard = hard.data if isinstance(hard, Tensor) else hard
    if not isinstance(hard, np.ndarray):
        fail(fn, f"hard must be a Tensor or ndarray, got {type(hard).__name__}", TypeError)
    if hard.shape != soft.shape:
        fail(fn, f"hard must have the shape of soft {soft.shape}, got {hard.shape}")
    return StraightThrough.apply(soft, hard=hard.astype(soft.dtype, copy=False))


class Step(Function):
    @staticmethod
    def forward(ctx, x, threshold=0.0):
        return (x > threshold).astype(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad


def straight_through_step(x: Tensor, threshold: float = 0.0) -> Tensor:
    """1 where ``x > threshold`` else 0 (in ``x``'s dtype); the backward is the identity.

    The usual way to train a binary gate (skip / read, keep / prune): the forward pass makes
    the hard decision, the backward pass treats it as if it had been ``x`` itself.
    """
    fn = "straight_through_step"
    _check_float_tensor(fn, "input", x)
    threshold = check_float(fn, "threshold", threshold)
    return Step.apply(x, threshold=threshold)


# ---- Gumbel-softmax ------------------------------------------------------------------------------


def gumbel_noise(shape, dtype=np.float32, rng=None) -> np.ndarray:
    """Standard Gumbel samples g = -log(-log(U)) of ``shape``, all finite.

    U is drawn from [tiny, 1) where tiny is the smallest positive float64: U = 0 would give
    g = -inf, and ``random()`` never returns 1, so g stays within about [-6.6, 36.8].
    """
    fn = "gumbel_noise"
    rng = get_rng(rng, fn)
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        fail(fn, f"shape must be an int or a tuple of ints, got {type(shape).__name__}",
             TypeError)
    shape = tuple(check_int(fn, "shape", n, min_value=0) for n in shape)
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        fail(fn, f"dtype must be a floating-point dtype, got {dtype}", TypeError)
    u = rng.uniform(np.finfo(np.float64).tiny, 1.0, size=shape)
    return (-np.log(-np.log(u))).astype(dtype)


def gumbel_softmax(logits: Tensor, tau: float = 1.0, hard: bool = False, dim: int = -1,
                   rng=None, noise=None) -> Tensor:
    """A differentiable sample from the categorical distribution softmax(logits) along ``dim``.

    soft: y = softmax((logits + g) / tau) with g Gumbel noise. hard=True: the value is the
    one-hot of argmax(y) (ties: the lower index) and the gradient is that of the soft y
    (straight-through). ``noise`` gives g explicitly (same shape as ``logits``; a Tensor or
    ndarray), else it is drawn from ``rng`` (see :func:`gumbel_noise`). Same shape as logits.
    """
    fn = "gumbel_softmax"
    _check_float_tensor(fn, "logits", logits)
    if logits.ndim == 0:
        fail(fn, "logits must have at least 1 dimension, got a 0-d tensor")
    tau = check_float(fn, "tau", tau, low=0.0, low_open=True)
    if not isinstance(hard, (bool, np.bool_)):
        fail(fn, f"hard must be a bool, got {type(hard).__name__}", TypeError)
    dim = normalize_dim(fn, dim, logits.ndim)
    rng = get_rng(rng, fn)
    if noise is None:
        g = gumbel_noise(logits.shape, logits.dtype, rng)
    else:
        g = noise.data if isinstance(noise, Tensor) else noise
        if not isinstance(g, np.ndarray):
            fail(fn, f"noise must be a Tensor or ndarray, got {type(noise).__name__}", TypeError)
        if g.shape != logits.shape:
            fail(fn, f"noise must have the shape of logits {logits.shape}, got {g.shape}")
        check_float_dtype(fn, "noise", g)
        if not np.isfinite(g).all():
            fail(fn, "noise must be finite, got inf or nan")
        g = g.astype(logits.dtype, copy=False)
    y_soft = softmax(div(add(logits, Tensor(g, _copy=False)), tau), dim)
    if not hard:
        return y_soft
    index = np.expand_dims(y_soft.data.argmax(axis=dim), dim)
    y_hard = np.zeros_like(y_soft.data)
    np.put_along_axis(y_hard, index, 1, axis=dim)
    return StraightThrough.apply(y_soft, hard=y_hard)


# ---- top-k ---------------------------------------------------------------------------------------


class TopK(NamedTuple):
    """What :func:`topk` returns: ``values`` (differentiable) and ``indices`` (int64)."""

    values: Tensor
    indices: Tensor


class TakeAlong(Function):
    """Read ``a`` at ``index`` along ``dim``; the backward writes the gradient back there.

    The positions in one slice are distinct (top-k never picks one twice), so a plain
    assignment is enough — no accumulation of repeated indices.
    """

    @staticmethod
    def forward(ctx, a, index=None, dim=-1):
        ctx.shape, ctx.index, ctx.dim = a.shape, index, dim
        return np.take_along_axis(a, index, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        out = np.zeros(ctx.shape, dtype=grad.dtype)
        np.put_along_axis(out, ctx.index, grad, axis=ctx.dim)
        return out


def _smallest_k(key: np.ndarray, k: int, rank_order: bool) -> np.ndarray:
    """Positions (M, k) of the k smallest entries in each row of the matrix ``key`` (M, n).

    Equal entries rank by position. A full sort costs O(n log n) per row; this is O(n):
    1. ``np.partition`` finds each row's k-th smallest value v;
    2. every entry < v is chosen, and of the entries == v the first (k - #less) by position;
    3. ``np.nonzero`` lists the chosen positions row by row, in increasing position;
    4. for rank order, a stable sort of just those k keys (ties keep position order).
    """
    m, n = key.shape
    if k == 0:
        return np.zeros((m, 0), dtype=np.int64)
    v = np.partition(key, k - 1, axis=1)[:, k - 1:k]
    less = key < v
    tied = key == v
    need = k - less.sum(axis=1, keepdims=True)
    chosen = less | (tied & (np.cumsum(tied, axis=1) <= need))
    index = np.nonzero(chosen)[1].reshape(m, k)
    if rank_order:
        order = np.argsort(np.take_along_axis(key, index, axis=1), axis=1, kind="stable")
        index = np.take_along_axis(index, order, axis=1)
    return index.astype(np.int64, copy=False)


def topk(a: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> TopK:  # noqa: A002
    """The ``k`` largest (or smallest) entries of ``a`` along ``dim`` and their positions.

    Returns ``TopK(values, indices)``, both of ``a``'s shape with ``dim`` cut to ``k``. Equal
    values are ranked by position, lower index first. With ``sorted=True`` the entries are in
    rank order (best first); with ``sorted=False`` in increasing position, which keeps the
    original order of, e.g., the tokens a pruning layer keeps.
    """
    fn = "topk"
    if not isinstance(a, Tensor):
        fail(fn, f"input must be a Tensor, got {type(a).__name__}", TypeError)
    if a.dtype.kind not in "fiu":
        fail(fn, f"input must be a real-valued tensor, got dtype {a.dtype}", TypeError)
    if a.ndim == 0:
        fail(fn, "input must have at least 1 dimension, got a 0-d tensor")
    dim = normalize_dim(fn, dim, a.ndim)
    k = check_int(fn, "k", k, min_value=0)
    if k > a.shape[dim]:
        fail(fn, f"k={k} is larger than the size {a.shape[dim]} of dim {dim} "
             f"(input shape {a.shape})")
    for name, flag in (("largest", largest), ("sorted", sorted)):
        if not isinstance(flag, (bool, np.bool_)):
            fail(fn, f"{name} must be a bool, got {type(flag).__name__}", TypeError)
    if a.dtype.kind == "f" and np.isnan(a.data).any():
        fail(fn, "input must not contain nan (it has no rank among numbers)")
    # the k largest are the k smallest of -a (integers are widened first: -(-128) overflows
    # int8, and negating an unsigned int wraps around)
    key = a.data.astype(np.int64) if a.dtype.kind in "iu" else a.data
    key = np.moveaxis(-key if largest else key, dim, -1)
    index = _smallest_k(key.reshape(-1, key.shape[-1]), k, sorted)
    index = np.ascontiguousarray(np.moveaxis(index.reshape(key.shape[:-1] + (k,)), -1, dim))
    values = TakeAlong.apply(a, index=index, dim=dim)
    return TopK(values, Tensor(index, _copy=False))
