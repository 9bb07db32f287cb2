"""Exercise 02 (kernels): the library's references and solution.

The student writes the row scatter-add ``out[index[i], :] += src[i, :]`` twice: a Numba kernel
and its whole-array NumPy twin, with the contract of :mod:`tinydyn.kernels.scatter`. The
references come from the library's public :func:`~tinydyn.kernels.scatter.scatter_add_rows`.
"""

from __future__ import annotations

import numpy as np

from tinydyn.kernels import scatter as _scatter

TITLE = "A scatter-add kernel in Numba and its NumPy twin"
LESSON = "lessons/02_kernels.py"
PREREQUISITES = ("01",)  # lessons to have done first (the instructors' syllabus)
# What student.py may import (see tinydyn.grading.integrity); nothing from tinydyn.
ALLOWED_IMPORTS = ("numpy", "numba", "math")

ROWS, WIDTH, DESTINATIONS = 15, 4, 6  # more rows than destinations: repeats are certain


class SOLUTION:
    """The functions of ``exercises/02_kernels/student.py``: the library's own kernels."""

    scatter_add_rows_numpy = staticmethod(_scatter.scatter_add_rows_numpy)
    scatter_add_rows_numba = staticmethod(_scatter.scatter_add_rows_numba)


def make_references(seed: int) -> dict:
    """Inputs and the library's result for the graded scatter, float64 with int64 indices.

    ``out`` starts non-zero (the kernel adds to it, it does not overwrite it), the last
    destination row is never indexed (it must come back unchanged), and ``many_seed`` seeds the
    larger input the tests draw themselves to compare the two implementations.
    """
    rng = np.random.default_rng(seed)
    out = rng.standard_normal((DESTINATIONS, WIDTH))
    index = rng.integers(0, DESTINATIONS - 1, size=ROWS).astype(np.int64)
    src = rng.standard_normal((ROWS, WIDTH))
    expected = _scatter.scatter_add_rows(out.copy(), index, src)
    many_seed = rng.integers(0, 2**31, size=1).astype(np.int64)
    return {"out": out, "index": index, "src": src, "expected": expected,
            "many_seed": many_seed}
