"""Exercise 09 (dynamic convolution), a mutant: kernel_attention's softmax without subtracting the
row max: overflows on logits near 800."""

import numpy as np


def kernel_attention(x, fc1_weight, fc1_bias, fc2_weight, fc2_bias, temperature):
    a = x.mean(axis=(2, 3))
    h = np.maximum(0.0, a @ fc1_weight.T + fc1_bias)
    z = (h @ fc2_weight.T + fc2_bias) / temperature
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def aggregate_kernels(pi, weight, bias):
    k = weight.shape[0]
    kernels = (pi @ weight.reshape(k, -1)).reshape((len(pi),) + weight.shape[1:])
    return kernels, pi @ bias


def per_sample_conv2d(x, kernels, biases, stride, padding, groups):
    n, c, h, w = x.shape
    _, o, cg, kh, kw = kernels.shape
    og = o // groups
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    ho = (h + 2 * padding - kh) // stride + 1
    wo = (w + 2 * padding - kw) // stride + 1
    y = np.empty((n, o, ho, wo))
    for g in range(groups):
        xg = xp[:, g * cg:(g + 1) * cg]
        for i in range(ho):
            for j in range(wo):
                patch = xg[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
                y[:, g * og:(g + 1) * og, i, j] = np.einsum(
                    "ncuv,nocuv->no", patch, kernels[:, g * og:(g + 1) * og])
    return y + biases[:, :, None, None]
