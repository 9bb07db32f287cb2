"""Mixture-of-experts kernels: gather tokens into expert blocks, run each expert's feed-forward
on exactly its block, scatter the outputs back weighted by the gates; forward and backward.

The layout. N assignments ``(token[n], row[n], gate[n])`` map tokens of ``x`` (S, d) to rows
of an expert buffer ``xe`` (R, d) in which expert e owns the contiguous rows
``offsets[e]:offsets[e + 1]``:

* dropless (MegaBlocks' idea without padding): R = N, rows sorted by expert, block e has
  exactly the assignments of expert e;
* capacity slots (GShard/Switch): R = E·C, ``row = expert·C + slot``; empty slots are zero
  rows that are computed (padding is paid for) but never read back.

Forward::

    xe[row[n]] = x[token[n]]                                  gather_rows        (Numba)
    h_e  = act(xe_e @ W1[e] + b1[e])        per expert block   matmul (BLAS) + bias_act (Numba)
    out_e = h_e @ W2[e] + b2[e]                                matmul (BLAS) + bias (NumPy)
    y[token[n]] += gate[n] * out[row[n]]                      combine_rows       (Numba)

Backward, with dy (S, d)::

    dout[row[n]] = gate[n] * dy[token[n]];  dgate[n] = <dy[token[n]], out[row[n]]>   (Numba)
    per expert: dW2 = h^T dout, db2 = sum dout, dh = dout W2^T                        (BLAS)
    dpre = dh * act'(pre), db1 = sum dpre                              bias_act_backward (Numba)
    per expert: dW1 = xe^T dpre, dxe = dpre W1^T                                      (BLAS)
    dx[token[n]] += dxe[row[n]]                                       scatter_rows   (Numba)

The matrix products go to NumPy's BLAS, one call per expert block (E calls of a few hundred
rows each: the same work as one dense product, in E pieces). What Numba fuses are the memory-
bound passes around them; a Python loop over tokens would cost more than the products. Each
Numba kernel has a NumPy twin of the same signature (fancy indexing, ``np.add.at``-free
sorting), selected by :mod:`tinydyn.kernels.backend`.
"""

from __future__ import annotations

import contextlib
import math
import time

import numpy as np
from numba import njit

from tinydyn.kernels.backend import dispatch
from tinydyn.kernels.scatter import scatter_add_rows_numpy

__all__ = [
    "ACTIVATIONS", "bias_act_backward", "bias_act_forward", "combine_backward", "combine_rows",
    "expert_ffn_backward", "expert_ffn_forward", "gather_rows", "scatter_rows",
    "time_products", "topk_rows", "warmup",
]

ACTIVATIONS = ("relu", "gelu")
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)


# ---- gather / combine ---------------------------------------------------------------------


@njit(cache=True)
def gather_rows_numba(x, token, row, n_rows):
    """xe (n_rows, d), zero except ``xe[row[n]] = x[token[n]]``."""
    d = x.shape[1]
    xe = np.zeros((n_rows, d), dtype=x.dtype)
    for n in range(token.shape[0]):
        src, dst = token[n], row[n]
        for j in range(d):
            xe[dst, j] = x[src, j]
    return xe


def gather_rows_numpy(x, token, row, n_rows):
    xe = np.zeros((n_rows, x.shape[1]), dtype=x.dtype)
    xe[row] = x[token]
    return xe


@njit(cache=True)
def combine_rows_numba(out, token, row, gate, n_tokens):
    """y (n_tokens, d): ``y[token[n]] += gate[n] * out[row[n]]`` (repeats accumulate)."""
    d = out.shape[1]
    y = np.zeros((n_tokens, d), dtype=out.dtype)
    for n in range(token.shape[0]):
        dst, src, g = token[n], row[n], gate[n]
        for j in range(d):
            y[dst, j] += g * out[src, j]
    return y


def combine_rows_numpy(out, token, row, gate, n_tokens):
    y = np.zeros((n_tokens, out.shape[1]), dtype=out.dtype)
    scatter_add_rows_numpy(y, token, gate[:, None] * out[row])
    return y


