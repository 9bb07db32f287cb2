"""Dense building blocks shared by the recurrent kernels (the fused LSTM, Skim-RNN, LSTM-Jump).

Each recurrent kernel runs a small matrix product and the gate nonlinearities at every step;
sharing these pieces means every kernel is timed against the same arithmetic, so a measured
speed-up comes from skipping work rather than from a differently written loop.

* :func:`matmul_nt_acc`: ``out += a @ w.T``, register-blocked and vectorised, about as fast as
  one BLAS thread on these sizes without BLAS's threads (which fight NumPy's on 2 busy cores);
* :func:`exp_inplace`: a vectorisable float32 ``exp`` (``math.exp`` is a library call per
  element that the compiler cannot vectorise); sigmoid and tanh are written with it;
* :func:`tanh_cell`: the LSTM cell update ``c = f c + i g`` and ``tanh(c)`` for one step;
* :func:`gate_scale`: the per-gate factors that let one ``exp`` serve sigmoid and tanh.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["REDUCE", "exp_inplace", "gate_scale", "matmul_nt_acc", "tanh_cell"]

# Loops that sum need reassociation to be vectorised. No nnan/ninf: inputs may hold inf or
# nan, and the results should then say so rather than be undefined.
REDUCE = {"reassoc", "contract", "nsz"}


@njit(cache=True, fastmath=REDUCE)
def matmul_nt_acc(a, w, out):
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
def exp_inplace(x, bits):
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
def tanh_cell(gates_t, c_prev, c_new, tc, bits):
    """``c_new = f * c_prev + i * g`` and ``tc = tanh(c_new)`` for one step, (B, H) each."""
    B, H = c_prev.shape
    one = np.ones(1, c_prev.dtype)[0]
    for b in range(B):
        for j in range(H):
            c = gates_t[b, H + j] * c_prev[b, j] + gates_t[b, j] * gates_t[b, 2 * H + j]
            c_new[b, j] = c
            tc[b, j] = -(one + one) * c
    exp_inplace(tc.reshape(B * H), bits)
    for b in range(B):
        for j in range(H):
            tc[b, j] = (one + one) / (one + tc[b, j]) - one


def gate_scale(H, dtype):
    """-1 for the sigmoid gates i, f, o and -2 for the tanh gate g (see the forward steps)."""
    scale = np.full(4 * H, -1, dtype)
    scale[2 * H:3 * H] = -2
    return scale
