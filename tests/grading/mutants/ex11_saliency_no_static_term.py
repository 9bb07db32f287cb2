"""Exercise 11 (PAD-Net), a mutant: the mask saliency forgets the static side of the switch: dW *
lambda_d W^ instead of dW * (lambda_d W^ - lambda_s Wbar)."""

import numpy as np

from tinydyn.grading.exercises.ex11_padnet import SOLUTION


def mask_saliency(x, pi, kernels, static, mask, phi, target):
    lam_d = 2.0 / (1.0 + np.exp(-phi))
    y = SOLUTION.pad_forward(x, pi, kernels, static, mask, phi)
    dw = np.einsum("ni,no->nio", x, (y - target) / len(x))  # dL/dW~_n
    mixed = np.einsum("nk,kio->nio", pi, kernels)
    return (dw * (lam_d * mixed)).sum(axis=0)  # the bug: no - lambda_s Wbar


pad_forward = SOLUTION.pad_forward
exponential_schedule = SOLUTION.exponential_schedule
global_masks = SOLUTION.global_masks
iterative_partition = SOLUTION.iterative_partition
compress = SOLUTION.compress
compressed_forward = SOLUTION.compressed_forward
