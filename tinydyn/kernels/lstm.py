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
  is small, and is written out in Numba (``matmul_nt_acc`` in :mod:`tinydyn.kernels.cell_math`,
  about as fast as one BLAS thread) rather than calling BLAS, whose threads would fight
  NumPy's on a busy 2-core machine.
* ``math.exp`` and ``math.tanh`` are library calls per element, which the compiler cannot
  vectorise; ``exp_inplace`` (same module) is a vectorisable float32 exp, and every
  nonlinearity is written with it: ``sigmoid(y) = 1 / (1 + exp(-y))``,
  ``tanh(y) = 2 / (1 + exp(-2y)) - 1``.
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

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from tinydyn.kernels.backend import dispatch, get_backend, use_backend
from tinydyn.kernels.cell_math import REDUCE, exp_inplace, gate_scale, matmul_nt_acc, tanh_cell
from tinydyn.kernels.threads import num_threads

__all__ = [
    "LSTMSaved", "lstm_backward", "lstm_backward_packed", "lstm_backward_steps_numba",
    "lstm_backward_steps_numpy", "lstm_forward", "lstm_forward_steps_numba",
    "lstm_forward_steps_numpy", "row_blocks", "warmup",
]



# Multiply-adds of the input projection below which the fused kernel's own single-threaded
# matmul does it rather than BLAS: at batch 1 (T=100, I=64, H=128: 3.3 M) BLAS would split it
# over its threads, and on a busy machine waiting for a descheduled BLAS thread took 5 ms of a
# 6.5 ms forward (measured with 2 threads), against 0.2 ms for the product on one thread.
SMALL_INPUT_PRODUCT = 1 << 23


class LSTMSaved(NamedTuple):
    """What the forward keeps for the backward (layouts in the module docstring)."""

    states: np.ndarray  # (T+2, B, H): h_0, h_1 .. h_T, c_T
    cs: np.ndarray      # (T+1, B, H): c_0 .. c_T
    gates: np.ndarray   # (T, B, 4H): i, f, g, o after their nonlinearity
    mask: np.ndarray    # (B, T) in the dtype of x
    x_tm: np.ndarray    # (T, B, I): the input, time-major


# ---- forward over all steps -----------------------------------------------------------------

@njit(cache=True)
def _forward_rows(mask, w_hh_s, states, cs, gates, r0, r1):
    """The recurrence for rows ``r0:r1`` of the batch, every step (see the caller)."""
    T, _, G = gates.shape
    H = G // 4
    B = r1 - r0
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
        z = gates[t, r0:r1]
        matmul_nt_acc(states[t, r0:r1], w_hh_s, z)
        exp_inplace(z.reshape(B * G), bits)
        for b in range(B):
            for k in range(G):
                z[b, k] = mul[k] / (one + z[b, k]) + add[k]
        tanh_cell(z, cs[t, r0:r1], c_new, tc, bits)
        for b in range(B):
            r = r0 + b
            m = mask[r, t]
            if m == one:
                for j in range(H):
                    states[t + 1, r, j] = z[b, 3 * H + j] * tc[b, j]
                    cs[t + 1, r, j] = c_new[b, j]
            else:  # m = 0 gives back the old state exactly: 0 * finite + 1 * old
                for j in range(H):
                    states[t + 1, r, j] = (m * (z[b, 3 * H + j] * tc[b, j])
                                           + (one - m) * states[t, r, j])
                    cs[t + 1, r, j] = m * c_new[b, j] + (one - m) * cs[t, r, j]


