"""Mutant of exercise 02: the NumPy twin uses ``out[index] += src``, losing repeated rows."""

from tinydyn.grading.exercises.ex02_kernels import SOLUTION


def scatter_add_rows_numpy(out, index, src):
    out[index] += src  # the bug: a repeated destination keeps only its last contribution


scatter_add_rows_numba = SOLUTION.scatter_add_rows_numba
