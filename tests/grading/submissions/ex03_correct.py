"""Exercise 03 done right with NumPy only (the ex03_threshold_not_strict mutant, fixed)."""

import numpy as np


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _cell(z, c_prev):
    H = z.shape[-1] // 4
    i, f = _sigmoid(z[..., :H]), _sigmoid(z[..., H:2 * H])
    g, o = np.tanh(z[..., 2 * H:3 * H]), _sigmoid(z[..., 3 * H:])
    c = f * c_prev + i * g
    return o * np.tanh(c), c


def _log_softmax(l):
    m = l.max(axis=-1, keepdims=True)
    return l - m - np.log(np.exp(l - m).sum(axis=-1, keepdims=True))


def skim_step(x, h, c, w_big, b_big, w_small, b_small, w_dec, b_dec, gumbel_noise, tau, hard):
    xh = np.concatenate([x, h], axis=1)
    ds = w_small.shape[0] // 4
    h_read, c_read = _cell(xh @ w_big.T + b_big, c)
    hs, cs = _cell(xh @ w_small.T + b_small, c[:, :ds])
    h_skim = np.concatenate([hs, h[:, ds:]], axis=1)
    c_skim = np.concatenate([cs, c[:, ds:]], axis=1)
    y = np.exp(_log_softmax((_log_softmax(xh @ w_dec.T + b_dec) + gumbel_noise) / tau))
    r = y
    if hard:
        r = np.zeros_like(y)
        r[np.arange(len(y)), y.argmax(axis=1)] = 1.0
    return (r[:, :1] * h_read + r[:, 1:] * h_skim, r[:, :1] * c_read + r[:, 1:] * c_skim, r)


def skim_inference(xs, h0, c0, w_big, b_big, w_small, b_small, w_dec, b_dec, threshold):
    h, c = h0.copy(), c0.copy()
    ds = w_small.shape[0] // 4
    skims = np.zeros(len(xs), bool)
    for t, x in enumerate(xs):
        xh = np.concatenate([x, h])
        p_skim = np.exp(_log_softmax(w_dec @ xh + b_dec))[1]
        if p_skim > threshold:
            skims[t] = True
            h[:ds], c[:ds] = _cell(w_small @ xh + b_small, c[:ds])
        else:
            h, c = _cell(w_big @ xh + b_big, c)
    return h, c, skims
