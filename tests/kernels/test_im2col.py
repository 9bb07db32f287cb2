"""im2col / col2im: the Numba kernels, their NumPy twins, and the validating wrappers."""

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinydyn.kernels.backend import use_backend
from tinydyn.kernels.im2col import (
    col2im,
    col2im_numba,
    col2im_numpy,
    im2col,
    im2col_numba,
    im2col_numpy,
    warmup,
)

FAST = settings(derandomize=True, deadline=None, max_examples=25)


@st.composite
def geometries(draw):
    """(x_shape, kh, kw, stride, padding) with an output of at least 1 x 1."""
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    h = draw(st.integers(max(1, kh - 2 * padding[0]), 7))
    w = draw(st.integers(max(1, kw - 2 * padding[1]), 7))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), h, w)
    return shape, kh, kw, stride, padding


def _out_hw(shape, kh, kw, stride, padding):
    return ((shape[2] + 2 * padding[0] - kh) // stride[0] + 1,
            (shape[3] + 2 * padding[1] - kw) // stride[1] + 1)


def _naive_im2col(x, kh, kw, stride, padding):
    """The layout written out index by index: cols[n, (c, i, j), (oy, ox)]."""
    n, c, h, w = x.shape
    ho, wo = _out_hw(x.shape, kh, kw, stride, padding)
    cols = np.zeros((n, c * kh * kw, ho * wo), dtype=x.dtype)
    for b in range(n):
        for ch in range(c):
            for i in range(kh):
                for j in range(kw):
                    for oy in range(ho):
                        for ox in range(wo):
                            y = oy * stride[0] + i - padding[0]
                            xx = ox * stride[1] + j - padding[1]
                            if 0 <= y < h and 0 <= xx < w:
                                cols[b, (ch * kh + i) * kw + j, oy * wo + ox] = x[b, ch, y, xx]
    return cols


def _run(kernel, array, shape, kh, kw, stride, padding, direction):
    """Call a raw kernel with a freshly allocated output (as the wrappers do)."""
    if direction == "im2col":
        ho, wo = _out_hw(shape, kh, kw, stride, padding)
        out = np.empty((shape[0], shape[1] * kh * kw, ho * wo), dtype=array.dtype)
    else:
        out = np.empty(shape, dtype=array.dtype)
    return kernel(array, kh, kw, stride, padding, out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@FAST
@given(geometry=geometries(), seed=st.integers(0, 2**16))
def test_im2col_numba_equals_numpy_twin_and_naive_layout(dtype, geometry, seed):
    shape, kh, kw, stride, padding = geometry
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    via_numba = _run(im2col_numba, x, shape, kh, kw, stride, padding, "im2col")
    via_numpy = _run(im2col_numpy, x, shape, kh, kw, stride, padding, "im2col")
    np.testing.assert_array_equal(via_numba, via_numpy)
    np.testing.assert_array_equal(via_numba, _naive_im2col(x, kh, kw, stride, padding))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@FAST
@given(geometry=geometries(), seed=st.integers(0, 2**16))
def test_col2im_numba_equals_numpy_twin(dtype, geometry, seed):
    shape, kh, kw, stride, padding = geometry
    ho, wo = _out_hw(shape, kh, kw, stride, padding)
    cols_shape = (shape[0], shape[1] * kh * kw, ho * wo)
    cols = np.random.default_rng(seed).standard_normal(cols_shape).astype(dtype)
    via_numba = _run(col2im_numba, cols, shape, kh, kw, stride, padding, "col2im")
    via_numpy = _run(col2im_numpy, cols, shape, kh, kw, stride, padding, "col2im")
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(via_numba, via_numpy, rtol=tol, atol=tol)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@FAST
@given(geometry=geometries(), seed=st.integers(0, 2**16))
def test_col2im_is_the_adjoint_of_im2col(backend, geometry, seed):
    # <im2col(x), y> == <x, col2im(y)> for every x and y: col2im is im2col's transpose
    shape, kh, kw, stride, padding = geometry
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    with use_backend(backend):
        cols = im2col(x, kh, kw, stride, padding)
        y = rng.standard_normal(cols.shape)
        back = col2im(y, shape, kh, kw, stride, padding)
    assert np.isclose(np.vdot(cols, y), np.vdot(x, back), rtol=1e-10, atol=1e-10)


def test_col2im_accumulates_overlapping_windows():
    # 3x3 windows, stride 1, padding 1 on a 3x3 image of ones: each pixel is seen by as many
    # windows as it has neighbours (itself included) inside the image
    cols = im2col(np.ones((1, 1, 3, 3)), 3, 3, 1, 1)
    counts = col2im((cols > 0).astype(np.float64), (1, 1, 3, 3), 3, 3, 1, 1)
    np.testing.assert_array_equal(counts[0, 0], [[4, 6, 4], [6, 9, 6], [4, 6, 4]])


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wrappers_keep_dtype_and_accept_int_or_pair_arguments(backend, dtype):
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 5)).astype(dtype)
    with use_backend(backend):
        as_ints = im2col(x, 3, 3, 2, 1)
        as_pairs = im2col(x, 3, 3, (2, 2), (1, 1))
        back = col2im(as_ints, x.shape, 3, 3, [2, 2], 1)
    assert as_ints.dtype == dtype and back.dtype == dtype
    assert as_ints.shape == (2, 27, 3 * 3)
    np.testing.assert_array_equal(as_ints, as_pairs)
    assert back.shape == x.shape


