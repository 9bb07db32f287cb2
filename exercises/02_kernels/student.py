"""Exercise 02 (kernels): a row scatter-add, as a Numba kernel and as its NumPy twin.

Work through lesson 02 (``lessons/02_kernels.py``) first. Both functions do the same thing, in
place, and return nothing:

    for i in range(len(index)):
        out[index[i], :] += src[i, :]

An index may repeat, and then every one of its rows must be added: this is the backward of an
embedding lookup, where a token that occurs twice receives two gradients. Beware that
``out[index] += src`` in NumPy does NOT do this: it reads each destination once, adds, and
writes back, so one repeated contribution overwrites the other.

Arguments (both functions):
    out: (V, D) float64, updated in place (add to what is there, do not overwrite it).
    index: (N,) int64, values in ``[0, V)``, repeats allowed; N may be 0.
    src: (N, D) float64.

Check your work with ``tinydyn test 02`` (or ``pytest exercises/02_kernels``).
"""

import numpy as np  # noqa: F401  (you will need it)
from numba import njit  # noqa: F401  (you will need it)


def scatter_add_rows_numba(out, index, src):
    """In place ``out[index[i], :] += src[i, :]`` for every i, as a Numba kernel.

    Write the two plain loops (over rows, then over columns) and compile the function by
    decorating it with ``@njit(cache=True)``: the tests check that it is a Numba function.
    Loops are fast once compiled, and a loop has no trouble with repeated indices.
    """
    raise NotImplementedError(
        "exercise 02 (kernels): implement scatter_add_rows_numba — see lesson 02")


def scatter_add_rows_numpy(out, index, src):
    """The NumPy twin: the same effect with whole-array operations, no Python loop over rows.

    Either ``np.add.at`` (simple, correct with repeats, not fast), or faster: sort the rows by
    destination (``np.argsort``), sum each run of equal destinations with ``np.add.reduceat``,
    then add the run sums, whose destinations are now unique, with ordinary fancy indexing.
    An empty ``index`` must leave ``out`` unchanged.
    """
    raise NotImplementedError(
        "exercise 02 (kernels): implement scatter_add_rows_numpy — see lesson 02")
