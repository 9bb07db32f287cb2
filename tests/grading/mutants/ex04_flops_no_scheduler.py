"""Mutant of exercise 04: the cost of a step leaves out the scheduler (the decision-maker's
cost must be counted: at small k it is a large share of the step)."""

from tinydyn.grading.exercises.ex04_vcrnn import SOLUTION


def vcrnn_step_flops(k, input_size, hidden_size):  # the bug: candidate rows only
    return 2 * k * (hidden_size + input_size) + 2 * k


vcrnn_soft_mask = SOLUTION.vcrnn_soft_mask
vcrnn_rows = SOLUTION.vcrnn_rows
vcrnn_step_hard = SOLUTION.vcrnn_step_hard