def row_blocks(B, threads):
    """Split B rows into at most ``threads`` contiguous blocks; ``bounds[k]:bounds[k + 1]``.

    The rows of a batch never interact in an LSTM, so each block can run every step on its
    own core with no synchronisation between steps. Block sizes are multiples of 4 (but the
    last), the row blocking of ``matmul_nt_acc``, and at least 8 rows, below which a second
    thread costs more than it saves.
    """
    n = max(1, min(threads, B // 8))
    per = -(-B // n)
    per = max(4, -(-per // 4) * 4)
    return np.minimum(np.arange(0, B + per, per), B)


@njit(cache=True, parallel=True)
def _forward_blocks(mask, w_hh_s, states, cs, gates, bounds):
    T = gates.shape[0]
    for k in prange(bounds.size - 1):
        _forward_rows(mask, w_hh_s, states, cs, gates, bounds[k], bounds[k + 1])
    states[T + 1] = cs[T]


def lstm_forward_steps_numba(mask, w_hh_s, states, cs, gates):
    """Run the recurrence in place, one block of batch rows per thread (see :func:`row_blocks`;
    the thread count is Numba's, ``NUMBA_NUM_THREADS``, which ``--threads`` pins).

    Args:
        mask: (B, T) step weights (1 = real step, 0 = padding).
        w_hh_s: (4H, H) the recurrent weights with rows scaled by ``-1`` (i, f, o) or ``-2``
            (g): then ``exp`` of a pre-activation is directly what sigmoid/tanh need.
        states: (T+2, B, H) with ``states[0] = h_0`` written; fills ``states[1:]``.
        cs: (T+1, B, H) with ``cs[0] = c_0`` written; fills ``cs[1:]``.
        gates: (T, B, 4H) holding the equally scaled ``x_t @ w_ih.T + bias``; overwritten
            with the activated gates.
    """
    bounds = row_blocks(gates.shape[1], num_threads())
    if bounds.size <= 2:
        # One block (batch 1): no parallel region. Entering one costs a thread wake-up per
        # call, which on a loaded 2-core machine measured 33 ms against 0.2 ms for the steps.
        _forward_rows(mask, w_hh_s, states, cs, gates, 0, gates.shape[1])
        states[gates.shape[0] + 1] = cs[gates.shape[0]]
        return
    _forward_blocks(mask, w_hh_s, states, cs, gates, bounds)


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
    scale = gate_scale(H, dtype)
    x_tm = np.ascontiguousarray(x.transpose(1, 0, 2))
    gates = np.empty((T, B, 4 * H), dtype)
    rows, flat_gates = x_tm.reshape(T * B, I), gates.reshape(T * B, 4 * H)
    if get_backend() == "numba" and T * B * I * 4 * H <= SMALL_INPUT_PRODUCT:
        # A small product (batch 1): one thread, no BLAS thread pool to wake and wait for.
        flat_gates[:] = bias * scale
        matmul_nt_acc(rows, w_ih * scale[:, None], flat_gates)
    else:
        np.matmul(rows, (w_ih * scale[:, None]).T, out=flat_gates)
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

@njit(cache=True, fastmath=REDUCE)
def _backward_rows(mask, w_hh_t, states, cs, gates, dstates, dz, dmask, dh, dc, r0, r1):
    """The backward recurrence for rows ``r0:r1`` (see the caller); ``dh``, ``dc`` (B, H)
    hold the gradients reaching h_T and c_T on entry and h_0 and c_0 on exit, for these rows."""
    T, _, G = gates.shape
    H = G // 4
    B = r1 - r0
    dtype = gates.dtype
    one = np.ones(1, dtype)[0]
    zero = one - one
    c_new = np.empty((B, H), dtype)
    tc = np.empty((B, H), dtype)
    bits = np.empty(B * H, np.int32)
    for t in range(T - 1, -1, -1):
        gt = gates[t, r0:r1]
        tanh_cell(gt, cs[t, r0:r1], c_new, tc, bits)
        for b in range(B):
            r = r0 + b
            m = mask[r, t]
            acc = zero
            for j in range(H):
                dh_j = dstates[t + 1, r, j] + dh[r, j]
                dc_j = dc[r, j]
                i, f, g, o = gt[b, j], gt[b, H + j], gt[b, 2 * H + j], gt[b, 3 * H + j]
                c_prev = cs[t, r, j]
                # d/dm of m * new + (1 - m) * old is new - old
                acc += dh_j * (o * tc[b, j] - states[t, r, j]) + dc_j * (c_new[b, j] - c_prev)
                dh_new = m * dh_j  # what reaches this step's h~ and c~
                dc_new = m * dc_j + dh_new * o * (one - tc[b, j] * tc[b, j])
                dz[t, r, j] = dc_new * g * i * (one - i)
                dz[t, r, H + j] = dc_new * c_prev * f * (one - f)
                dz[t, r, 2 * H + j] = dc_new * i * (one - g * g)
                dz[t, r, 3 * H + j] = dh_new * tc[b, j] * o * (one - o)
                dc[r, j] = (one - m) * dc_j + dc_new * f
                dh[r, j] = (one - m) * dh_j
            dmask[r, t] = acc
        matmul_nt_acc(dz[t, r0:r1], w_hh_t, dh[r0:r1])  # dh += dz_t @ w_hh


@njit(cache=True, parallel=True)
def _backward_blocks(mask, w_hh_t, states, cs, gates, dstates, dz, dmask, bounds):
    T, B, G = gates.shape
    dh = np.zeros((B, G // 4), gates.dtype)  # the gradient reaching h_t through later steps
    dc = dstates[T + 1].copy()               # the same for c_t
    for k in prange(bounds.size - 1):
        _backward_rows(mask, w_hh_t, states, cs, gates, dstates, dz, dmask, dh, dc,
                       bounds[k], bounds[k + 1])
    return dh, dc


def lstm_backward_steps_numba(mask, w_hh_t, states, cs, gates, dstates, dz, dmask):
    """Walk the steps backwards; fill ``dz`` and ``dmask``, return ``(dh_0, dc_0)``.

    One block of batch rows per thread (see :func:`row_blocks`): rows interact only through
    the weight gradients, which are summed after the loop.

    Args:
        mask, states, cs, gates: as left by the forward; w_hh_t: (H, 4H) = ``w_hh.T``.
        dstates: (T+2, B, H) the gradient w.r.t. ``states`` (rows 1..T: the hidden states,
            including h_T; row T+1: c_T; row 0, the copy of h_0, is the caller's business).
        dz: (T, B, 4H) written: the gradient w.r.t. the gate pre-activations of every step.
        dmask: (B, T) written: the gradient w.r.t. the mask.
    """
    bounds = row_blocks(gates.shape[1], num_threads())
    if bounds.size <= 2:  # one block: run it here, without a parallel launch
        T, B, G = gates.shape
        dh = np.zeros((B, G // 4), gates.dtype)
        dc = dstates[T + 1].copy()
        _backward_rows(mask, w_hh_t, states, cs, gates, dstates, dz, dmask, dh, dc, 0, B)
        return dh, dc
    return _backward_blocks(mask, w_hh_t, states, cs, gates, dstates, dz, dmask, bounds)


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
