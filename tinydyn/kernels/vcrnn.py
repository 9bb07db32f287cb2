"""VCRNN loops: the soft (trainable) recurrence and the hard inference path that skips rows.

VCRNN (Jernite et al., 2017) is an Elman RNN whose scheduler decides, at every step, how much
of the hidden state to recompute. For a row b at step t, with ``j = 0 .. d-1``::

    m   = sigmoid(u . h + v . x_t + b_s)                  the scheduler, in (0, 1)
    e_j = thres_eps(sigmoid(lam * (m*d - (j + 1/2))))      a soft "first ~m*d rows" mask
    c   = tanh(W_hh h + W_ih x_t + b)                      the candidate
    h  <- h + p * e * (c - h)                              p = padding mask (1 real, 0 pad)

``thres_eps`` sets values below eps to 0 and above 1 - eps to 1. The mask is centred on the
half-integers ``j + 1/2`` so that m = 0 updates nothing, m = 1 updates everything, and the mask
sums to about ``m*d``. Letting lam grow saturates it into the hard decision::

    k = #{j : m*d - (j + 1/2) > 0} = clip(ceil(m*d - 1/2), 0, d)   (m*d rounded, ties down)

and the hard path recomputes only rows ``0 .. k-1`` of the candidate: ``2k(d + d_x)`` FLOPs
for the two matrix-vector products instead of ``2d(d + d_x)``.

Two kinds of loop live here:

* the **soft** forward and backward over a whole sequence (:func:`vcrnn_soft_forward`,
  :func:`vcrnn_soft_backward`), used for training. They are NumPy, vectorised over the batch:
  every row of the candidate is computed (training saves nothing, as in the paper);
* the **hard** inference loops (:func:`vcrnn_hard_numba` and its twin, and the full-RNN
  baseline :func:`rnn_full_numba`), compiled, which physically compute only k rows. They run
  row by row: every sequence does exactly its own k rows per step, so batching loses none of
  the saving (there is no shared dense matmul whose width would be set by the largest k); what
  it cannot gain is the reuse of each loaded weight across several rows that a dense batched
  matmul gets.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from tinydyn._checks import fail
from tinydyn.kernels.backend import dispatch
from tinydyn.kernels.cell_math import REDUCE  # lets the compiler vectorise the dot products

__all__ = [
    "rnn_forward", "rnn_full_numba", "rnn_full_numpy", "rows_from_ratio", "soft_mask",
    "vcrnn_hard_forward", "vcrnn_hard_numba", "vcrnn_hard_numpy", "vcrnn_soft_backward",
    "vcrnn_soft_forward", "warmup",
]



# ---- the decision ----------------------------------------------------------------------------

def soft_mask(m: np.ndarray, d: int, lam: float, eps: float) -> np.ndarray:
    """The mask e (..., d) for ratios m (...): ``thres_eps(sigmoid(lam (m d - (j + 1/2))))``.

    Thresholded entries are exactly 0 or 1, so ``e (1 - e)``, the sigmoid's derivative, is
    exactly 0 there: the flat parts of the threshold need no special case in the backward.
    """
    z = lam * (m[..., None] * d - (np.arange(d, dtype=m.dtype) + 0.5))
    e = 0.5 * (1.0 + np.tanh(0.5 * z))  # a sigmoid that does not overflow for large |z|
    e = e.astype(m.dtype, copy=False)
    if eps > 0:
        e[e < eps] = 0
        e[e > 1 - eps] = 1
    return e


def rows_from_ratio(m: np.ndarray, d: int) -> np.ndarray:
    """The hard decision: how many leading rows ratio ``m`` recomputes (int64, same shape)."""
    m = np.asarray(m)
    k = np.ceil(m * d - 0.5).astype(np.int64)
    return np.clip(k, 0, d)


# ---- soft recurrence (training) --------------------------------------------------------------

def vcrnn_soft_forward(xp, sp, h0, w_hh, u, pad, lam, eps, pin=None):
    """Run the soft recurrence over a whole batch-first sequence.

    Args:
        xp: (B, T, d) ``W_ih x_t + b`` for every step; sp: (B, T) ``v . x_t + b_s``.
        h0: (B, d); w_hh: (d, d); u: (d,) the scheduler's weights on h.
        pad: (B, T) 1 at real steps, 0 at padding (any float in [0, 1] interpolates).
        lam, eps: the mask's sharpness and threshold. pin: a float to use as m at every step
            instead of the scheduler (None: the scheduler decides).

    Returns:
        ``(out, saved)``: ``out`` (B, T+1, d+1) packs ``h_0 .. h_T`` in ``out[:, :, :d]`` and
        ``m_1 .. m_T`` in ``out[:, 1:, d]``; ``saved`` is what the backward needs.
    """
    B, T, d = xp.shape
    dtype = xp.dtype
    out = np.zeros((B, T + 1, d + 1), dtype)
    out[:, 0, :d] = h0
    cands = np.empty((T, B, d), dtype)
    w_t = np.ascontiguousarray(w_hh.T)
    h = np.array(h0, dtype)
    for t in range(T):
        if pin is None:
            m = _sigmoid(sp[:, t] + h @ u)
        else:
            m = np.full(B, pin, dtype)
        e = soft_mask(m, d, lam, eps)
        c = np.tanh(xp[:, t] + h @ w_t)
        h = h + (pad[:, t, None] * e) * (c - h)
        out[:, t + 1, :d] = h
        out[:, t + 1, d] = m
        cands[t] = c
    return out, (out, cands, pad, lam, eps, pin)


def vcrnn_soft_backward(saved, w_hh, u, dout):
    """Gradients ``(dxp, dsp, dh0, dw_hh, du)`` given ``dout``, the gradient of ``out``."""
    out, cands, pad, lam, eps, pin = saved
    B, T1, d1 = out.shape
    T, d = T1 - 1, d1 - 1
    dtype = out.dtype
    dxp = np.empty((B, T, d), dtype)
    dsp = np.zeros((B, T), dtype)
    dw = np.zeros((d, d), dtype)
    du = np.zeros(d, dtype)
    dh = np.array(dout[:, T, :d], dtype)
    for t in range(T - 1, -1, -1):
        h, m, c = out[:, t, :d], out[:, t + 1, d], cands[t]
        e = soft_mask(m, d, lam, eps)
        p = pad[:, t, None]
        g = p * e
        dc = dh * g
        de = dh * (c - h) * p
        da = dc * (1 - c * c)
        dxp[:, t] = da
        dw += da.T @ h
        dh_prev = dh * (1 - g) + da @ w_hh
        if pin is None:
            # d e_j / d m = e_j (1 - e_j) * lam * d, zero wherever the threshold is flat
            dm = (de * e * (1 - e)).sum(axis=1) * (lam * d) + dout[:, t + 1, d]
            ds = dm * m * (1 - m)
            dsp[:, t] = ds
            du += ds @ h
            dh_prev += ds[:, None] * u
        dh = dh_prev + dout[:, t, :d]
    return dxp, dsp, dh, dw, du


def _sigmoid(s):
    return (0.5 * (1.0 + np.tanh(0.5 * s))).astype(s.dtype, copy=False)


# ---- hard inference (compiled, with NumPy twins) --------------------------------------------

@njit(cache=True, fastmath=REDUCE)
def _dot(a, b):
    s = a[0] * 0
    for i in range(a.size):
        s += a[i] * b[i]
    return s


@njit(cache=True, fastmath=REDUCE)
def _matvec_rows_acc(k, w, h, out):
    """``out[:k] += w[:k] @ h``, four rows at a time: each loaded ``h[j]`` serves four rows,
    and the inner loop runs over contiguous memory, which the compiler vectorises."""
    n = h.size
    i = 0
    while i + 4 <= k:
        w0, w1, w2, w3 = w[i], w[i + 1], w[i + 2], w[i + 3]
        s0, s1, s2, s3 = out[i], out[i + 1], out[i + 2], out[i + 3]
        for j in range(n):
            hj = h[j]
            s0 += w0[j] * hj
            s1 += w1[j] * hj
            s2 += w2[j] * hj
            s3 += w3[j] * hj
        out[i], out[i + 1], out[i + 2], out[i + 3] = s0, s1, s2, s3
        i += 4
    for r in range(i, k):
        out[r] += _dot(w[r], h)


@njit(cache=True)
def _candidate_rows(k, h, x, w_hh, w_ih, bias, out):
    """``out[:k] = tanh(w_hh[:k] h + w_ih[:k] x + bias[:k])``: only the rows asked for."""
    out[:k] = bias[:k]
    _matvec_rows_acc(k, w_hh, h, out)
    _matvec_rows_acc(k, w_ih, x, out)
    for i in range(k):
        out[i] = math.tanh(out[i])


@njit(cache=True)
def vcrnn_hard_numba(x, lengths, h, w_ih, w_hh, bias, u, v, b_s, ms, ks):
    """Hard VCRNN over a batch, row by row; each step recomputes only its first k rows.

    Args:
        x: (B, T, d_x) inputs; lengths: (B,) int64 real steps per row (the rest is padding).
        h: (B, d) initial state, overwritten with the final state.
        w_ih (d, d_x), w_hh (d, d), bias (d,): the cell; u (d,), v (d_x,), b_s (1,): the
            scheduler.
        ms: (B, T) written: the ratio m_t (0 at padding). ks: (B, T) int64 written: rows
            recomputed (0 at padding).
    """
    B, T, _ = x.shape
    d = h.shape[1]
    new = np.empty(d, h.dtype)
    for b in range(B):
        hb = h[b]
        n = lengths[b]
        for t in range(n):
            xt = x[b, t]
            s = b_s[0] + _dot(u, hb) + _dot(v, xt)
            m = 0.5 * (1.0 + math.tanh(0.5 * s))  # sigmoid that cannot overflow in Python
            k = 0
            while k < d and m * d - (k + 0.5) > 0:
                k += 1
            _candidate_rows(k, hb, xt, w_hh, w_ih, bias, new)
            for i in range(k):  # after all rows are computed: they all read the old h
                hb[i] = new[i]
            ms[b, t] = m
            ks[b, t] = k
        for t in range(n, T):
            ms[b, t] = 0
            ks[b, t] = 0


def vcrnn_hard_numpy(x, lengths, h, w_ih, w_hh, bias, u, v, b_s, ms, ks):
    """The NumPy twin of :func:`vcrnn_hard_numba` (same arguments, same effect)."""
    B, T, _ = x.shape
    d = h.shape[1]
    offsets = np.arange(d) + 0.5
    ms[:] = 0
    ks[:] = 0
    for b in range(B):
        hb = h[b]
        for t in range(int(lengths[b])):
            xt = x[b, t]
            s = float(b_s[0] + u @ hb + v @ xt)
            m = 0.5 * (1.0 + math.tanh(0.5 * s))  # sigmoid that cannot overflow in Python
            k = int(np.count_nonzero(m * d - offsets > 0))
            hb[:k] = np.tanh(bias[:k] + w_hh[:k] @ hb + w_ih[:k] @ xt)
            ms[b, t] = m
            ks[b, t] = k


@njit(cache=True)
def rnn_full_numba(x, lengths, h, w_ih, w_hh, bias):
    """The full Elman RNN baseline, written like :func:`vcrnn_hard_numba` with k = d always
    and no scheduler, so the two differ only in the work VCRNN skips."""
    B, T, _ = x.shape
    d = h.shape[1]
    new = np.empty(d, h.dtype)
    for b in range(B):
        hb = h[b]
        for t in range(lengths[b]):
            _candidate_rows(d, hb, x[b, t], w_hh, w_ih, bias, new)
            for i in range(d):
                hb[i] = new[i]


def rnn_full_numpy(x, lengths, h, w_ih, w_hh, bias):
    """The NumPy twin of :func:`rnn_full_numba`."""
    for b in range(x.shape[0]):
        for t in range(int(lengths[b])):
            h[b] = np.tanh(bias + w_hh @ h[b] + w_ih @ x[b, t])


# ---- public wrappers -------------------------------------------------------------------------

def _check_inputs(fn, x, lengths, h0, w_ih, w_hh, bias):
    for name, a in (("x", x), ("h0", h0), ("w_ih", w_ih), ("w_hh", w_hh), ("bias", bias)):
        if not isinstance(a, np.ndarray):
            fail(fn, f"{name} must be a numpy array, got {type(a).__name__}", TypeError)
        if a.dtype != x.dtype or a.dtype not in (np.float32, np.float64):
            fail(fn, f"{name} must be float32 or float64 like x ({x.dtype}), got {a.dtype}",
                 TypeError)
    if x.ndim != 3:
        fail(fn, f"x must be 3-D (batch, time, input), got shape {x.shape}")
    B, T, dx = x.shape
    d = w_hh.shape[0] if w_hh.ndim == 2 else -1
    expected = {"w_hh": ((d, d), w_hh), "w_ih": ((d, dx), w_ih), "bias": ((d,), bias),
                "h0": ((B, d), h0)}
    for name, (shape, a) in expected.items():
        if a.shape != shape or d < 1:
            fail(fn, f"{name} must have shape {shape}, got {a.shape}")
    if not isinstance(lengths, np.ndarray) or lengths.dtype.kind not in "iu":
        fail(fn, f"lengths must be an integer numpy array, got "
             f"{getattr(lengths, 'dtype', type(lengths).__name__)}", TypeError)
    if lengths.shape != (B,):
        fail(fn, f"lengths must have shape (B,) = ({B},), got {lengths.shape}")
    if B and (lengths.min() < 0 or lengths.max() > T):
        fail(fn, f"lengths must be in [0, T] = [0, {T}], got {lengths.min()} to {lengths.max()}")
    return B, T, d


def vcrnn_hard_forward(x, lengths, h0, w_ih, w_hh, bias, u, v, b_s):
    """Hard-decision VCRNN inference: ``(h_T (B, d), ms (B, T), ks (B, T) int64)``.

    ``b_s`` is the scheduler's bias, a (1,) array. Inputs as in :func:`vcrnn_hard_numba`.
    """
    fn = "vcrnn_hard_forward"
    B, T, d = _check_inputs(fn, x, lengths, h0, w_ih, w_hh, bias)
    for name, a, shape in (("u", u, (d,)), ("v", v, (x.shape[2],)), ("b_s", b_s, (1,))):
        if not isinstance(a, np.ndarray) or a.dtype != x.dtype or a.shape != shape:
            fail(fn, f"{name} must be a {x.dtype} array of shape {shape}, got "
                 f"{getattr(a, 'dtype', type(a).__name__)} {getattr(a, 'shape', '')}")
    h = np.array(h0, order="C")
    ms = np.empty((B, T), x.dtype)
    ks = np.empty((B, T), np.int64)
    kernel = dispatch(vcrnn_hard_numba, vcrnn_hard_numpy)
    c = np.ascontiguousarray
    kernel(c(x), c(lengths, dtype=np.int64), h, c(w_ih), c(w_hh), c(bias), c(u), c(v), c(b_s),
           ms, ks)
    return h, ms, ks


def rnn_forward(x, lengths, h0, w_ih, w_hh, bias):
    """The full Elman RNN (every row, every real step): the final state (B, d)."""
    _check_inputs("rnn_forward", x, lengths, h0, w_ih, w_hh, bias)
    h = np.array(h0, order="C")
    kernel = dispatch(rnn_full_numba, rnn_full_numpy)
    c = np.ascontiguousarray
    kernel(c(x), c(lengths, dtype=np.int64), h, c(w_ih), c(w_hh), c(bias))
    return h


def warmup() -> None:
    """Compile (or load from the on-disk cache) the hard loops for float32 and float64."""
    from tinydyn.kernels.backend import use_backend

    rng = np.random.default_rng(0)
    with use_backend("numba"):
        for dtype in (np.float32, np.float64):
            x = rng.standard_normal((1, 2, 3)).astype(dtype)
            lengths = np.array([2])
            h0 = np.zeros((1, 4), dtype)
            w_ih, w_hh = np.zeros((4, 3), dtype), np.zeros((4, 4), dtype)
            b, u, v = np.zeros(4, dtype), np.zeros(4, dtype), np.zeros(3, dtype)
            vcrnn_hard_forward(x, lengths, h0, w_ih, w_hh, b, u, v, np.zeros(1, dtype))
            rnn_forward(x, lengths, h0, w_ih, w_hh, b)