@njit(cache=True)
def combine_backward_numba(dy, out, token, row, gate, n_rows):
    """``dout`` (n_rows, d) with ``dout[row[n]] = gate[n] * dy[token[n]]`` (rows are distinct)
    and ``dgate[n] = <dy[token[n]], out[row[n]]>``."""
    d = dy.shape[1]
    dout = np.zeros((n_rows, d), dtype=dy.dtype)
    dgate = np.empty(token.shape[0], dtype=dy.dtype)
    for n in range(token.shape[0]):
        t, r, g = token[n], row[n], gate[n]
        acc = 0.0
        for j in range(d):
            v = dy[t, j]
            dout[r, j] = g * v
            acc += v * out[r, j]
        dgate[n] = acc
    return dout, dgate


def combine_backward_numpy(dy, out, token, row, gate, n_rows):
    dout = np.zeros((n_rows, dy.shape[1]), dtype=dy.dtype)
    picked = dy[token]
    dout[row] = gate[:, None] * picked
    dgate = np.einsum("nd,nd->n", picked, out[row]).astype(dy.dtype, copy=False)
    return dout, dgate


@njit(cache=True)
def scatter_rows_numba(dxe, token, row, n_tokens):
    """dx (n_tokens, d): ``dx[token[n]] += dxe[row[n]]`` (the gather's backward)."""
    d = dxe.shape[1]
    dx = np.zeros((n_tokens, d), dtype=dxe.dtype)
    for n in range(token.shape[0]):
        dst, src = token[n], row[n]
        for j in range(d):
            dx[dst, j] += dxe[src, j]
    return dx


def scatter_rows_numpy(dxe, token, row, n_tokens):
    dx = np.zeros((n_tokens, dxe.shape[1]), dtype=dxe.dtype)
    scatter_add_rows_numpy(dx, token, dxe[row])
    return dx


# ---- top-k of each row (routers) -------------------------------------------------------------


@njit(cache=True)
def topk_rows_numba(values, k):
    """int64 (S, k): each row's k largest entries, best first, equal values by lower index.
    A selection by k passes over the row (E is small: a handful of experts)."""
    s, e = values.shape
    out = np.empty((s, k), dtype=np.int64)
    taken = np.zeros(e, dtype=np.bool_)
    for i in range(s):
        taken[:] = False
        for r in range(k):
            best = -1
            for j in range(e):
                if not taken[j] and (best < 0 or values[i, j] > values[i, best]):
                    best = j
            taken[best] = True
            out[i, r] = best
    return out


def topk_rows_numpy(values, k):
    return np.argsort(-values, axis=1, kind="stable")[:, :k].astype(np.int64)


def topk_rows(values, k):
    """int64 (S, k): the k largest entries of each row of ``values`` (S, E), best first;
    equal values rank by lower index (the rule of ``tinydyn.autograd.topk``). No NaN."""
    return dispatch(topk_rows_numba, topk_rows_numpy)(np.ascontiguousarray(values), int(k))


# ---- bias + activation, per expert block -----------------------------------------------------


@njit(cache=True)
def bias_act_forward_numba(h, b1, offsets, gelu):
    """In place on h (R, F): ``h = act(h + b1[e])`` on expert e's rows. Returns ``pre``, the
    pre-activation (needed by GELU's backward; for ReLU the output itself is enough and an
    empty array is returned)."""
    n_rows, f = h.shape
    pre = np.empty((n_rows if gelu else 0, f), dtype=h.dtype)
    for e in range(offsets.shape[0] - 1):
        for r in range(offsets[e], offsets[e + 1]):
            for j in range(f):
                v = h[r, j] + b1[e, j]
                if gelu:
                    pre[r, j] = v
                    h[r, j] = 0.5 * v * (1.0 + math.erf(v * _INV_SQRT2))
                else:
                    h[r, j] = v if v > 0.0 else 0.0
    return pre


def _gelu_numpy(v):
    from tinydyn.autograd.ops_gelu import erf_array  # the library's vectorised erf
    return 0.5 * v * (1.0 + erf_array(v * _INV_SQRT2))


def bias_act_forward_numpy(h, b1, offsets, gelu):
    counts = np.diff(offsets)
    h += np.repeat(b1, counts, axis=0)
    if gelu:
        pre = h.copy()
        h[...] = _gelu_numpy(pre)
        return pre
    np.maximum(h, 0, out=h)
    return np.empty((0, h.shape[1]), dtype=h.dtype)