def test_wrapper_accepts_non_contiguous_input():
    x = np.random.default_rng(0).standard_normal((2, 6, 3, 5)).transpose(0, 3, 2, 1)
    np.testing.assert_array_equal(im2col(x, 2, 2, 1, 0),
                                  _naive_im2col(np.ascontiguousarray(x), 2, 2, (1, 1), (0, 0)))


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (lambda: im2col([[1.0]], 1, 1), TypeError, r"im2col: x must be a numpy.ndarray, got list"),
        (lambda: im2col(np.zeros((1, 1, 3, 3), np.int64), 1, 1), TypeError,
         r"im2col: x must be float32 or float64, got dtype int64"),
        (lambda: im2col(np.zeros((1, 3, 3)), 1, 1), ValueError,
         r"im2col: x must be 4-D \(N, C, H, W\), got shape \(1, 3, 3\)"),
        (lambda: im2col(np.zeros((1, 1, 3, 3)), 2.0, 1), TypeError,
         r"im2col: kh must be an int, got float 2.0"),
        (lambda: im2col(np.zeros((1, 1, 3, 3)), 0, 1), ValueError, r"im2col: kh must be >= 1"),
        (lambda: im2col(np.zeros((1, 1, 3, 3)), 1, 1, stride=0), ValueError,
         r"im2col: stride must be >= 1, got 0"),
        (lambda: im2col(np.zeros((1, 1, 3, 3)), 1, 1, stride=(1, 1, 1)), ValueError,
         r"im2col: stride must be an int or a pair of ints, got \(1, 1, 1\)"),
        (lambda: im2col(np.zeros((1, 1, 3, 3)), 1, 1, padding=1.5), TypeError,
         r"im2col: padding must be an int or a pair of ints, got 1.5"),
        (lambda: im2col(np.zeros((1, 1, 3, 3)), 1, 1, padding=-1), ValueError,
         r"im2col: padding must be >= 0, got -1"),
        (lambda: im2col(np.zeros((1, 1, 3, 3)), 4, 1), ValueError,
         r"im2col: output size would be \(0, 3\) for an input of size \(3, 3\) with kernel "
         r"\(4, 1\), stride \(1, 1\) and padding \(0, 0\); it must be at least \(1, 1\)"),
        (lambda: col2im(np.zeros((1, 9, 4)), (1, 1, 3, 3), 3, 3), ValueError,
         r"col2im: cols must have shape \(N, C\*kh\*kw, Ho\*Wo\) = \(1, 9, 1\) for x_shape "
         r"\(1, 1, 3, 3\), got shape \(1, 9, 4\)"),
        (lambda: col2im(np.zeros((1, 9, 1)), (1, 3, 3), 3, 3), TypeError,
         r"col2im: x_shape must be a tuple \(N, C, H, W\), got \(1, 3, 3\)"),
        (lambda: col2im(np.zeros((9, 1)), (1, 1, 3, 3), 3, 3), ValueError,
         r"col2im: cols must be 3-D \(N, C\*kh\*kw, Ho\*Wo\), got shape \(9, 1\)"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_warmup_compiles_without_error():
    warmup()


_NO_JIT_SCRIPT = """
import numba, numpy as np
from tinydyn.kernels.im2col import col2im_numba, col2im_numpy, im2col_numba, im2col_numpy
assert numba.config.DISABLE_JIT, "NUMBA_DISABLE_JIT was not picked up"
rng = np.random.default_rng(0)
for dtype in (np.float32, np.float64):
    for stride, padding in (((1, 1), (1, 1)), ((2, 1), (0, 2))):
        x = rng.standard_normal((2, 3, 5, 6)).astype(dtype)
        ho = (5 + 2 * padding[0] - 3) // stride[0] + 1
        wo = (6 + 2 * padding[1] - 2) // stride[1] + 1
        shape = (2, 18, ho * wo)
        a = im2col_numba(x, 3, 2, stride, padding, np.empty(shape, dtype))
        b = im2col_numpy(x, 3, 2, stride, padding, np.empty(shape, dtype))
        np.testing.assert_array_equal(a, b)
        c = col2im_numba(a, 3, 2, stride, padding, np.empty_like(x))
        d = col2im_numpy(a, 3, 2, stride, padding, np.empty_like(x))
        np.testing.assert_allclose(c, d, rtol=1e-5, atol=1e-5)
print("ok")
"""


def test_kernels_equal_twins_with_jit_disabled():
    result = subprocess.run(
        [sys.executable, "-c", _NO_JIT_SCRIPT],
        env={**os.environ, "NUMBA_DISABLE_JIT": "1"},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
