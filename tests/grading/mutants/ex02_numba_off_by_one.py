"""Mutant of exercise 02: the Numba kernel writes one row too low (index - 1)."""

from numba import njit

from tinydyn.grading.exercises.ex02_kernels import SOLUTION


@njit(cache=True)
def scatter_add_rows_numba(out, index, src):
    n_rows, width = src.shape
    for i in range(n_rows):
        row = index[i] - 1  # the bug (row -1 wraps round to the last row)
        for j in range(width):
            out[row, j] += src[i, j]


scatter_add_rows_numpy = SOLUTION.scatter_add_rows_numpy
