"""Scatter-add of rows: ``out[index[i], :] += src[i, :]``, with repeated indices accumulating.

This is the backward of every row lookup: an embedding table read at token ids, a ``getitem``
with an integer array on the first axis, ``index_add`` along dim 0. Its difficulty is the
repeated index: ``out[index] += src`` in NumPy reads every destination row once, adds, and
writes back, so two contributions to the same row overwrite each other instead of summing.

Two implementations with the same signature:

* :func:`scatter_add_rows_numba` is the obvious loop, compiled. A loop has no trouble with
  repeats: each ``+=`` sees the previous one.
* :func:`scatter_add_rows_numpy` stays in whole-array NumPy: sort the rows by destination, sum
  each run of equal destinations with ``np.add.reduceat``, then add the (now unique) run sums
  with ordinary fancy indexing. Correct for repeats, and faster than ``np.add.at``.

:func:`scatter_add_rows` validates its arguments and calls the one the backend selects.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tinydyn._checks import fail
from tinydyn.kernels.backend import dispatch

__all__ = [
    "scatter_add_rows", "scatter_add_rows_numba", "scatter_add_rows_numpy", "warmup",
]


@njit(cache=True)
def scatter_add_rows_numba(out, index, src):
    """In place: ``out[index[i], :] += src[i, :]`` for every i, in order."""
    n_rows, width = src.shape
    for i in range(n_rows):
        row = index[i]
        for j in range(width):
            out[row, j] += src[i, j]


def scatter_add_rows_numpy(out, index, src):
    """The NumPy twin of :func:`scatter_add_rows_numba` (same arguments, same effect)."""
    if index.shape[0] == 0:
        return
    order = np.argsort(index, kind="stable")
    sorted_index = index[order]
    # a run of equal destinations starts wherever the sorted index changes
    starts = np.flatnonzero(np.concatenate(([True], sorted_index[1:] != sorted_index[:-1])))
    run_sums = np.add.reduceat(src[order], starts, axis=0)
    out[sorted_index[starts]] += run_sums  # destinations are unique now, so += is safe


def scatter_add_rows(out: np.ndarray, index: np.ndarray, src: np.ndarray) -> np.ndarray:
    """In place ``out[index[i], :] += src[i, :]`` (repeats accumulate); returns ``out``.

    Args:
        out: (V, D) float32 or float64 array, modified in place.
        index: (N,) integer array with values in ``[0, V)``.
        src: (N, D) array with the dtype of ``out``.
    """
    fn = "scatter_add_rows"
    for name, value in (("out", out), ("index", index), ("src", src)):
        if not isinstance(value, np.ndarray):
            fail(fn, f"{name} must be a numpy.ndarray, got {type(value).__name__}", TypeError)
    if out.dtype not in (np.float32, np.float64):
        fail(fn, f"out must be float32 or float64, got dtype {out.dtype}", TypeError)
    if src.dtype != out.dtype:
        fail(fn, f"src must have the dtype of out ({out.dtype}), got dtype {src.dtype}",
             TypeError)
    if not np.issubdtype(index.dtype, np.integer):
        fail(fn, f"index must be an integer array, got dtype {index.dtype}", TypeError)
    if out.ndim != 2:
        fail(fn, f"out must be 2-D (V, D), got shape {out.shape}")
    if index.ndim != 1:
        fail(fn, f"index must be 1-D (N,), got shape {index.shape}")
    expected = (index.shape[0], out.shape[1])
    if src.shape != expected:
        fail(fn, f"src must have shape (len(index), out.shape[1]) = {expected}, "
             f"got shape {src.shape}")
    if not out.flags.writeable:
        fail(fn, "out must be writeable (it is updated in place)")
    if index.size:
        low, high = index.min(), index.max()
        if low < 0 or high >= out.shape[0]:
            bad = low if low < 0 else high
            fail(fn, f"index value {bad} is out of range for out with {out.shape[0]} rows: "
                 f"expected 0 <= index < {out.shape[0]}")
    # one index dtype means one compiled specialisation (and one cache entry) per float dtype
    index = index.astype(np.int64, copy=False)
    dispatch(scatter_add_rows_numba, scatter_add_rows_numpy)(out, index, src)
    return out


def warmup() -> None:
    """Compile (or load from the on-disk cache) the kernel for float32 and float64 inputs."""
    index = np.array([0, 1, 0], dtype=np.int64)
    for dtype in (np.float32, np.float64):
        out = np.zeros((2, 3), dtype=dtype)
        scatter_add_rows_numba(out, index, np.ones((3, 3), dtype=dtype))
