"""The soft (trainable) Skim-RNN recurrence: forward and backward step loops, compiled, with
NumPy twins.

Training runs both cells at every step and mixes them with decision weights
``r = (r_read, r_skim)`` (see :mod:`tinydyn.kernels.skim_rnn` for the equations):

* ``r`` is a Gumbel-softmax sample ``y = softmax((log p + g) / tau)``, or its one-hot with
  y's gradient (straight-through, ``hard``), or given by the caller (``force``, no gradient);
* ``h <- r_read * big(x, h, c) + r_skim * [small(x, h, c[:d']); h[d':]]`` (and c alike).

Both cells and the decision are laid out as ONE wide LSTM of width ``H2 = d + d'`` followed by
the two decision logits, so a step is one matrix product: gate block k in (i, f, g, o) holds
the big cell's d units then the small cell's d', and the previous cell state of that wide LSTM
is ``[c; c[:d']]``. Columns, ``G = 4 H2 + 2`` in all::

    [ i_big i_small | f_big f_small | g_big g_small | o_big o_small | l_read l_skim ]

As in :mod:`tinydyn.kernels.lstm`, the gate columns arrive scaled by -1 (sigmoid gates) or -2
(g), so that ``gate = mul / (1 + exp(z)) + add`` uses the vectorised float32 exp; the step
products use the same blocked ``matmul_nt_acc``. Arrays are time-major and C-contiguous.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from tinydyn.kernels.backend import dispatch
from tinydyn.kernels.cell_math import exp_inplace, matmul_nt_acc

__all__ = ["gate_scale", "skim_soft_backward", "skim_soft_forward", "soft_backward_numba",
           "soft_backward_numpy", "soft_forward_numba", "soft_forward_numpy", "wide_order"]


def wide_order(d: int, ds: int) -> np.ndarray:
    """Row order of the wide layout: ``wide = stacked[order]`` where ``stacked`` is the big
    cell's 4d rows, then the small cell's 4d', then the 2 decision rows (G in all)."""
    blocks = [np.concatenate([np.arange(k * d, (k + 1) * d),
                              4 * d + np.arange(k * ds, (k + 1) * ds)]) for k in range(4)]
    return np.concatenate(blocks + [4 * (d + ds) + np.arange(2)]).astype(np.int64)


def gate_scale(H2: int, dtype) -> np.ndarray:
    """(G,) column scales: -1 for sigmoid gates, -2 for g, 1 for the two logits."""
    scale = np.full(4 * H2 + 2, -1, dtype)
    scale[2 * H2:3 * H2] = -2
    scale[4 * H2:] = 1
    return scale


# ---- forward ---------------------------------------------------------------------------------

