"""Mutant of exercise 02: a correct NumPy "twin" that is a Python loop over rows."""

from tinydyn.grading.exercises.ex02_kernels import SOLUTION


def scatter_add_rows_numpy(out, index, src):
    for i in range(len(index)):  # the bug: one Python iteration per row
        out[index[i]] += src[i]


scatter_add_rows_numba = SOLUTION.scatter_add_rows_numba
