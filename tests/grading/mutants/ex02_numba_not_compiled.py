"""Mutant of exercise 02: a correct kernel that was never decorated with ``@njit``."""

from tinydyn.grading.exercises.ex02_kernels import SOLUTION


def scatter_add_rows_numba(out, index, src):  # the bug: no @njit, so it runs as slow Python
    n_rows, width = src.shape
    for i in range(n_rows):
        for j in range(width):
            out[index[i], j] += src[i, j]


scatter_add_rows_numpy = SOLUTION.scatter_add_rows_numpy