@njit(cache=True)
def soft_forward_numba(z, w_all, ds, noise, pad, force, sampled, hard, tau, hs, cs, cws, tcs,
                       logp, r, soft):
    """Run the soft recurrence in place.

    Args:
        z: (T, B, G) the input's part of every step (scaled columns); overwritten: the gate
            columns with the activated gates (the logit columns are scratch).
        w_all: (G, d) the weights on h, scaled alike. ds: d'. noise: (T, B, 2) Gumbel noise.
        pad: (T, B) 1 at real steps, 0 at padding. force: (T, B) skim decisions (read when
            ``sampled``). sampled, hard: bools. tau: the temperature.
        hs, cs: (T+1, B, d) with ``[0]`` written (h_0, c_0); filled. cws, tcs: (T, B, H2)
            written: the wide cell state and its tanh. logp, r, soft: (T, B, 2) written:
            log p, the decision weights and the soft sample.
    """
    T, B, G = z.shape
    d = w_all.shape[1]
    H2 = d + ds
    one = np.ones(1, z.dtype)[0]
    two = one + one
    bits = np.empty(B * G, np.int32)
    tbuf = np.empty(H2, z.dtype)
    for t in range(T):
        zt = z[t]
        matmul_nt_acc(hs[t], w_all, zt)
        for b in range(B):  # the decision, from the unscaled logits
            l0, l1 = zt[b, 4 * H2], zt[b, 4 * H2 + 1]
            m = max(l0, l1)
            lse = m + math.log(math.exp(l0 - m) + math.exp(l1 - m))
            logp[t, b, 0], logp[t, b, 1] = l0 - lse, l1 - lse
            if sampled:
                s = (logp[t, b, 1] + noise[t, b, 1] - logp[t, b, 0] - noise[t, b, 0]) / tau
                y1 = one / (one + math.exp(-s))
                y0 = one / (one + math.exp(s))
                soft[t, b, 0], soft[t, b, 1] = y0, y1
                if hard:  # ties read, as an argmax picks the lower index
                    y1 = one if y1 > y0 else one - one
                    y0 = one - y1
            else:
                y1 = force[t, b]
                y0 = one - y1
                soft[t, b, 0], soft[t, b, 1] = y0, y1
            r[t, b, 0], r[t, b, 1] = y0, y1
        exp_inplace(zt.reshape(B * G), bits)  # the logit columns are not read after this
        for b in range(B):
            for k in range(4 * H2):
                if 2 * H2 <= k < 3 * H2:
                    zt[b, k] = two / (one + zt[b, k]) - one
                else:
                    zt[b, k] = one / (one + zt[b, k])
            for j in range(H2):
                c_prev = cs[t, b, j] if j < d else cs[t, b, j - d]
                cw = zt[b, H2 + j] * c_prev + zt[b, j] * zt[b, 2 * H2 + j]
                cws[t, b, j] = cw
                tbuf[j] = -two * cw
            exp_inplace(tbuf, bits)
            for j in range(H2):
                tcs[t, b, j] = two / (one + tbuf[j]) - one
            r0, r1, p = r[t, b, 0], r[t, b, 1], pad[t, b]
            for j in range(d):
                hw = zt[b, 3 * H2 + j] * tcs[t, b, j]
                if j < ds:  # skimming writes the small cell's state here ...
                    hk, ck = zt[b, 3 * H2 + d + j] * tcs[t, b, d + j], cws[t, b, d + j]
                else:       # ... and copies the rest
                    hk, ck = hs[t, b, j], cs[t, b, j]
                hs[t + 1, b, j] = p * (r0 * hw + r1 * hk) + (one - p) * hs[t, b, j]
                cs[t + 1, b, j] = p * (r0 * cws[t, b, j] + r1 * ck) + (one - p) * cs[t, b, j]


