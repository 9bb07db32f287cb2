"""Exercise 11 (PAD-Net), a mutant: post-processing stores W_k and Wbar without folding in lambda_d
and lambda_s."""

import numpy as np

from tinydyn.grading.exercises.ex11_padnet import SOLUTION


def compress(kernels, static, mask, phi):
    flat = mask.ravel() > 0.5
    index = np.flatnonzero(flat)
    dynamic = kernels.reshape(len(kernels), -1)[:, flat]  # the bug: lambda_d not folded in
    return dynamic, static.ravel()[~flat], index.astype(np.int64)  # nor lambda_s


pad_forward = SOLUTION.pad_forward
mask_saliency = SOLUTION.mask_saliency
exponential_schedule = SOLUTION.exponential_schedule
global_masks = SOLUTION.global_masks
iterative_partition = SOLUTION.iterative_partition
compressed_forward = SOLUTION.compressed_forward
