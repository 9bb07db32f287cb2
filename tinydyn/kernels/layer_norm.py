"""Layer normalisation over the rows of a matrix, forward and backward, one pass per row.

x is (N, D): N rows (every position of every sequence), each normalised over its D entries::

    xhat = (x - mean(x)) * rstd,   rstd = 1 / sqrt(var(x) + eps)     (biased variance)
    y    = xhat * weight + bias
    backward, with g the gradient w.r.t. y and gh = g * weight:
    dx   = rstd * (gh - mean(gh) - xhat * mean(gh * xhat))
    dweight = sum over rows of g * xhat,   dbias = sum over rows of g

Composed from NumPy ops this is about ten passes over (N, D) each way, each with a fresh
temporary. Here each row is read and written once, and the rows are shared out over Numba's
threads in contiguous blocks when there are enough of them (each block sums its own partial
``dweight`` and ``dbias``; the partials are added after). Each kernel has a NumPy twin of the
same signature; :func:`layer_norm_forward` and :func:`layer_norm_backward` pick one.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from tinydyn.kernels.backend import dispatch, use_backend
from tinydyn.kernels.threads import num_threads

__all__ = [
    "PARALLEL_MIN_SIZE", "layer_norm_backward", "layer_norm_backward_numba",
    "layer_norm_backward_numpy", "layer_norm_forward", "layer_norm_forward_numba",
    "layer_norm_forward_numpy", "warmup",
]

# Sums may be reassociated (vectorised), but no multiply-add contraction: with it, g * w - s1
# (s1 the mean of the same products) would no longer cancel exactly when D = 1, and rstd (up
# to 1 / sqrt(eps)) magnifies the leftover rounding error.
SUMS = {"reassoc", "nsz"}

# Below this many entries one thread does the work: a parallel region's thread wake-up costs
# more than small inputs' work.
PARALLEL_MIN_SIZE = 1 << 16


@njit(cache=True, fastmath=SUMS)
def _forward_rows(x, weight, bias, eps, y, xhat, rstd, r0, r1):
    D = x.shape[1]
    zero = eps - eps
    inv_d = np.full(1, 1 / max(D, 1), x.dtype)[0]  # typed: x / D would promote to float64
    one = inv_d / inv_d
    for r in range(r0, r1):
        total = zero
        for j in range(D):
            total += x[r, j]
        mean = total * inv_d
        sq = zero
        for j in range(D):
            c = x[r, j] - mean
            xhat[r, j] = c
            sq += c * c
        rs = one / math.sqrt(sq * inv_d + eps)
        rstd[r] = rs
        for j in range(D):
            v = xhat[r, j] * rs
            xhat[r, j] = v
            y[r, j] = v * weight[j] + bias[j]


@njit(cache=True, parallel=True)
def _forward_blocks(x, weight, bias, eps, y, xhat, rstd, bounds):
    for k in prange(bounds.size - 1):
        _forward_rows(x, weight, bias, eps, y, xhat, rstd, bounds[k], bounds[k + 1])


def _bounds(N: int, D: int) -> np.ndarray:
    """Row blocks: one per thread for large inputs, else a single block."""
    blocks = max(1, min(num_threads() if N * D >= PARALLEL_MIN_SIZE else 1, N))
    return np.arange(blocks + 1) * N // blocks


def layer_norm_forward_numba(x, weight, bias, eps, y, xhat, rstd):
    """Fill ``y``, ``xhat`` (N, D) and ``rstd`` (N,) from x (N, D) C-contiguous, weight and
    bias (D,) (ones and zeros when the layer has none), eps a float of x's dtype."""
    bounds = _bounds(*x.shape)
    if bounds.size <= 2:
        _forward_rows(x, weight, bias, eps, y, xhat, rstd, 0, x.shape[0])
    else:
        _forward_blocks(x, weight, bias, eps, y, xhat, rstd, bounds)


def layer_norm_forward_numpy(x, weight, bias, eps, y, xhat, rstd):
    """The NumPy twin of :func:`layer_norm_forward_numba` (same arguments, same effect)."""
    centred = x - x.mean(axis=1, keepdims=True)
    rstd[:] = 1 / np.sqrt((centred * centred).mean(axis=1) + eps)
    xhat[:] = centred * rstd[:, None]
    y[:] = xhat * weight + bias


