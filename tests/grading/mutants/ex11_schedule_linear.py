"""Exercise 11 (PAD-Net), a mutant: a linear density schedule 1 - (1 - kappa) t / T instead of
kappa ** (t / T). Its own partition loop calls it, as a student's would."""

from functools import partial

import numpy as np

from tinydyn.grading.exercises.ex11_padnet import SOLUTION


def exponential_schedule(kappa, iterations):
    return 1.0 - (1.0 - kappa) * np.arange(1, iterations + 1) / iterations  # the bug


pad_forward = SOLUTION.pad_forward
mask_saliency = SOLUTION.mask_saliency
global_masks = SOLUTION.global_masks
compress = SOLUTION.compress
compressed_forward = SOLUTION.compressed_forward
iterative_partition = partial(SOLUTION.iterative_partition, schedule=exponential_schedule)
