"""Skim-RNN loops: the soft (trainable) recurrence and the hard inference path that skims.

Skim-RNN (Seo, Min, Farhadi, Hajishirzi; ICLR 2018) keeps one hidden state (h, c) of size d
and two LSTM cells that read ``[x_t; h_{t-1}]``: a big one with hidden size d and a small one
with hidden size d' < d. For a row b at step t (read = 0, skim = 1)::

    l      = W_s [x_t; h] + b_s                     two logits: read, skim
    read:    (h, c) <- big(x_t, h, c)                every one of the d dims
    skim:    (h, c)[:d'] <- small(x_t, h, c[:d'])   the first d' dims; dims d'..d are copied

Two kinds of loop:

* the **soft** forward and backward over a whole sequence, for training, live in
  :mod:`tinydyn.kernels.skim_rnn_soft`. Both cells run at every step and are mixed with
  decision weights ``r = (r_read, r_skim)``: training saves nothing, as in the paper;
* the **hard** inference loop (:func:`skim_hard_numba` and its twin :func:`skim_hard_numpy`),
  compiled, which runs only the cell each row chose. At batch > 1 every step splits the rows
  into a read group and a skim group, and each group is one blocked matrix product with its
  own cell: the skimmed rows never pay for the big cell, and rows of a group still share each
  loaded weight.

The hard loop uses the fused LSTM kernel's building blocks (:mod:`tinydyn.kernels.lstm`: the
blocked product, the vectorised float32 exp and the gate scaling), so that timing it against
that kernel compares the work done, not two ways of writing a loop.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinydyn._checks import check_float, fail
from tinydyn.kernels.backend import dispatch, use_backend
from tinydyn.kernels.cell_math import exp_inplace, gate_scale, matmul_nt_acc

__all__ = [
    "HardWeights", "hard_weights", "skim_hard_forward", "skim_hard_numba", "skim_hard_numpy",
    "threshold_cut", "warmup",
]

READ, SKIM = 0, 1


# ---- hard inference (compiled, with a NumPy twin) ---------------------------------------------

@njit(cache=True)
def _cells(z, n, H, rows, h, c, bits):
    """Finish one group of ``n`` rows: ``z[:n]`` holds their gate-scaled pre-activations
    (see :func:`tinydyn.kernels.lstm.lstm_forward_steps_numba`); write the first H dims of
    ``h[rows[k]]`` and ``c[rows[k]]``."""
    one = z[0, 0] * 0 + 1  # 1 in z's dtype, without allocating
    two = one + one
    exp_inplace(z[:n].reshape(n * 4 * H), bits)
    for k in range(n):
        b = rows[k]
        for j in range(H):
            i = one / (one + z[k, j])
            f = one / (one + z[k, H + j])
            g = two / (one + z[k, 2 * H + j]) - one
            o = one / (one + z[k, 3 * H + j])
            cj = f * c[b, j] + i * g
            c[b, j] = cj
            z[k, j] = -two * cj  # reuse the slot: tanh(c) = 2 / (1 + exp(-2c)) - 1
            z[k, H + j] = o
    for k in range(n):
        exp_inplace(z[k, :H], bits)
        b = rows[k]
        for j in range(H):
            h[b, j] = z[k, H + j] * (two / (one + z[k, j]) - one)


@njit(cache=True, fastmath={"reassoc", "contract", "nsz"})
def _dot(a, b):
    s = a[0] * 0
    for k in range(a.size):
        s += a[k] * b[k]
    return s


@njit(cache=True)
def skim_hard_numba(x, lengths, h, c, w_big, b_big, w_small, b_small, w_dec, b_dec, cut,
                    skims, scores):
    """Hard Skim-RNN over a batch; each step runs only the cell each row chose.

    Args:
        x: (B, T, d_x); lengths: (B,) int64 real steps per row (the rest is padding).
        h, c: (B, d) initial state, overwritten with the final state.
        w_big: (4d, d_x + d) big cell on ``[x; h]``, b_big (4d,); w_small (4d', d_x + d),
            b_small (4d',): gate-scaled (rows times -1, or -2 for g) as :func:`hard_weights`
            lays them out. w_dec (d_x + d,), b_dec (1,): ``l_skim - l_read``.
        cut: skim where ``s > cut``, i.e. p(skim) > threshold with ``cut = logit(threshold)``.
        skims: (B, T) int8 written: 1 skimmed, 0 read or padding. scores: (B, T) written: s.
    """
    B, T, dx = x.shape
    d = h.shape[1]
    ds = w_small.shape[0] // 4
    K = dx + d
    xh = np.empty((B, K), x.dtype)     # [x_t; h] of every live row
    block = np.empty((B, K), x.dtype)  # the rows of one group, gathered
    zb = np.empty((B, 4 * d), x.dtype)
    zs = np.empty((B, 4 * ds), x.dtype)
    read = np.empty(B, np.int64)
    skim = np.empty(B, np.int64)
    bits = np.empty(B * 4 * d, np.int32)
    skims[:] = 0
    scores[:] = 0
    for t in range(T):
        nr = ns = 0
        for b in range(B):
            if t >= lengths[b]:
                continue
            row, xt, hb = xh[b], x[b, t], h[b]
            for k in range(dx):
                row[k] = xt[k]
            for k in range(d):
                row[dx + k] = hb[k]
            s = b_dec[0] + _dot(w_dec, row)
            scores[b, t] = s
            if s > cut:
                skims[b, t] = 1
                skim[ns] = b
                ns += 1
            else:
                read[nr] = b
                nr += 1
        if nr + ns == 0:
            break
        for group in range(2):  # each group: one blocked product with its own cell
            n, rows, z, w, bias, H = nr, read, zb, w_big, b_big, d
            if group == 1:
                n, rows, z, w, bias, H = ns, skim, zs, w_small, b_small, ds
            if n == 0:
                continue
            for k in range(n):
                z[k] = bias
            if n == 1:  # batch 1 (or a lone row): its [x; h] is already contiguous
                matmul_nt_acc(xh[rows[0]:rows[0] + 1], w, z[:1])
            else:
                for k in range(n):
                    block[k] = xh[rows[k]]
                matmul_nt_acc(block[:n], w, z[:n])
            _cells(z, n, H, rows, h, c, bits)


def skim_hard_numpy(x, lengths, h, c, w_big, b_big, w_small, b_small, w_dec, b_dec, cut,
                    skims, scores):
    """The NumPy twin of :func:`skim_hard_numba` (same arguments, same effect)."""
    B, T, dx = x.shape
    d = h.shape[1]
    ds = w_small.shape[0] // 4
    skims[:] = 0
    scores[:] = 0
    for t in range(T):
        live = np.flatnonzero(t < lengths)
        if live.size == 0:
            break
        xh = np.concatenate([x[live, t], h[live]], axis=1)
        s = b_dec[0] + xh @ w_dec
        scores[live, t] = s
        skims[live, t] = s > cut
        for rows, part, w, bias, H in ((live[s <= cut], s <= cut, w_big, b_big, d),
                                       (live[s > cut], s > cut, w_small, b_small, ds)):
            with np.errstate(over="ignore"):  # exp = inf gives a gate of exactly 0: intended
                e = np.exp(xh[part] @ w.T + bias)
            i, f, o = 1 / (1 + e[:, :H]), 1 / (1 + e[:, H:2 * H]), 1 / (1 + e[:, 3 * H:])
            g = 2 / (1 + e[:, 2 * H:3 * H]) - 1
            cn = f * c[rows, :H] + i * g
            c[rows, :H] = cn
            h[rows, :H] = o * np.tanh(cn)


# ---- public wrappers -------------------------------------------------------------------------

class HardWeights(tuple):
    """``(w_big, b_big, w_small, b_small, w_dec, b_dec)`` laid out for the hard loop."""

    __slots__ = ()


def hard_weights(w_ih, w_hh, bias, w_ih_small, w_hh_small, bias_small, w_dec, b_dec):
    """Lay the weights out once for :func:`skim_hard_forward` (as an inference engine would).

    Args: the big cell ``w_ih`` (4d, d_x), ``w_hh`` (4d, d), ``bias`` (4d,); the small cell
    ``w_ih_small`` (4d', d_x), ``w_hh_small`` (4d', d), ``bias_small`` (4d',); the decision
    ``w_dec`` (2, d_x + d) on ``[x; h]`` and ``b_dec`` (2,), rows read and skim. NumPy arrays
    of one float dtype.
    """
    fn = "hard_weights"
    arrays = {"w_ih": w_ih, "w_hh": w_hh, "bias": bias, "w_ih_small": w_ih_small,
              "w_hh_small": w_hh_small, "bias_small": bias_small, "w_dec": w_dec,
              "b_dec": b_dec}
    for name, a in arrays.items():
        if not isinstance(a, np.ndarray):
            fail(fn, f"{name} must be a numpy array, got {type(a).__name__}", TypeError)
        if a.dtype != w_ih.dtype or a.dtype not in (np.float32, np.float64):
            fail(fn, f"{name} must be float32 or float64 like w_ih ({w_ih.dtype}), got "
                 f"{a.dtype}", TypeError)
    G, dx = w_ih.shape if w_ih.ndim == 2 else (0, 0)
    d, ds = G // 4, w_ih_small.shape[0] // 4 if w_ih_small.ndim == 2 else 0
    expected = {"w_ih": (4 * d, dx), "w_hh": (4 * d, d), "bias": (4 * d,),
                "w_ih_small": (4 * ds, dx), "w_hh_small": (4 * ds, d), "bias_small": (4 * ds,),
                "w_dec": (2, dx + d), "b_dec": (2,)}
    for name, shape in expected.items():
        if arrays[name].shape != shape or d < 1 or ds < 1:
            fail(fn, f"{name} must have shape {shape}, got {arrays[name].shape}")
    if ds > d:
        fail(fn, f"the small cell must not be bigger than the big one, got d'={ds} > d={d}")

    def cell(w_x, w_h, b, H):
        scale = gate_scale(H, w_x.dtype)
        return (np.ascontiguousarray(np.concatenate([w_x, w_h], axis=1) * scale[:, None]),
                np.ascontiguousarray(b * scale))

    return HardWeights((*cell(w_ih, w_hh, bias, d), *cell(w_ih_small, w_hh_small, bias_small, ds),
                        np.ascontiguousarray(w_dec[SKIM] - w_dec[READ]),
                        np.array([b_dec[SKIM] - b_dec[READ]], w_dec.dtype)))


def threshold_cut(threshold: float) -> float:
    """``logit(threshold)``: p(skim) > threshold exactly when ``l_skim - l_read`` > this."""
    t = check_float("threshold_cut", "threshold", threshold, low=0.0, high=1.0)
    if t == 0.0:
        return -np.inf
    if t == 1.0:
        return np.inf
    return float(np.log(t) - np.log1p(-t))


def skim_hard_forward(x, lengths, h0, c0, weights, threshold: float = 0.5):
    """Hard Skim-RNN inference: ``(h_T, c_T (B, d), skims (B, T) bool, p_skim (B, T))``.

    ``weights`` from :func:`hard_weights`; a token is skimmed when p(skim) > ``threshold``
    (0.5: the argmax, ties read; 0: skim all; 1: read all). ``p_skim`` is 0 at padding.
    """
    fn = "skim_hard_forward"
    if not isinstance(weights, HardWeights):
        fail(fn, f"weights must come from hard_weights(...), got {type(weights).__name__}",
             TypeError)
    for name, a in (("x", x), ("h0", h0), ("c0", c0)):
        if not isinstance(a, np.ndarray):
            fail(fn, f"{name} must be a numpy array, got {type(a).__name__}", TypeError)
        if a.dtype != weights[0].dtype:
            fail(fn, f"{name} must have the weights' dtype {weights[0].dtype}, got {a.dtype}",
                 TypeError)
    if x.ndim != 3:
        fail(fn, f"x must be 3-D (batch, time, input), got shape {x.shape}")
    B, T, dx = x.shape
    d = weights[0].shape[0] // 4
    if weights[0].shape[1] != dx + d:
        fail(fn, f"x must have {weights[0].shape[1] - d} input features, got {dx}")
    for name, a in (("h0", h0), ("c0", c0)):
        if a.shape != (B, d):
            fail(fn, f"{name} must have shape {(B, d)}, got {a.shape}")
    if not isinstance(lengths, np.ndarray) or lengths.dtype.kind not in "iu":
        fail(fn, f"lengths must be an integer numpy array, got "
             f"{getattr(lengths, 'dtype', type(lengths).__name__)}", TypeError)
    if lengths.shape != (B,):
        fail(fn, f"lengths must have shape ({B},), got {lengths.shape}")
    if B and (lengths.min() < 0 or lengths.max() > T):
        fail(fn, f"lengths must be in [0, T] = [0, {T}], got {lengths.min()} to {lengths.max()}")
    threshold = check_float(fn, "threshold", threshold, low=0.0, high=1.0)
    h, c = np.array(h0, order="C"), np.array(c0, order="C")
    skims, scores = np.empty((B, T), np.int8), np.empty((B, T), x.dtype)
    kernel = dispatch(skim_hard_numba, skim_hard_numpy)
    kernel(np.ascontiguousarray(x), np.ascontiguousarray(lengths, dtype=np.int64), h, c,
           *weights, threshold_cut(threshold), skims, scores)
    p_skim = np.where(np.arange(T)[None] < lengths[:, None], 0.5 * (1 + np.tanh(0.5 * scores)), 0)
    return h, c, skims.astype(bool), p_skim.astype(x.dtype)


def warmup() -> None:
    """Compile (or load from the on-disk cache) the hard loop for float32 and float64."""
    rng = np.random.default_rng(0)
    with use_backend("numba"):
        for dtype in (np.float32, np.float64):
            w = [rng.standard_normal(s).astype(dtype) for s in
                 ((8, 3), (8, 2), (8,), (4, 3), (4, 2), (4,), (2, 5), (2,))]
            x = rng.standard_normal((2, 3, 3)).astype(dtype)
            h0 = np.zeros((2, 2), dtype)
            skim_hard_forward(x, np.array([3, 1]), h0, h0, hard_weights(*w))