@njit(cache=True, fastmath=SUMS)
def _backward_rows(g, xhat, rstd, weight, dx, dw, db, r0, r1):
    """dx for rows r0:r1; this block's partial sums of dweight and dbias into dw, db (D,)."""
    D = g.shape[1]
    zero = rstd[0] - rstd[0]
    inv_d = np.full(1, 1 / max(D, 1), g.dtype)[0]
    for r in range(r0, r1):
        s1 = zero
        s2 = zero
        for j in range(D):
            gh = g[r, j] * weight[j]
            s1 += gh
            s2 += gh * xhat[r, j]
        s1 *= inv_d
        s2 *= inv_d
        rs = rstd[r]
        for j in range(D):
            dx[r, j] = rs * (g[r, j] * weight[j] - s1 - xhat[r, j] * s2)
            dw[j] += g[r, j] * xhat[r, j]
            db[j] += g[r, j]


@njit(cache=True, parallel=True)
def _backward_blocks(g, xhat, rstd, weight, dx, dws, dbs, bounds):
    for k in prange(bounds.size - 1):
        _backward_rows(g, xhat, rstd, weight, dx, dws[k], dbs[k], bounds[k], bounds[k + 1])


def layer_norm_backward_numba(g, xhat, rstd, weight, dx, dw, db):
    """Fill ``dx`` (N, D) and ``dw``, ``db`` (D,) from the gradient g (N, D) w.r.t. y and the
    forward's ``xhat`` and ``rstd`` (all C-contiguous)."""
    N, D = g.shape
    bounds = _bounds(N, D)
    dw[:] = 0
    db[:] = 0
    if N == 0:
        return
    if bounds.size <= 2:
        _backward_rows(g, xhat, rstd, weight, dx, dw, db, 0, N)
        return
    dws = np.zeros((bounds.size - 1, D), g.dtype)
    dbs = np.zeros((bounds.size - 1, D), g.dtype)
    _backward_blocks(g, xhat, rstd, weight, dx, dws, dbs, bounds)
    dws.sum(axis=0, out=dw)
    dbs.sum(axis=0, out=db)


def layer_norm_backward_numpy(g, xhat, rstd, weight, dx, dw, db):
    """The NumPy twin of :func:`layer_norm_backward_numba` (same arguments, same effect)."""
    gh = g * weight
    dx[:] = rstd[:, None] * (gh - gh.mean(axis=1, keepdims=True)
                             - xhat * (gh * xhat).mean(axis=1, keepdims=True))
    dw[:] = (g * xhat).sum(axis=0)
    db[:] = g.sum(axis=0)


def layer_norm_forward(x, weight, bias, eps):
    """``(y, xhat, rstd)`` for x (N, D); weight, bias (D,) or None. Inputs assumed valid."""
    N, D = x.shape
    dtype = x.dtype
    x = np.ascontiguousarray(x)
    weight = np.ones(D, dtype) if weight is None else np.ascontiguousarray(weight)
    bias = np.zeros(D, dtype) if bias is None else np.ascontiguousarray(bias)
    y, xhat, rstd = np.empty_like(x), np.empty_like(x), np.empty(N, dtype)
    dispatch(layer_norm_forward_numba, layer_norm_forward_numpy)(
        x, weight, bias, dtype.type(eps), y, xhat, rstd)
    return y, xhat, rstd


def layer_norm_backward(g, xhat, rstd, weight):
    """``(dx, dweight, dbias)`` given g (N, D), the gradient w.r.t. y; weight (D,) or None."""
    N, D = xhat.shape
    dtype = xhat.dtype
    g = np.ascontiguousarray(g, dtype=dtype)
    weight = np.ones(D, dtype) if weight is None else np.ascontiguousarray(weight)
    dx, dw, db = np.empty_like(xhat), np.empty(D, dtype), np.empty(D, dtype)
    dispatch(layer_norm_backward_numba, layer_norm_backward_numpy)(
        g, xhat, rstd, weight, dx, dw, db)
    return dx, dw, db


def warmup() -> None:
    """Compile (or load from the on-disk cache) every kernel for float32 and float64."""
    with use_backend("numba"):
        for dtype in (np.float32, np.float64):
            for n in (2, PARALLEL_MIN_SIZE // 4):  # serial, parallel
                x = np.ones((n, 4), dtype)
                y, xhat, rstd = layer_norm_forward(x, None, None, 1e-5)
                layer_norm_backward(y, xhat, rstd, None)
