"""scatter_add_rows: the Numba kernel, its NumPy twin, and the validating wrapper."""

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinydyn.kernels.backend import use_backend
from tinydyn.kernels.scatter import (
    scatter_add_rows,
    scatter_add_rows_numba,
    scatter_add_rows_numpy,
    warmup,
)

FAST = settings(derandomize=True, deadline=None, max_examples=25)


def _case(seed, rows, width, n, dtype):
    rng = np.random.default_rng(seed)
    out = rng.standard_normal((rows, width)).astype(dtype)
    # few rows and many entries, so repeated indices are the rule, not the exception
    index = rng.integers(0, rows, size=n).astype(np.int64)
    src = rng.standard_normal((n, width)).astype(dtype)
    return out, index, src


def _reference(out, index, src):
    expected = out.astype(np.float64)
    np.add.at(expected, index, src.astype(np.float64))
    return expected


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@FAST
@given(seed=st.integers(0, 2**16), rows=st.integers(1, 6), width=st.integers(1, 5),
       n=st.integers(0, 20))
def test_numba_kernel_equals_numpy_twin(dtype, seed, rows, width, n):
    out, index, src = _case(seed, rows, width, n, dtype)
    via_numba, via_numpy = out.copy(), out.copy()
    scatter_add_rows_numba(via_numba, index, src)
    scatter_add_rows_numpy(via_numpy, index, src)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(via_numba, via_numpy, rtol=tol, atol=tol)
    np.testing.assert_allclose(via_numba, _reference(out, index, src), rtol=tol, atol=tol)


def test_repeated_indices_accumulate():
    out = np.zeros((3, 2))
    scatter_add_rows(out, np.array([2, 2, 2, 0]), np.ones((4, 2)))
    np.testing.assert_array_equal(out, [[1, 1], [0, 0], [3, 3]])


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wrapper_matches_reference_and_keeps_dtype_on_both_backends(backend, dtype):
    out, index, src = _case(1, 7, 4, 30, dtype)
    expected = _reference(out, index, src)
    with use_backend(backend):
        result = scatter_add_rows(out, index.astype(np.int32), src)
    assert result is out and out.dtype == dtype
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_empty_index_leaves_out_unchanged():
    out = np.ones((2, 3))
    for backend in ("numba", "numpy"):
        with use_backend(backend):
            scatter_add_rows(out, np.zeros(0, dtype=np.int64), np.zeros((0, 3)))
    np.testing.assert_array_equal(out, np.ones((2, 3)))


def test_warmup_compiles_without_error():
    warmup()


@pytest.mark.parametrize(
    "out, index, src, exc, message",
    [
        (np.zeros((3, 2)), np.array([3]), np.ones((1, 2)), ValueError,
         r"scatter_add_rows: index value 3 is out of range for out with 3 rows: "
         r"expected 0 <= index < 3"),
        (np.zeros((3, 2)), np.array([-1]), np.ones((1, 2)), ValueError,
         r"index value -1 is out of range"),
        (np.zeros((3, 2)), np.array([0.0]), np.ones((1, 2)), TypeError,
         r"scatter_add_rows: index must be an integer array, got dtype float64"),
        (np.zeros((3, 2)), np.array([0]), np.ones((1, 2), np.float32), TypeError,
         r"src must have the dtype of out \(float64\), got dtype float32"),
        (np.zeros((3, 2), np.int64), np.array([0]), np.ones((1, 2), np.int64), TypeError,
         r"out must be float32 or float64, got dtype int64"),
        (np.zeros(3), np.array([0]), np.ones((1, 2)), ValueError,
         r"out must be 2-D \(V, D\), got shape \(3,\)"),
        (np.zeros((3, 2)), np.array([[0]]), np.ones((1, 2)), ValueError,
         r"index must be 1-D \(N,\), got shape \(1, 1\)"),
        (np.zeros((3, 2)), np.array([0, 1]), np.ones((1, 2)), ValueError,
         r"src must have shape \(len\(index\), out.shape\[1\]\) = \(2, 2\), got shape \(1, 2\)"),
        ([[0.0]], np.array([0]), np.ones((1, 1)), TypeError,
         r"out must be a numpy.ndarray, got list"),
    ],
)
def test_bad_arguments_raise_clear_errors(out, index, src, exc, message):
    with pytest.raises(exc, match=message):
        scatter_add_rows(out, index, src)


def test_read_only_out_is_refused():
    out = np.zeros((2, 2))
    out.flags.writeable = False
    with pytest.raises(ValueError, match="scatter_add_rows: out must be writeable"):
        scatter_add_rows(out, np.array([0]), np.ones((1, 2)))


_NO_JIT_SCRIPT = """
import numba, numpy as np
from tinydyn.kernels.scatter import scatter_add_rows_numba, scatter_add_rows_numpy
assert numba.config.DISABLE_JIT, "NUMBA_DISABLE_JIT was not picked up"
rng = np.random.default_rng(0)
for dtype in (np.float32, np.float64):
    out = rng.standard_normal((5, 3)).astype(dtype)
    index = rng.integers(0, 5, size=12)
    src = rng.standard_normal((12, 3)).astype(dtype)
    a, b = out.copy(), out.copy()
    scatter_add_rows_numba(a, index, src)
    scatter_add_rows_numpy(b, index, src)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
print("ok")
"""


def test_kernel_equals_twin_with_jit_disabled():
    result = subprocess.run(
        [sys.executable, "-c", _NO_JIT_SCRIPT],
        env={**os.environ, "NUMBA_DISABLE_JIT": "1"},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
