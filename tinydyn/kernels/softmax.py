"""Attention's softmax, fused: scale, mask padded keys, softmax, and its backward, in one pass.

Shapes: scores and probabilities (B, h, Tq, Tk), ``pad`` (B, Tk) bool (True = padding key).
Per row of Tk scores ``s`` (one query of one head)::

    v_j = MASKED_SCORE if pad[b, j] else scale * s_j
    p   = softmax(v)
    backward, with g the gradient w.r.t. p:
    ds_j = 0 if pad[b, j] else scale * p_j * (g_j - sum_k g_k p_k)

``MASKED_SCORE`` (-1e9) makes a padded key's weight exactly 0, like torch's -inf. Unlike -inf
it is finite: a row whose keys are *all* padding becomes a uniform average instead of
0/0 = NaN, which would otherwise poison every gradient of the batch (torch returns NaN there);
such a row gives no gradient to the scores.

Composed from NumPy ops this is six passes over the (B, h, Tq, Tk) array each way, each with a
fresh temporary; here it is one read and one write, and the (b, head) blocks are shared out
over Numba's threads (``NUMBA_NUM_THREADS``). Each kernel has a NumPy twin of the same
signature; :func:`masked_softmax_forward` and :func:`masked_softmax_backward` pick one.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from tinydyn.kernels.backend import dispatch, use_backend
from tinydyn.kernels.cell_math import REDUCE, exp_inplace
from tinydyn.kernels.threads import num_threads

__all__ = [
    "MASKED_SCORE", "masked_softmax_backward", "masked_softmax_backward_numba",
    "masked_softmax_backward_numpy", "masked_softmax_forward", "masked_softmax_forward_numba",
    "masked_softmax_forward_numpy", "PARALLEL_MIN_SIZE", "warmup",
]

MASKED_SCORE = -1e9


@njit(cache=True, fastmath={"reassoc", "contract", "nsz", "nnan"})
def _row_max(row):
    """The largest entry of a 1-D array. ``nnan`` lets the compiler vectorise the comparisons;
    a NaN in the row still makes the whole row NaN downstream (NaN - max is NaN)."""
    m = row[0]
    for j in range(1, row.size):
        m = max(m, row[j])
    return m


@njit(cache=True, fastmath=REDUCE)
def _softmax_block(sc, pad, s, o, bits):
    """One (Tq, Tk) block of one head: ``o`` = masked softmax of ``s * sc`` along each row."""
    Tq, Tk = sc.shape
    zero = s - s
    npad = 0
    for j in range(Tk):
        npad += pad[j]
    if npad == Tk:  # every key is padding: a uniform average (see the module docstring)
        for i in range(Tq):
            for j in range(Tk):
                o[i, j] = 1 / Tk
        return
    masked = np.full(1, MASKED_SCORE, sc.dtype)[0]
    for i in range(Tq):
        for j in range(Tk):
            o[i, j] = s * sc[i, j]
        if npad:
            for j in range(Tk):
                if pad[j]:
                    o[i, j] = masked
        m = _row_max(o[i])
        for j in range(Tk):
            o[i, j] -= m
    exp_inplace(o.reshape(Tq * Tk), bits)
    for i in range(Tq):
        # exp_inplace stops at exp(-87) ~ 1e-38, not 0: padded keys are zeroed explicitly
        if npad:
            for j in range(Tk):
                if pad[j]:
                    o[i, j] = zero
        total = zero
        for j in range(Tk):
            total += o[i, j]
        inv = 1 / total
        for j in range(Tk):
            o[i, j] *= inv


@njit(cache=True, parallel=True)
def _forward_parallel(scores, pad, s, out):
    B, nh, Tq, Tk = scores.shape
    for blk in prange(B * nh):
        b, hd = blk // nh, blk % nh
        bits = np.empty(Tq * Tk, np.int32)
        _softmax_block(scores[b, hd], pad[b], s, out[b, hd], bits)


@njit(cache=True)
def _forward_serial(scores, pad, s, out):
    B, nh, Tq, Tk = scores.shape
    bits = np.empty(Tq * Tk, np.int32)
    for blk in range(B * nh):
        b, hd = blk // nh, blk % nh
        _softmax_block(scores[b, hd], pad[b], s, out[b, hd], bits)


# Below this many scores one thread does the work: entering a parallel region costs a thread
# wake-up, tens of microseconds on a quiet machine and milliseconds on a busy one, which only
# pays for itself on large inputs.
PARALLEL_MIN_SIZE = 1 << 16


def masked_softmax_forward_numba(scores, pad, scale, out):
    """Write the masked, scaled softmax of ``scores`` along the last axis into ``out``.

    scores, out: (B, h, Tq, Tk) C-contiguous; pad: (B, Tk) bool; scale: a float. One block
    per (b, head), shared out over Numba's threads when there are at least
    ``PARALLEL_MIN_SIZE`` scores; the sums are vectorised (``REDUCE``), while ``exp_inplace``
    keeps its exact arithmetic (fast-math flags stay with each function).
    """
    s = scores.dtype.type(scale)
    big = scores.size >= PARALLEL_MIN_SIZE and num_threads() > 1
    run = _forward_parallel if big else _forward_serial
    run(scores, pad, s, out)


def masked_softmax_forward_numpy(scores, pad, scale, out):
    """The NumPy twin of :func:`masked_softmax_forward_numba` (same arguments, same effect)."""
    dtype = scores.dtype
    v = np.where(pad[:, None, None, :], dtype.type(MASKED_SCORE), scores * dtype.type(scale))
    e = np.exp(v - v.max(axis=-1, keepdims=True))
    out[...] = e / e.sum(axis=-1, keepdims=True)


@njit(cache=True, fastmath=REDUCE)
def _backward_block(p, g, pad, s, o):
    """One (Tq, Tk) block: ``o = s * p * (g - rowsum(g * p))``, 0 at padded keys."""
    Tq, Tk = p.shape
    zero = s - s
    for i in range(Tq):
        dot = zero
        for j in range(Tk):
            dot += g[i, j] * p[i, j]
        for j in range(Tk):
            o[i, j] = zero if pad[j] else s * p[i, j] * (g[i, j] - dot)


@njit(cache=True, parallel=True)
def _backward_parallel(probs, grad, pad, s, out):
    B, nh = probs.shape[:2]
    for blk in prange(B * nh):
        b, hd = blk // nh, blk % nh
        _backward_block(probs[b, hd], grad[b, hd], pad[b], s, out[b, hd])


@njit(cache=True)
def _backward_serial(probs, grad, pad, s, out):
    B, nh = probs.shape[:2]
    for blk in range(B * nh):
        b, hd = blk // nh, blk % nh
        _backward_block(probs[b, hd], grad[b, hd], pad[b], s, out[b, hd])


def masked_softmax_backward_numba(probs, grad, pad, scale, out):
    """Write the gradient w.r.t. the scores into ``out`` (all arrays (B, h, Tq, Tk)); threads
    as in :func:`masked_softmax_forward_numba`."""
    s = probs.dtype.type(scale)
    big = probs.size >= PARALLEL_MIN_SIZE and num_threads() > 1
    run = _backward_parallel if big else _backward_serial
    run(probs, grad, pad, s, out)


def masked_softmax_backward_numpy(probs, grad, pad, scale, out):
    """The NumPy twin of :func:`masked_softmax_backward_numba` (same arguments, same effect)."""
    dtype = probs.dtype
    dot = (grad * probs).sum(axis=-1, keepdims=True)
    ds = dtype.type(scale) * probs * (grad - dot)
    out[...] = np.where(pad[:, None, None, :], dtype.type(0), ds)


def masked_softmax_forward(scores, pad, scale):
    """Probabilities (B, h, Tq, Tk) from scores of the same shape, ``pad`` (B, Tk) bool.

    Inputs are assumed valid (the autograd op :func:`tinydyn.autograd.ops_attention
    .masked_softmax` checks them); ``scores`` is made C-contiguous if it is not.
    """
    scores = np.ascontiguousarray(scores)
    out = np.empty_like(scores)
    dispatch(masked_softmax_forward_numba, masked_softmax_forward_numpy)(
        scores, np.ascontiguousarray(pad), float(scale), out)
    return out


def masked_softmax_backward(probs, grad, pad, scale):
    """The gradient w.r.t. the scores, given the forward's ``probs`` and the gradient ``grad``
    w.r.t. them (both (B, h, Tq, Tk))."""
    grad = np.ascontiguousarray(grad, dtype=probs.dtype)
    out = np.empty_like(probs)
    dispatch(masked_softmax_backward_numba, masked_softmax_backward_numpy)(
        probs, grad, np.ascontiguousarray(pad), float(scale), out)
    return out


def warmup() -> None:
    """Compile (or load from the on-disk cache) every kernel for float32 and float64."""
    with use_backend("numba"):
        for dtype in (np.float32, np.float64):
            for shape in ((1, 1, 2, 3), (1, 1, 2, PARALLEL_MIN_SIZE // 2)):  # serial, parallel
                scores = np.zeros(shape, dtype)
                pad = np.zeros((1, shape[-1]), bool)
                probs = masked_softmax_forward(scores, pad, 1.0)
                masked_softmax_backward(probs, probs, pad, 1.0)