def soft_forward_numpy(z, w_all, ds, noise, pad, force, sampled, hard, tau, hs, cs, cws, tcs,
                       logp, r, soft):
    """The NumPy twin of :func:`soft_forward_numba` (same arguments, same effect)."""
    T, B, G = z.shape
    d = w_all.shape[1]
    H2 = d + ds
    g_cols = (np.arange(4 * H2) // H2) == 2
    mul, add = np.where(g_cols, 2, 1).astype(z.dtype), np.where(g_cols, -1, 0).astype(z.dtype)
    for t in range(T):
        zt = z[t]
        zt += hs[t] @ w_all.T
        lg = zt[:, 4 * H2:]
        m = lg.max(axis=1, keepdims=True)
        logp[t] = lg - m - np.log(np.exp(lg - m).sum(axis=1, keepdims=True))
        if sampled:
            s = (logp[t, :, 1] + noise[t, :, 1] - logp[t, :, 0] - noise[t, :, 0]) / tau
            soft[t, :, 1], soft[t, :, 0] = 1 / (1 + np.exp(-s)), 1 / (1 + np.exp(s))
            r[t] = soft[t]
            if hard:
                r[t, :, 1] = soft[t, :, 1] > soft[t, :, 0]
                r[t, :, 0] = 1 - r[t, :, 1]
        else:
            r[t, :, 1], r[t, :, 0] = force[t], 1 - force[t]
            soft[t] = r[t]
        with np.errstate(over="ignore"):  # exp = inf gives a gate of exactly 0: intended
            a = zt[:, :4 * H2] = mul / (1 + np.exp(zt[:, :4 * H2])) + add
        c_prev = np.concatenate([cs[t], cs[t, :, :ds]], axis=1)
        cws[t] = a[:, H2:2 * H2] * c_prev + a[:, :H2] * a[:, 2 * H2:3 * H2]
        tcs[t] = np.tanh(cws[t])
        hw = a[:, 3 * H2:] * tcs[t]
        r0, r1, p = r[t, :, :1], r[t, :, 1:], pad[t][:, None]
        hk = np.concatenate([hw[:, d:], hs[t, :, ds:]], axis=1)
        ck = np.concatenate([cws[t, :, d:], cs[t, :, ds:]], axis=1)
        hs[t + 1] = p * (r0 * hw[:, :d] + r1 * hk) + (1 - p) * hs[t]
        cs[t + 1] = p * (r0 * cws[t, :, :d] + r1 * ck) + (1 - p) * cs[t]


# ---- backward --------------------------------------------------------------------------------

@njit(cache=True, fastmath={"reassoc", "contract", "nsz"})
def soft_backward_numba(acts, w_all_t, ds, pad, sampled, tau, hs, cs, cws, tcs, logp, r, soft,
                        dhs, dcs, dlogp, dr, dz):
    """Walk the steps backwards; fill ``dz`` (T, B, G), the gradient of every step's
    pre-activations (unscaled), and return ``(dh_0, dc_0)``.

    Args: ``acts`` the activated gates (``z`` after the forward); ``w_all_t`` (d, G) the
    unscaled weights on h, transposed; the saved arrays of the forward; ``dhs``, ``dcs``
    (T+1, B, d), ``dlogp``, ``dr`` (T, B, 2): the gradients of the outputs.
    """
    T, B, G = acts.shape
    d = hs.shape[2]
    H2 = d + ds
    one = np.ones(1, acts.dtype)[0]
    dh = dhs[T].copy()
    dc = dcs[T].copy()
    dhw = np.empty(H2, acts.dtype)
    dcw = np.empty(H2, acts.dtype)
    for t in range(T - 1, -1, -1):
        a = acts[t]
        for b in range(B):
            r0, r1, p = r[t, b, 0], r[t, b, 1], pad[t, b]
            dr0, dr1 = dr[t, b, 0], dr[t, b, 1]
            for j in range(d):
                dhn, dcn = p * dh[b, j], p * dc[b, j]
                dr0 += dhn * a[b, 3 * H2 + j] * tcs[t, b, j] + dcn * cws[t, b, j]
                dhw[j], dcw[j] = r0 * dhn, r0 * dcn
                keep_h, keep_c = dh[b, j] - dhn, dc[b, j] - dcn  # (1 - p) * gradient
                if j < ds:
                    k = d + j
                    dr1 += dhn * a[b, 3 * H2 + k] * tcs[t, b, k] + dcn * cws[t, b, k]
                    dhw[k], dcw[k] = r1 * dhn, r1 * dcn
                else:
                    dr1 += dhn * hs[t, b, j] + dcn * cs[t, b, j]
                    keep_h += r1 * dhn
                    keep_c += r1 * dcn
                dh[b, j], dc[b, j] = keep_h, keep_c
            for k in range(H2):
                i, f, g, o = a[b, k], a[b, H2 + k], a[b, 2 * H2 + k], a[b, 3 * H2 + k]
                tc = tcs[t, b, k]
                c_prev = cs[t, b, k] if k < d else cs[t, b, k - d]
                dck = dcw[k] + dhw[k] * o * (one - tc * tc)
                dz[t, b, k] = dck * g * i * (one - i)
                dz[t, b, H2 + k] = dck * c_prev * f * (one - f)
                dz[t, b, 2 * H2 + k] = dck * i * (one - g * g)
                dz[t, b, 3 * H2 + k] = dhw[k] * tc * o * (one - o)
                dc[b, k if k < d else k - d] += dck * f
            d0, d1 = dlogp[t, b, 0], dlogp[t, b, 1]
            if sampled:  # y = softmax((log p + g) / tau): the one-hot's gradient is y's
                y0, y1 = soft[t, b, 0], soft[t, b, 1]
                s = dr0 * y0 + dr1 * y1
                d0 += y0 * (dr0 - s) / tau
                d1 += y1 * (dr1 - s) / tau
            total = d0 + d1
            dz[t, b, 4 * H2] = d0 - math.exp(logp[t, b, 0]) * total
            dz[t, b, 4 * H2 + 1] = d1 - math.exp(logp[t, b, 1]) * total
        matmul_nt_acc(dz[t], w_all_t, dh)  # dh += dz_t @ w_all
        for b in range(B):
            for j in range(d):
                dh[b, j] += dhs[t, b, j]
                dc[b, j] += dcs[t, b, j]
    return dh, dc


def soft_backward_numpy(acts, w_all_t, ds, pad, sampled, tau, hs, cs, cws, tcs, logp, r, soft,
                        dhs, dcs, dlogp, dr, dz):
    """The NumPy twin of :func:`soft_backward_numba` (same arguments, same effect)."""
    T, B, G = acts.shape
    d = hs.shape[2]
    H2 = d + ds
    dh, dc = dhs[T].copy(), dcs[T].copy()
    for t in range(T - 1, -1, -1):
        a, tc, cw = acts[t], tcs[t], cws[t]
        i, f, g, o = a[:, :H2], a[:, H2:2 * H2], a[:, 2 * H2:3 * H2], a[:, 3 * H2:4 * H2]
        r0, r1, p = r[t, :, :1], r[t, :, 1:], pad[t][:, None]
        dhn, dcn = p * dh, p * dc
        hw = o * tc
        hk = np.concatenate([hw[:, d:], hs[t, :, ds:]], axis=1)
        ck = np.concatenate([cw[:, d:], cs[t, :, ds:]], axis=1)
        drt = np.stack([(dhn * hw[:, :d] + dcn * cw[:, :d]).sum(1),
                        (dhn * hk + dcn * ck).sum(1)], axis=1) + dr[t]
        keep_h, keep_c = dh - dhn, dc - dcn
        keep_h[:, ds:] += r1 * dhn[:, ds:]
        keep_c[:, ds:] += r1 * dcn[:, ds:]
        dhw = np.concatenate([r0 * dhn, r1 * dhn[:, :ds]], axis=1)
        dcw = np.concatenate([r0 * dcn, r1 * dcn[:, :ds]], axis=1) + dhw * o * (1 - tc * tc)
        c_prev = np.concatenate([cs[t], cs[t, :, :ds]], axis=1)
        dz[t, :, :H2] = dcw * g * i * (1 - i)
        dz[t, :, H2:2 * H2] = dcw * c_prev * f * (1 - f)
        dz[t, :, 2 * H2:3 * H2] = dcw * i * (1 - g * g)
        dz[t, :, 3 * H2:4 * H2] = dhw * tc * o * (1 - o)
        dcp = dcw * f
        keep_c += dcp[:, :d]
        keep_c[:, :ds] += dcp[:, d:]
        dl = np.array(dlogp[t])
        if sampled:
            y = soft[t]
            dl += y * (drt - (drt * y).sum(1, keepdims=True)) / tau
        dz[t, :, 4 * H2:] = dl - np.exp(logp[t]) * dl.sum(1, keepdims=True)
        dh = keep_h + dz[t] @ w_all_t.T + dhs[t]
        dc = keep_c + dcs[t]
    return dh, dc


# ---- wrappers used by the autograd op --------------------------------------------------------

def skim_soft_forward(xz, h0, c0, w_all, ds, noise, pad, tau, hard, force=None):
    """Run the soft Skim-RNN over a whole batch-first sequence.

    Args:
        xz: (B, T, G) the input's part of the wide layout (``x_t`` times the input weights,
            plus the biases); w_all: (G, d) the weights on h in the same layout; ds: d'.
        h0, c0: (B, d). noise: (B, T, 2) Gumbel noise added to ``log p`` (zeros: none).
        pad: (B, T) 1 at real steps, 0 at padding (the state is carried over unchanged).
        tau: the temperature (> 0). hard: one-hot decisions with the soft gradient.
        force: None, or (B, T) decisions (0 read, 1 skim) to use instead of sampling.

    Returns:
        ``(out, saved)``: ``out`` (B, T+1, 2d+4) packs ``h_0 .. h_T`` in ``[..., :d]``,
        ``c_0 .. c_T`` in ``[..., d:2d]``, and for steps 1..T ``log p_t`` in
        ``[..., 2d:2d+2]`` and the decision weights ``r_t`` (read, skim) in ``[..., 2d+2:]``.
    """
    B, T, G = xz.shape
    d = w_all.shape[1]
    H2, dtype = d + ds, xz.dtype
    scale = gate_scale(H2, dtype)
    z = np.ascontiguousarray((xz * scale).transpose(1, 0, 2))
    hs, cs = np.empty((T + 1, B, d), dtype), np.empty((T + 1, B, d), dtype)
    hs[0], cs[0] = h0, c0
    cws, tcs = np.empty((T, B, H2), dtype), np.empty((T, B, H2), dtype)
    logp, r, soft = (np.empty((T, B, 2), dtype) for _ in range(3))
    sampled = force is None
    force_tm = np.zeros((T, B), dtype) if sampled else np.ascontiguousarray(force.T, dtype)
    steps = dispatch(soft_forward_numba, soft_forward_numpy)
    steps(z, np.ascontiguousarray(w_all * scale[:, None]), ds,
          np.ascontiguousarray(noise.transpose(1, 0, 2), dtype),
          np.ascontiguousarray(pad.T, dtype), force_tm, sampled, bool(hard), float(tau),
          hs, cs, cws, tcs, logp, r, soft)
    out = np.zeros((B, T + 1, 2 * d + 4), dtype)
    out[:, :, :d], out[:, :, d:2 * d] = hs.transpose(1, 0, 2), cs.transpose(1, 0, 2)
    out[:, 1:, 2 * d:2 * d + 2], out[:, 1:, 2 * d + 2:] = (logp.transpose(1, 0, 2),
                                                           r.transpose(1, 0, 2))
    saved = (z, ds, np.ascontiguousarray(pad.T, dtype), sampled, float(tau), hs, cs, cws, tcs,
             logp, r, soft)
    return out, saved


def skim_soft_backward(saved, w_all, dout):
    """Gradients ``(dxz (B, T, G), dh0, dc0, dw_all (G, d))`` given ``dout``, the gradient of
    ``out``. The decision weights pass their gradient straight through to the soft sample
    (for ``hard``); forced decisions pass none to the logits."""
    acts, ds, pad, sampled, tau, hs, cs, cws, tcs, logp, r, soft = saved
    T, B, G = acts.shape
    d = w_all.shape[1]
    tm = (1, 0, 2)
    c = np.ascontiguousarray
    dz = np.empty((T, B, G), acts.dtype)
    steps = dispatch(soft_backward_numba, soft_backward_numpy)
    dh0, dc0 = steps(acts, c(w_all.T), ds, pad, sampled, tau, hs, cs, cws, tcs, logp, r, soft,
                     c(dout[:, :, :d].transpose(tm)), c(dout[:, :, d:2 * d].transpose(tm)),
                     c(dout[:, 1:, 2 * d:2 * d + 2].transpose(tm)),
                     c(dout[:, 1:, 2 * d + 2:].transpose(tm)), dz)
    # what does not feed the recurrence: one product over all steps at once
    dw_all = dz.reshape(T * B, G).T @ hs[:T].reshape(T * B, d)
    return dz.transpose(tm), dh0, dc0, dw_all
