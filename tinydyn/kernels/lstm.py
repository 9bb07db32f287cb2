"""A fused LSTM over a whole sequence, forward and backward, with a padding mask.

One layer, gate order i, f, g, o (as in PyTorch). For every step t and row b::

    z   = x_t @ w_ih.T + bias + h_{t-1} @ w_hh.T          (B, 4H), split into four blocks
    i, f, g, o = sigmoid(z_i), sigmoid(z_f), tanh(z_g), sigmoid(z_o)
    c~  = f * c_{t-1} + i * g
    h~  = o * tanh(c~)
    c_t = m * c~ + (1 - m) * c_{t-1}                       m = mask[b, t]
    h_t = m * h~ + (1 - m) * h_{t-1}

With m = 0 (padding) the state is carried over unchanged and the step gives no gradient to the
weights or to x. A fractional m interpolates, and the mask gets a gradient too, so a learned
soft "update or skip" gate can drive it.

Where the time goes, and what is done about it:

* ``x @ w_ih.T`` does not depend on the recurrence: one big matmul (NumPy's BLAS) for all
  steps before the loop. In the backward, ``dx``, ``dw_ih``, ``dw_hh`` and ``dbias`` are
  likewise single big matmuls over the gate gradients of all steps, after the loop.
* Only ``h_{t-1} @ w_hh.T`` (and ``dz_t @ w_hh`` backward) must run step by step. That product
  is small, and is written out in Numba (:func:`_matmul_nt_acc`, about as fast as one BLAS
  thread) rather than calling BLAS, whose threads would fight NumPy's on a busy 2-core machine.
* ``math.exp`` and ``math.tanh`` are library calls per element, which the compiler cannot
  vectorise; :func:`_exp_inplace` is a vectorisable float32 exp, and every nonlinearity is
  written with it: ``sigmoid(y) = 1 / (1 + exp(-y))``, ``tanh(y) = 2 / (1 + exp(-2y)) - 1``.
* Fresh memory is expensive (the first touch of every page is a fault), so little is stored:
  tanh(c~) is recomputed in the backward rather than kept.

Layouts (C-contiguous, time-major, so each step's rows are one contiguous block):
``states`` (T+2, B, H) holds ``[h_0, h_1 .. h_T, c_T]``: the hidden states, the final ``h_T``
and ``c_T`` are views of one array, which is what an autograd op can return.
``cs`` (T+1, B, H) holds ``c_0 .. c_T``; ``gates`` (T, B, 4H) the activated gates.

Each step loop exists twice with the same signature: ``*_numba`` (compiled) and ``*_numpy``
(whole-batch NumPy). :func:`lstm_forward` and :func:`lstm_backward` pick one via the backend.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from tinydyn.kernels.backend import dispatch, use_backend

__all__ = [
    "LSTMSaved", "lstm_backward", "lstm_backward_packed", "lstm_backward_steps_numba",
    "lstm_backward_steps_numpy", "lstm_forward", "lstm_forward_steps_numba",
    "lstm_forward_steps_numpy", "warmup",
]

# Loops that sum need reassociation to be vectorised. No nnan/ninf: inputs may hold inf or
# nan, and the results should then say so rather than be undefined.
_REDUCE = {"reassoc", "contract", "nsz"}


class LSTMSaved(NamedTuple):
    """What the forward keeps for the backward (layouts in the module docstring)."""

    states: np.ndarray  # (T+2, B, H): h_0, h_1 .. h_T, c_T
    cs: np.ndarray      # (T+1, B, H): c_0 .. c_T
    gates: np.ndarray   # (T, B, 4H): i, f, g, o after their nonlinearity
    mask: np.ndarray    # (B, T) in the dtype of x
    x_tm: np.ndarray    # (T, B, I): the input, time-major


# ---- compiled building blocks ---------------------------------------------------------------

@njit(cache=True, fastmath=_REDUCE)
def _matmul_nt_acc(a, w, out):
    """``out += a @ w.T`` for C-contiguous a (B, K), w (N, K), out (B, N).

    A block of 4 rows of ``a`` times 2 rows of ``w`` keeps 8 sums in registers: each element
    loaded serves 2 or 4 multiply-adds, and the inner loop runs over contiguous memory, which
    the compiler vectorises (``reassoc`` allows it to split each sum into vector lanes).
    """
    B, K = a.shape
    N = w.shape[0]
    b = 0
    while b + 4 <= B:
        a0, a1, a2, a3 = a[b], a[b + 1], a[b + 2], a[b + 3]
        n = 0
        while n + 2 <= N:
            w0, w1 = w[n], w[n + 1]
            s00, s10, s20, s30 = out[b, n], out[b + 1, n], out[b + 2, n], out[b + 3, n]
            s01, s11, s21, s31 = (out[b, n + 1], out[b + 1, n + 1], out[b + 2, n + 1],
                                  out[b + 3, n + 1])
            for k in range(K):
                x0, x1 = w0[k], w1[k]
                y0, y1, y2, y3 = a0[k], a1[k], a2[k], a3[k]
                s00 += y0 * x0
                s10 += y1 * x0
                s20 += y2 * x0
                s30 += y3 * x0
                s01 += y0 * x1
                s11 += y1 * x1
                s21 += y2 * x1
                s31 += y3 * x1
            out[b, n], out[b + 1, n], out[b + 2, n], out[b + 3, n] = s00, s10, s20, s30
            out[b, n + 1], out[b + 1, n + 1], out[b + 2, n + 1], out[b + 3, n + 1] = (
                s01, s11, s21, s31)
            n += 2
        for col in range(n, N):  # an odd last column
            for r in range(b, b + 4):
                s = out[r, col]
                for k in range(K):
                    s += a[r, k] * w[col, k]
                out[r, col] = s
        b += 4
    for row in range(b, B):  # leftover rows (all of them at batch 1): four columns at a time
        ab = a[row]
        n = 0
        while n + 4 <= N:
            w0, w1, w2, w3 = w[n], w[n + 1], w[n + 2], w[n + 3]
            s0, s1, s2, s3 = out[row, n], out[row, n + 1], out[row, n + 2], out[row, n + 3]
            for k in range(K):
                ak = ab[k]
                s0 += ak * w0[k]
                s1 += ak * w1[k]
                s2 += ak * w2[k]
                s3 += ak * w3[k]
            out[row, n], out[row, n + 1], out[row, n + 2], out[row, n + 3] = s0, s1, s2, s3
            n += 4
        for col in range(n, N):
            s = out[row, col]
            for k in range(K):
                s += ab[k] * w[col, k]
            out[row, col] = s


@njit(cache=True)
def _exp_inplace(x, bits):
    """``x = exp(x)`` on a contiguous 1-D array; ``bits`` is int32 scratch at least as long.

    For float32, as vectorised math libraries do: write x = q*ln2 + r with |r| <= ln2/2,
    approximate exp(r) by a polynomial (Cephes expf coefficients, about 1 ulp), and multiply
    by 2**q, built directly as the float32 bit pattern (q + 127) << 23. The argument is clamped
    to [-87, 88] so 2**q stays a normal float (sigmoid and tanh have saturated long before).
    float64 (gradient checks) takes the exact ``math.exp``. No fastmath here: reassociating
    ``v - q*C1 + q*C2`` would throw away the extra precision that splitting ln2 buys.
    """
    if x.itemsize != 4:
        for k in range(x.size):
            x[k] = math.exp(x[k])
        return
    scale = bits.view(np.float32)
    for k in range(x.size):
        v = min(max(x[k], np.float32(-87.0)), np.float32(88.0))
        q = np.floor(v * np.float32(1.4426950408889634) + np.float32(0.5))
        r = v - q * np.float32(0.693359375) + q * np.float32(2.12194440e-4)  # ln2 in 2 parts
        p = np.float32(1.9875691500e-4) * r + np.float32(1.3981999507e-3)
        p = p * r + np.float32(8.3334519073e-3)
        p = p * r + np.float32(4.1665795894e-2)
        p = p * r + np.float32(1.6666665459e-1)
        p = p * r + np.float32(5.0000001201e-1)
        x[k] = p * r * r + r + np.float32(1.0)
        bits[k] = (np.int32(q) + np.int32(127)) << np.int32(23)
    for k in range(x.size):  # a second pass reads the int32 bits back as float32
        x[k] *= scale[k]


@njit(cache=True)
def _tanh_cell(gates_t, c_prev, c_new, tc, bits):
    """``c_new = f * c_prev + i * g`` and ``tc = tanh(c_new)`` for one step, (B, H) each."""
    B, H = c_prev.shape
    one = np.ones(1, c_prev.dtype)[0]
    for b in range(B):
        for j in range(H):
            c = gates_t[b, H + j] * c_prev[b, j] + gates_t[b, j] * gates_t[b, 2 * H + j]
            c_new[b, j] = c
            tc[b, j] = -(one + one) * c
    _exp_inplace(tc.reshape(B * H), bits)
    for b in range(B):
        for j in range(H):
            tc[b, j] = (one + one) / (one + tc[b, j]) - one


# ---- forward over all steps -----------------------------------------------------------------

@njit(cache=True)
def lstm_forward_steps_numba(mask, w_hh_s, states, cs, gates):
    """Run the recurrence in place.

    Args:
        mask: (B, T) step weights (1 = real step, 0 = padding).
        w_hh_s: (4H, H) the recurrent weights with rows scaled by ``-1`` (i, f, o) or ``-2``
            (g): then ``exp`` of a pre-activation is directly what sigmoid/tanh need.
        states: (T+2, B, H) with ``states[0] = h_0`` written; fills ``states[1:]``.
        cs: (T+1, B, H) with ``cs[0] = c_0`` written; fills ``cs[1:]``.
        gates: (T, B, 4H) holding the equally scaled ``x_t @ w_ih.T + bias``; overwritten
            with the activated gates.
    """
    T, B, G = gates.shape
    H = G // 4
    one = np.ones(1, gates.dtype)[0]
    two = one + one
    # gate k is mul[k] / (1 + exp(scaled z)) + add[k]: sigmoid, or 2 * sigmoid(2y) - 1 = tanh
    mul = np.full(G, one, gates.dtype)
    add = np.zeros(G, gates.dtype)
    mul[2 * H:3 * H] = two
    add[2 * H:3 * H] = -one
    c_new = np.empty((B, H), gates.dtype)
    tc = np.empty((B, H), gates.dtype)
    bits = np.empty(B * G, np.int32)
    for t in range(T):
        z = gates[t]
        _matmul_nt_acc(states[t], w_hh_s, z)
        _exp_inplace(z.reshape(B * G), bits)
        for b in range(B):
            for k in range(G):
                z[b, k] = mul[k] / (one + z[b, k]) + add[k]
        _tanh_cell(z, cs[t], c_new, tc, bits)
        for b in range(B):
            m = mask[b, t]
            if m == one:
                for j in range(H):
                    states[t + 1, b, j] = z[b, 3 * H + j] * tc[b, j]
                    cs[t + 1, b, j] = c_new[b, j]
            else:  # m = 0 gives back the old state exactly: 0 * finite + 1 * old
                for j in range(H):
                    states[t + 1, b, j] = (m * (z[b, 3 * H + j] * tc[b, j])
                                           + (one - m) * states[t, b, j])
                    cs[t + 1, b, j] = m * c_new[b, j] + (one - m) * cs[t, b, j]
    states[T + 1] = cs[T]


def lstm_forward_steps_numpy(mask, w_hh_s, states, cs, gates):
    """The NumPy twin of :func:`lstm_forward_steps_numba` (same arguments, same effect)."""
    T, B, G = gates.shape
    H = G // 4
    mul = np.where(np.arange(G) // H == 2, 2, 1).astype(gates.dtype)
    add = np.where(np.arange(G) // H == 2, -1, 0).astype(gates.dtype)
    for t in range(T):
        with np.errstate(over="ignore"):  # exp = inf means 1 / (1 + inf) = 0: intended
            gates[t] = mul / (1 + np.exp(gates[t] + states[t] @ w_hh_s.T)) + add
        i, f, g, o = (gates[t, :, k * H:(k + 1) * H] for k in range(4))
        c_new = f * cs[t] + i * g
        m = mask[:, t, None]
        cs[t + 1] = m * c_new + (1 - m) * cs[t]
        states[t + 1] = m * (o * np.tanh(c_new)) + (1 - m) * states[t]
    states[T + 1] = cs[T]


def _gate_scale(H, dtype):
    """-1 for the sigmoid gates i, f, o and -2 for the tanh gate g (see the forward steps)."""
    scale = np.full(4 * H, -1, dtype)
    scale[2 * H:3 * H] = -2
    return scale


def lstm_forward(x, h0, c0, w_ih, w_hh, bias, mask=None):
    """Forward of a one-layer LSTM over a whole batch-first sequence.

    Args:
        x: (B, T, I) inputs; h0, c0: (B, H) initial state.
        w_ih: (4H, I), w_hh: (4H, H), bias: (4H,), gate blocks in the order i, f, g, o.
        mask: (B, T) bool or float, 0 at padding steps (None: every step is real).
    All float arrays share one dtype (float32 or float64); inputs are assumed valid (the
    autograd op :func:`tinydyn.lstm` checks them).

    Returns:
        ``(hs, h_T, c_T, saved)``: hidden states (B, T, H), final state (B, H) twice (views
        into ``saved.states``) and the :class:`LSTMSaved` that :func:`lstm_backward` needs.
    """
    B, T, I = x.shape
    H = w_hh.shape[1]
    dtype = x.dtype
    mask = np.ones((B, T), dtype) if mask is None else np.ascontiguousarray(mask, dtype=dtype)
    scale = _gate_scale(H, dtype)
    x_tm = np.ascontiguousarray(x.transpose(1, 0, 2))
    gates = np.empty((T, B, 4 * H), dtype)
    np.matmul(x_tm.reshape(T * B, I), (w_ih * scale[:, None]).T,
              out=gates.reshape(T * B, 4 * H))
    gates += bias * scale
    states = np.empty((T + 2, B, H), dtype)
    states[0] = h0
    cs = np.empty((T + 1, B, H), dtype)
    cs[0] = c0
    steps = dispatch(lstm_forward_steps_numba, lstm_forward_steps_numpy)
    steps(mask, np.ascontiguousarray(w_hh * scale[:, None]), states, cs, gates)
    saved = LSTMSaved(states, cs, gates, mask, x_tm)
    return states[1:T + 1].transpose(1, 0, 2), states[T], states[T + 1], saved


# ---- backward over all steps ----------------------------------------------------------------

@njit(cache=True, fastmath=_REDUCE)
def lstm_backward_steps_numba(mask, w_hh_t, states, cs, gates, dstates, dz, dmask):
    """Walk the steps backwards; fill ``dz`` and ``dmask``, return ``(dh_0, dc_0)``.

    Args:
        mask, states, cs, gates: as left by the forward; w_hh_t: (H, 4H) = ``w_hh.T``.
        dstates: (T+2, B, H) the gradient w.r.t. ``states`` (rows 1..T: the hidden states,
            including h_T; row T+1: c_T; row 0, the copy of h_0, is the caller's business).
        dz: (T, B, 4H) written: the gradient w.r.t. the gate pre-activations of every step.
        dmask: (B, T) written: the gradient w.r.t. the mask.
    """
    T, B, G = gates.shape
    H = G // 4
    dtype = gates.dtype
    one = np.ones(1, dtype)[0]
    zero = one - one
    dh = np.zeros((B, H), dtype)  # the gradient reaching h_t through the steps after t
    dc = dstates[T + 1].copy()    # the same for c_t
    c_new = np.empty((B, H), dtype)
    tc = np.empty((B, H), dtype)
    bits = np.empty(B * H, np.int32)
    for t in range(T - 1, -1, -1):
        gt = gates[t]
        _tanh_cell(gt, cs[t], c_new, tc, bits)
        for b in range(B):
            m = mask[b, t]
            acc = zero
            for j in range(H):
                dh_j = dstates[t + 1, b, j] + dh[b, j]
                dc_j = dc[b, j]
                i, f, g, o = gt[b, j], gt[b, H + j], gt[b, 2 * H + j], gt[b, 3 * H + j]
                c_prev = cs[t, b, j]
                # d/dm of m * new + (1 - m) * old is new - old
                acc += dh_j * (o * tc[b, j] - states[t, b, j]) + dc_j * (c_new[b, j] - c_prev)
                dh_new = m * dh_j  # what reaches this step's h~ and c~
                dc_new = m * dc_j + dh_new * o * (one - tc[b, j] * tc[b, j])
                dz[t, b, j] = dc_new * g * i * (one - i)
                dz[t, b, H + j] = dc_new * c_prev * f * (one - f)
                dz[t, b, 2 * H + j] = dc_new * i * (one - g * g)
                dz[t, b, 3 * H + j] = dh_new * tc[b, j] * o * (one - o)
                dc[b, j] = (one - m) * dc_j + dc_new * f
                dh[b, j] = (one - m) * dh_j
            dmask[b, t] = acc
        _matmul_nt_acc(dz[t], w_hh_t, dh)  # dh += dz_t @ w_hh
    return dh, dc


def lstm_backward_steps_numpy(mask, w_hh_t, states, cs, gates, dstates, dz, dmask):
    """The NumPy twin of :func:`lstm_backward_steps_numba` (same arguments, same effect)."""
    T, B, G = gates.shape
    H = G // 4
    dh = np.zeros((B, H), dtype=gates.dtype)
    dc = dstates[T + 1].copy()
    for t in range(T - 1, -1, -1):
        i, f, g, o = (gates[t, :, k * H:(k + 1) * H] for k in range(4))
        c_prev, m = cs[t], mask[:, t, None]
        c_new = f * c_prev + i * g
        tc = np.tanh(c_new)
        dh_t = dstates[t + 1] + dh
        dmask[:, t] = (dh_t * (o * tc - states[t]) + dc * (c_new - c_prev)).sum(1)
        dh_new = m * dh_t
        dc_new = m * dc + dh_new * o * (1 - tc * tc)
        dz[t] = np.concatenate((dc_new * g * i * (1 - i), dc_new * c_prev * f * (1 - f),
                                dc_new * i * (1 - g * g), dh_new * tc * o * (1 - o)), axis=1)
        dc = (1 - m) * dc + dc_new * f
        dh = (1 - m) * dh_t + dz[t] @ w_hh_t.T
    return dh, dc


def lstm_backward_packed(saved, w_ih, w_hh, dstates):
    """Gradients given ``dstates`` (T+2, B, H), the gradient w.r.t. ``saved.states``.

    Returns ``(dx, dh0, dc0, dw_ih, dw_hh, dbias, dmask)`` in the shapes of the forward's
    inputs (``dx`` is a (B, T, I) view of a time-major array). Row 0 of ``dstates`` (the copy
    of h_0 in ``states``) goes to ``dh0``: this is the exact backward of ``saved.states``.
    """
    T, B, I = saved.x_tm.shape
    H = w_hh.shape[1]
    dtype = saved.gates.dtype
    dstates = np.ascontiguousarray(dstates, dtype=dtype)  # one compiled layout, not several
    dz = np.empty((T, B, 4 * H), dtype)
    dmask = np.empty((B, T), dtype)
    steps = dispatch(lstm_backward_steps_numba, lstm_backward_steps_numpy)
    dh0, dc0 = steps(saved.mask, np.ascontiguousarray(w_hh.T), saved.states, saved.cs,
                     saved.gates, dstates, dz, dmask)
    dh0 += dstates[0]
    # what does not feed the recurrence is one big matmul each, over all T*B rows at once
    dz2 = dz.reshape(T * B, 4 * H)
    dx = (dz2 @ w_ih).reshape(T, B, I).transpose(1, 0, 2)
    dw_ih = dz2.T @ saved.x_tm.reshape(T * B, I)
    dw_hh = dz2.T @ saved.states[:T].reshape(T * B, H)  # h_{t-1} of every step t
    dbias = dz2.sum(axis=0)
    return dx, dh0, dc0, dw_ih, dw_hh, dbias, dmask


def lstm_backward(saved, w_ih, w_hh, dhs, dh_T=None, dc_T=None):
    """Gradients given those of the outputs ``hs`` (B, T, H), ``h_T`` and ``c_T`` (B, H).

    ``dh_T`` and ``dc_T`` may be None (zero). Returns
    ``(dx, dh0, dc0, dw_ih, dw_hh, dbias, dmask)`` in the shapes of the forward's inputs.
    """
    T = saved.x_tm.shape[0]
    dstates = np.zeros(saved.states.shape, saved.states.dtype)
    dstates[1:T + 1] = np.swapaxes(dhs, 0, 1)
    if dh_T is not None:
        dstates[T] += dh_T
    if dc_T is not None:
        dstates[T + 1] = dc_T
    return lstm_backward_packed(saved, w_ih, w_hh, dstates)


def warmup() -> None:
    """Compile (or load from the on-disk cache) both step loops for float32 and float64."""
    rng = np.random.default_rng(0)
    B, T, I, H = 2, 3, 2, 4
    with use_backend("numba"):
        for dtype in (np.float32, np.float64):
            x = rng.standard_normal((B, T, I)).astype(dtype)
            w_ih = rng.standard_normal((4 * H, I)).astype(dtype)
            w_hh = rng.standard_normal((4 * H, H)).astype(dtype)
            h0 = np.zeros((B, H), dtype)
            hs, _, _, saved = lstm_forward(x, h0, h0, w_ih, w_hh, np.zeros(4 * H, dtype))
            lstm_backward(saved, w_ih, w_hh, np.ones_like(hs))