@njit(cache=True)
def bias_act_backward_numba(dh, h, pre, offsets, gelu):
    """In place on dh (R, F): ``dh *= act'(pre)``; returns db1 (E, F), the per-block sums."""
    f = dh.shape[1]
    n_experts = offsets.shape[0] - 1
    db1 = np.zeros((n_experts, f), dtype=dh.dtype)
    for e in range(n_experts):
        for r in range(offsets[e], offsets[e + 1]):
            for j in range(f):
                if gelu:
                    v = pre[r, j]
                    cdf = 0.5 * (1.0 + math.erf(v * _INV_SQRT2))
                    g = dh[r, j] * (cdf + v * _INV_SQRT2PI * math.exp(-0.5 * v * v))
                else:
                    g = dh[r, j] if h[r, j] > 0.0 else 0.0
                dh[r, j] = g
                db1[e, j] += g
    return db1


def bias_act_backward_numpy(dh, h, pre, offsets, gelu):
    if gelu:
        from tinydyn.autograd.ops_gelu import erf_array
        cdf = 0.5 * (1.0 + erf_array(pre * _INV_SQRT2))
        dh *= cdf + pre * _INV_SQRT2PI * np.exp(-0.5 * pre * pre)
    else:
        dh *= h > 0
    return _block_sums(dh, offsets)


def _block_sums(a, offsets):
    """(E, width): the sum of the rows of each block ``offsets[e]:offsets[e + 1]`` (0 for an
    empty block). ``reduceat`` over the starts of the non-empty blocks only: an empty block's
    start would end its neighbour's sum early (or lie past the last row)."""
    sums = np.zeros((offsets.shape[0] - 1, a.shape[1]), dtype=a.dtype)
    nonempty = np.diff(offsets) > 0
    if nonempty.any():
        sums[nonempty] = np.add.reduceat(a, offsets[:-1][nonempty], axis=0)
    return sums


# ---- the dispatched entry points -------------------------------------------------------------


def gather_rows(x, token, row, n_rows):
    """xe (n_rows, d): zero rows except ``xe[row[n]] = x[token[n]]``."""
    return dispatch(gather_rows_numba, gather_rows_numpy)(x, token, row, n_rows)


def combine_rows(out, token, row, gate, n_tokens):
    """y (n_tokens, d) = sum over n of ``gate[n] * out[row[n]]`` into row ``token[n]``."""
    return dispatch(combine_rows_numba, combine_rows_numpy)(out, token, row, gate, n_tokens)


def combine_backward(dy, out, token, row, gate, n_rows):
    """(dout (n_rows, d), dgate (N,)): the backward of :func:`combine_rows`."""
    return dispatch(combine_backward_numba, combine_backward_numpy)(dy, out, token, row, gate,
                                                                    n_rows)


def scatter_rows(dxe, token, row, n_tokens):
    """dx (n_tokens, d): the backward of :func:`gather_rows`."""
    return dispatch(scatter_rows_numba, scatter_rows_numpy)(dxe, token, row, n_tokens)


def bias_act_forward(h, b1, offsets, gelu):
    return dispatch(bias_act_forward_numba, bias_act_forward_numpy)(h, b1, offsets, gelu)


def bias_act_backward(dh, h, pre, offsets, gelu):
    return dispatch(bias_act_backward_numba, bias_act_backward_numpy)(dh, h, pre, offsets, gelu)


class ProductClock:
    """Seconds spent in the experts' matrix products, and in their whole feed-forward
    computation, while it is active (see :func:`time_products`): the benchmark's measure of
    what the layer spends *outside* them, taken inside the same calls rather than from a
    separate run."""

    def __init__(self):
        self.seconds = 0.0      # the per-expert matrix products
        self.ffn_seconds = 0.0  # the experts' whole FFN: products, biases, activation


_clock = None


@contextlib.contextmanager
def time_products():
    """``with time_products() as clock: ...``: ``clock.seconds`` accumulates the time of the
    per-expert products run inside the block (two ``perf_counter`` reads per loop)."""
    global _clock
    previous, _clock = _clock, ProductClock()
    try:
        yield _clock
    finally:
        _clock = previous


