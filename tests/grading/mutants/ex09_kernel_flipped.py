"""Exercise 09 (dynamic convolution), a mutant: per_sample_conv2d flips the kernel (a true
convolution, not the cross-correlation of deep learning)."""

import numpy as np

from tinydyn.grading.exercises.ex09_dynamic_conv import SOLUTION


def per_sample_conv2d(x, kernels, biases, stride, padding, groups):
    n, c, h, w = x.shape
    _, o, cg, kh, kw = kernels.shape
    kernels = kernels[..., ::-1, ::-1]
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


kernel_attention = SOLUTION.kernel_attention
aggregate_kernels = SOLUTION.aggregate_kernels
