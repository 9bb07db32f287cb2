"""Exercise 11 (PAD-Net), a mutant: one threshold per layer (each keeps round(density * N_l))
instead of one global threshold. The partition loop is given this thresholding, as a student's
own loop would call it."""

from functools import partial

from tinydyn.grading.exercises.ex11_padnet import SOLUTION


def global_masks(scores, density):
    # the bug: every layer thresholded on its own
    return [SOLUTION.global_masks([s], density)[0] for s in scores]


pad_forward = SOLUTION.pad_forward
mask_saliency = SOLUTION.mask_saliency
exponential_schedule = SOLUTION.exponential_schedule
compress = SOLUTION.compress
compressed_forward = SOLUTION.compressed_forward
iterative_partition = partial(SOLUTION.iterative_partition, select=global_masks)
