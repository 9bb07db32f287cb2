"""Numba loops for the multi-exit residual MLP, each with a NumPy twin.

Why Numba here: at batch size 1 an exit head and an exit test are a few hundred FLOPs, and
NumPy's per-call overhead (about a microsecond per op) would cost more than the layer it lets
us skip. ``mlp_exit_batch1`` runs the whole exit loop for one sample at a time in compiled
code, so the saving shows up in wall-clock; the per-layer kernels serve the batched engines.

Policy codes shared with :mod:`tinydyn.dynamic.early_exit.policies`:

    0 entropy  H(p) < threshold          3 learned   sigmoid(w.h + b) < threshold
    1 max-prob max softmax(z / T_i) > threshold   4 never (the static model)
    2 patience count of agreeing layers >= patience
    5 normalised entropy H(p) / log C <= threshold
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from tinydyn.kernels.backend import get_backend

__all__ = ["NEVER", "linear_rows", "mlp_block", "mlp_exit_batch1", "row_fires"]

ENTROPY, MAX_PROB, PATIENCE, LEARNED, NEVER, NORM_ENTROPY = 0, 1, 2, 3, 4, 5


@njit(cache=True)
def _linear_rows_nb(x, w, b, out):
    n, d_in = x.shape
    d_out = w.shape[0]
    for r in range(n):
        for j in range(d_out):
            acc = b[j]
            for k in range(d_in):
                acc += w[j, k] * x[r, k]
            out[r, j] = acc


def linear_rows(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x (n, in) @ w.T (out, in) + b (out,) -> (n, out)."""
    if get_backend() == "numpy":
        return x @ w.T + b
    out = np.empty((x.shape[0], w.shape[0]), dtype=x.dtype)
    _linear_rows_nb(x, w, b, out)
    return out


@njit(cache=True)
def _block_nb(h, w1, b1, w2, b2):
    n, d = h.shape
    f = w1.shape[0]
    z = np.empty((n, f), dtype=h.dtype)
    _linear_rows_nb(h, w1, b1, z)
    for r in range(n):
        for j in range(f):
            if z[r, j] < 0:
                z[r, j] = 0
    out = np.empty((n, d), dtype=h.dtype)
    _linear_rows_nb(z, w2, b2, out)
    for r in range(n):
        for j in range(d):
            out[r, j] += h[r, j]
    return out


def mlp_block(h, w1, b1, w2, b2) -> np.ndarray:
    """One residual block on rows: h + relu(h @ w1.T + b1) @ w2.T + b2, (n, d) -> (n, d)."""
    if get_backend() == "numpy":
        return h + np.maximum(h @ w1.T + b1, 0) @ w2.T + b2
    return _block_nb(np.ascontiguousarray(h), w1, b1, w2, b2)


@njit(cache=True)
def _entropy_row(z):
    m = z[0]
    for c in range(z.shape[0]):
        m = max(m, z[c])
    s = 0.0
    for c in range(z.shape[0]):
        s += math.exp(z[c] - m)
    log_s = math.log(s)
    h = 0.0
    for c in range(z.shape[0]):
        logp = z[c] - m - log_s
        h -= math.exp(logp) * logp
    return h


@njit(cache=True)
def _argmax_row(z):
    best = 0
    for c in range(1, z.shape[0]):
        if z[c] > z[best]:
            best = c
    return best


@njit(cache=True)
def row_fires(code, z, feat, layer, threshold, temps, lte_w, lte_b, prev, count):
    """One row's exit test at ``layer`` (0-based): returns (fires, prediction, new count)."""
    pred = _argmax_row(z)
    new_count = 0
    if layer > 0 and pred == prev:
        new_count = count + 1
    if code == ENTROPY:
        return _entropy_row(z) < threshold, pred, new_count
    if code == NORM_ENTROPY:
        return _entropy_row(z) / math.log(z.shape[0]) <= threshold, pred, new_count
    if code == MAX_PROB:
        t = temps[layer]
        m = z[0] / t
        for c in range(z.shape[0]):
            m = max(m, z[c] / t)
        s = 0.0
        for c in range(z.shape[0]):
            s += math.exp(z[c] / t - m)
        return 1.0 / s > threshold, pred, new_count
    if code == PATIENCE:
        return new_count >= threshold, pred, new_count
    if code == LEARNED:
        a = lte_b
        for k in range(feat.shape[0]):
            a += lte_w[k] * feat[k]
        u = 1.0 / (1.0 + math.exp(-a)) if a >= 0 else math.exp(a) / (1.0 + math.exp(a))
        return u < threshold, pred, new_count
    return False, pred, new_count


@njit(cache=True)
def mlp_exit_batch1(x, stem_w, stem_b, w1, b1, w2, b2, head_w, head_b, code, threshold,
                    temps, lte_w, lte_b):
    """Each sample alone through the exit loop. x (N, D_in); w1 (L, F, d), w2 (L, d, F),
    head_w (L, C, d). Returns (predictions (N,), exit layers (N,) in 1..L, logits (N, C)).
    Code NEVER runs the static model: no internal heads, only the last one."""
    n = x.shape[0]
    depth = w1.shape[0]
    n_cls = head_w.shape[1]
    preds = np.empty(n, dtype=np.int64)
    exits = np.empty(n, dtype=np.int64)
    out = np.empty((n, n_cls), dtype=x.dtype)
    z = np.empty((1, n_cls), dtype=x.dtype)
    h = np.empty((1, stem_w.shape[0]), dtype=x.dtype)
    for s in range(n):
        _linear_rows_nb(x[s:s + 1], stem_w, stem_b, h)
        for j in range(h.shape[1]):
            if h[0, j] < 0:
                h[0, j] = 0
        prev, count = -1, 0
        for i in range(depth):
            h = _block_nb(h, w1[i], b1[i], w2[i], b2[i])
            if code == NEVER and i < depth - 1:
                continue
            _linear_rows_nb(h, head_w[i], head_b[i], z)
            fires, pred, count = row_fires(code, z[0], h[0], i, threshold, temps, lte_w,
                                           lte_b, prev, count)
            prev = pred
            if fires or i == depth - 1:
                preds[s], exits[s] = pred, i + 1
                out[s] = z[0]
                break
    return preds, exits, out
