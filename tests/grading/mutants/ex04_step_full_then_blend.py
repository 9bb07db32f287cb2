"""Mutant of exercise 04: the hard step computes every row of the candidate and then keeps the
first k with a 0/1 mask — right values, but no work saved, and NaN weights in the skipped rows
leak into the state through ``0 * nan``."""

import numpy as np

from tinydyn.grading.exercises.ex04_vcrnn import SOLUTION


def vcrnn_step_hard(x, h, w_ih, w_hh, bias, k):  # the bug: all d rows, then a blend
    candidate = np.tanh(w_hh @ h + w_ih @ x + bias)
    e = (np.arange(h.shape[0]) < k).astype(h.dtype)
    return h + e * (candidate - h)


vcrnn_soft_mask = SOLUTION.vcrnn_soft_mask
vcrnn_rows = SOLUTION.vcrnn_rows
vcrnn_step_flops = SOLUTION.vcrnn_step_flops
