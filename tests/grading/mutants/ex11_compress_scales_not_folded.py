"""Exercise 11 (PAD-Net), a mutant: post-processing stores W_k and Wbar without folding in lambda_d
and lambda_s."""

import numpy as np


def _scales(phi):
    lam_d = 2.0 / (1.0 + np.exp(-phi))
    return lam_d, 2.0 - lam_d


def _mixed(pi, kernels):
    return np.einsum("nk,kio->nio", pi, kernels)


def pad_forward(x, pi, kernels, static, mask, phi):
    lam_d, lam_s = _scales(phi)
    w = lam_d * mask * _mixed(pi, kernels) + lam_s * (1 - mask) * static
    return np.einsum("ni,nio->no", x, w)


def mask_saliency(x, pi, kernels, static, mask, phi, target):
    lam_d, lam_s = _scales(phi)
    y = pad_forward(x, pi, kernels, static, mask, phi)
    dy = (y - target) / len(x)                          # dL/dy
    dw = np.einsum("ni,no->nio", x, dy)                 # dL/dW~_n
    return (dw * (lam_d * _mixed(pi, kernels) - lam_s * static)).sum(axis=0)


def exponential_schedule(kappa, iterations):
    return kappa ** (np.arange(1, iterations + 1) / iterations)


def global_masks(scores, density):
    flat = np.concatenate([np.ravel(s) for s in scores])
    keep = int(np.floor(density * flat.size + 0.5))
    order = np.lexsort((np.arange(flat.size), -flat))
    chosen = np.zeros(flat.size)
    chosen[order[:keep]] = 1.0
    out, start = [], 0
    for s in scores:
        out.append(chosen[start:start + np.size(s)].reshape(np.shape(s)))
        start += np.size(s)
    return out


def iterative_partition(saliency_fn, shapes, kappa, iterations):
    masks = [np.ones(s) for s in shapes]
    for density in exponential_schedule(kappa, iterations):
        scores = [np.abs(s) for s in saliency_fn([m.copy() for m in masks])]
        total = sum(s.sum() for s in scores)
        masks = global_masks([s / total for s in scores], density)
    return masks


def compress(kernels, static, mask, phi):
    lam_d, lam_s = 1.0, 1.0  # the bug: the scale factors are not folded in
    flat = mask.ravel() > 0.5
    index = np.flatnonzero(flat)
    dynamic = lam_d * kernels.reshape(len(kernels), -1)[:, flat]
    return dynamic, lam_s * static.ravel()[~flat], index.astype(np.int64)


def compressed_forward(x, pi, dynamic_values, static_values, index, shape):
    size = int(np.prod(shape))
    static = np.zeros(size)
    static[np.setdiff1d(np.arange(size), index)] = static_values
    w = np.tile(static, (len(x), 1))
    w[:, index] += pi @ dynamic_values
    return np.einsum("ni,nio->no", x, w.reshape((len(x),) + tuple(shape)))
