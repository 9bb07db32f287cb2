"""Calls the library's Skim-RNN method and kernel instead of writing them."""

import numpy as np

import tinydyn
from tinydyn.dynamic.skimming.skim_rnn import skim_rnn
from tinydyn.kernels.skim_rnn import hard_weights, skim_hard_forward


def _split(w_big, b_big, w_small, b_small, w_dec, b_dec, dx):
    return (w_big[:, :dx], w_big[:, dx:], b_big, w_small[:, :dx], w_small[:, dx:], b_small,
            w_dec, b_dec)


def skim_step(x, h, c, w_big, b_big, w_small, b_small, w_dec, b_dec, gumbel_noise, tau, hard):
    t = [tinydyn.Tensor(a) for a in _split(w_big, b_big, w_small, b_small, w_dec, b_dec,
                                            x.shape[1])]
    _, h_new, c_new, _, r = skim_rnn(tinydyn.Tensor(x[:, None]), tinydyn.Tensor(h),
                                     tinydyn.Tensor(c), *t, tau=float(tau), hard=bool(hard),
                                     noise=gumbel_noise[:, None])
    return h_new.data, c_new.data, r.data[:, 0]


def skim_inference(xs, h0, c0, w_big, b_big, w_small, b_small, w_dec, b_dec, threshold):
    weights = hard_weights(*(np.ascontiguousarray(a) for a in
                             _split(w_big, b_big, w_small, b_small, w_dec, b_dec, xs.shape[1])))
    h, c, skims, _ = skim_hard_forward(xs[None], np.array([len(xs)]), h0[None], c0[None],
                                       weights, float(threshold))
    return h[0], c[0], skims[0]
