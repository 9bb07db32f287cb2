"""Mutant of exercise 04: the hard decision rounds up with ``ceil(m d)`` (the mask is centred
on the half-integers, so it saturates to ``ceil(m d - 1/2)``: one row too many)."""

import numpy as np

from tinydyn.grading.exercises.ex04_vcrnn import SOLUTION


def vcrnn_rows(m, d):  # the bug: no "- 1/2"
    return np.clip(np.ceil(np.asarray(m) * d), 0, d).astype(np.int64)


vcrnn_soft_mask = SOLUTION.vcrnn_soft_mask
vcrnn_step_hard = SOLUTION.vcrnn_step_hard
vcrnn_step_flops = SOLUTION.vcrnn_step_flops