def _tick():
    return time.perf_counter() if _clock is not None else 0.0


def _tock(start, whole=False):
    if _clock is not None:
        if whole:
            _clock.ffn_seconds += time.perf_counter() - start
        else:
            _clock.seconds += time.perf_counter() - start


def expert_ffn_forward(xe, offsets, w1, b1, w2, b2, gelu):
    """Each expert's FFN on its block of rows: returns ``(out (R, d), h (R, F), pre)``.

    xe (R, d); offsets int64 (E + 1,) with offsets[-1] == R; w1 (E, d, F), b1 (E, F),
    w2 (E, F, d), b2 (E, d). ``h`` (post-activation) and ``pre`` are kept for the backward.
    """
    begin = _tick()
    n_rows, n_experts = xe.shape[0], w1.shape[0]
    h = np.empty((n_rows, w1.shape[2]), dtype=xe.dtype)
    out = np.empty((n_rows, w2.shape[2]), dtype=xe.dtype)
    blocks = [(e, offsets[e], offsets[e + 1]) for e in range(n_experts)
              if offsets[e + 1] > offsets[e]]
    start = _tick()
    for e, lo, hi in blocks:
        np.matmul(xe[lo:hi], w1[e], out=h[lo:hi])
    _tock(start)
    pre = bias_act_forward(h, b1, offsets, gelu)
    start = _tick()
    for e, lo, hi in blocks:
        np.matmul(h[lo:hi], w2[e], out=out[lo:hi])
    _tock(start)
    out += np.repeat(b2, np.diff(offsets), axis=0)
    _tock(begin, whole=True)
    return out, h, pre


def expert_ffn_backward(dout, xe, h, pre, offsets, w1, w2, gelu):
    """Backward of :func:`expert_ffn_forward`: ``(dxe, dw1, db1, dw2, db2)``; experts with
    no rows get zero gradients."""
    begin = _tick()
    n_experts = w1.shape[0]
    blocks = [(e, offsets[e], offsets[e + 1]) for e in range(n_experts)
              if offsets[e + 1] > offsets[e]]
    empty = [e for e in range(n_experts) if offsets[e + 1] == offsets[e]]
    dw1, dw2 = np.empty_like(w1), np.empty_like(w2)
    dw1[empty], dw2[empty] = 0, 0
    dh = np.empty_like(h)
    start = _tick()
    for e, lo, hi in blocks:
        np.matmul(h[lo:hi].T, dout[lo:hi], out=dw2[e])
        np.matmul(dout[lo:hi], w2[e].T, out=dh[lo:hi])
    _tock(start)
    db2 = _block_sums(dout, offsets)
    db1 = bias_act_backward(dh, h, pre, offsets, gelu)
    dxe = np.empty_like(xe)
    start = _tick()
    for e, lo, hi in blocks:
        np.matmul(xe[lo:hi].T, dh[lo:hi], out=dw1[e])
        np.matmul(dh[lo:hi], w1[e].T, out=dxe[lo:hi])
    _tock(start)
    _tock(begin, whole=True)
    return dxe, dw1, db1, dw2, db2


def warmup() -> None:
    """Compile (or load from the on-disk cache) every kernel for float32 and float64."""
    token = np.array([0, 1, 1], dtype=np.int64)
    row = np.array([2, 0, 1], dtype=np.int64)
    offsets = np.array([0, 2, 3], dtype=np.int64)
    for dtype in (np.float32, np.float64):
        x = np.ones((2, 3), dtype=dtype)
        gate = np.ones(3, dtype=dtype)
        xe = gather_rows_numba(x, token, row, 3)
        y = combine_rows_numba(xe, token, row, gate, 2)
        combine_backward_numba(y, xe, token, row, gate, 3)
        scatter_rows_numba(xe, token, row, 2)
        topk_rows_numba(x, 2)
        for gelu in (False, True):
            h = np.ones((3, 4), dtype=dtype)
            pre = bias_act_forward_numba(h, np.zeros((2, 4), dtype=dtype), offsets, gelu)
            bias_act_backward_numba(h.copy(), h, pre, offsets, gelu)
