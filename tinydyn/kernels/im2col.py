"""im2col and col2im: turn a convolution into a matrix product, and its gradient back.

A 2-D convolution slides a (C, kh, kw) window over the image. ``im2col`` copies every window
into a column, so that the convolution becomes one matrix product with the flattened weights::

    x     (N, C, H, W)
    cols  (N, C*kh*kw, Ho*Wo)    cols[n, (c, i, j), (oy, ox)] = x_padded[n, c, oy*sh+i, ox*sw+j]
    conv  weight.reshape(O, C*kh*kw) @ cols  ->  (N, O, Ho*Wo)  ->  reshape (N, O, Ho, Wo)

Why this layout: the rows are ordered (c, i, j), exactly as a weight of shape (O, C, kh, kw)
flattens, and the columns are ordered (oy, ox), exactly as the output map flattens. So the
product needs no transpose on either side, the result reshapes to (N, O, Ho, Wo) for free,
channel groups are a reshape of the rows to (N, groups, C/groups*kh*kw, L), and a different
kernel per sample is a batched matmul over the leading N.

``col2im`` is the adjoint of ``im2col`` (``<im2col(x), y> == <x, col2im(y)>``): every column
entry is added back to the pixel it was copied from. Windows overlap, so a pixel collects one
contribution per window that saw it; padding positions are dropped. It is the backward of
im2col, hence of the input of a convolution.

Each kernel comes as a pair with the same signature; ``stride`` and ``padding`` are
(vertical, horizontal) tuples of ints, and the last argument is the output array, which the
kernel fills and returns:

* ``im2col_numba(x, kh, kw, stride, padding, cols)`` / ``im2col_numpy(...)``
* ``col2im_numba(cols, kh, kw, stride, padding, out)`` / ``col2im_numpy(...)``

The ``*_numba`` kernels are plain loops, compiled, one image plane (n, c) at a time; the
``*_numpy`` twins do one strided slice copy (or slice-add) per kernel offset (i, j) on a
padded image. The outputs are allocated by the NumPy wrappers, not inside the kernels:
NumPy asks the OS for huge pages for big arrays, Numba's allocator does not, and for a
40 MB column array the page faults alone cost more than the copying.

:func:`im2col` and :func:`col2im` validate their arguments, allocate, and call the backend's
choice.
"""

from __future__ import annotations

import numbers

import numpy as np
from numba import njit

from tinydyn._checks import fail
from tinydyn.kernels.backend import dispatch

__all__ = [
    "as_pair", "col2im", "col2im_numba", "col2im_numpy", "conv_output_size", "im2col",
    "im2col_numba", "im2col_numpy", "warmup",
]


# ---- Numba kernels -------------------------------------------------------------------------
#
# Both kernels work one (H, W) plane at a time through a small zero-bordered buffer of the
# padded plane (a few KB: it stays in L1 cache). With the border in the buffer, no pixel needs
# a bounds test, and a window row is a plain run of the buffer. Stride 1 gets its own inner loop
# so that run is contiguous and LLVM can vectorise it.


@njit(cache=True)
def im2col_numba(x, kh, kw, stride, padding, cols):
    """Fill ``cols`` (N, C*kh*kw, Ho*Wo) with the windows of ``x`` (N, C, H, W); return it."""
    n, c, h, w = x.shape
    sh, sw = stride
    ph, pw = padding
    ho = (h + 2 * ph - kh) // sh + 1
    wo = (w + 2 * pw - kw) // sw + 1
    planes = x.reshape(n * c, h, w)
    rows = cols.reshape(n * c, kh * kw * ho, wo)
    buf = np.zeros((h + 2 * ph, w + 2 * pw), dtype=x.dtype)  # border stays 0 for every plane
    for p in range(n * c):
        buf[ph:ph + h, pw:pw + w] = planes[p]
        r = 0  # row of rows[p]: (i, j, oy) in that order
        for i in range(kh):
            for j in range(kw):
                for oy in range(ho):
                    src = buf[oy * sh + i, j:]
                    dst = rows[p, r]
                    r += 1
                    if sw == 1:
                        for ox in range(wo):
                            dst[ox] = src[ox]
                    else:
                        for ox in range(wo):
                            dst[ox] = src[ox * sw]
    return cols


@njit(cache=True)
def col2im_numba(cols, kh, kw, stride, padding, out):
    """Fill ``out`` (N, C, H, W) with the columns added back onto their pixels; return it."""
    n, c, h, w = out.shape
    sh, sw = stride
    ph, pw = padding
    ho = (h + 2 * ph - kh) // sh + 1
    wo = (w + 2 * pw - kw) // sw + 1
    rows = cols.reshape(n * c, kh * kw * ho, wo)
    planes = out.reshape(n * c, h, w)
    buf = np.empty((h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for p in range(n * c):
        buf[:] = 0
        r = 0
        for i in range(kh):
            for j in range(kw):
                for oy in range(ho):
                    dst = buf[oy * sh + i, j:]
                    src = rows[p, r]
                    r += 1
                    if sw == 1:
                        for ox in range(wo):
                            dst[ox] += src[ox]
                    else:
                        for ox in range(wo):
                            dst[ox * sw] += src[ox]
        planes[p] = buf[ph:ph + h, pw:pw + w]  # what landed on the padding is dropped
    return out


# ---- NumPy twins ---------------------------------------------------------------------------


def im2col_numpy(x, kh, kw, stride, padding, cols):
    """The NumPy twin of :func:`im2col_numba`: one strided slice copy per kernel offset."""
    n, c, h, w = x.shape
    (sh, sw), (ph, pw) = stride, padding
    ho = (h + 2 * ph - kh) // sh + 1
    wo = (w + 2 * pw - kw) // sw + 1
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))) if ph or pw else x
    cols6 = cols.reshape(n, c, kh, kw, ho, wo)
    for i in range(kh):
        for j in range(kw):
            # pixel (i, j) of every window at once
            cols6[:, :, i, j] = padded[:, :, i:i + sh * ho:sh, j:j + sw * wo:sw]
    return cols


def col2im_numpy(cols, kh, kw, stride, padding, out):
    """The NumPy twin of :func:`col2im_numba`: one strided slice-add per kernel offset."""
    n, c, h, w = out.shape
    (sh, sw), (ph, pw) = stride, padding
    ho = (h + 2 * ph - kh) // sh + 1
    wo = (w + 2 * pw - kw) // sw + 1
    cols6 = cols.reshape(n, c, kh, kw, ho, wo)
    padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            # within one offset no two windows hit the same pixel, so a plain += is exact
            padded[:, :, i:i + sh * ho:sh, j:j + sw * wo:sw] += cols6[:, :, i, j]
    out[...] = padded[:, :, ph:ph + h, pw:pw + w]
    return out


# ---- validating wrappers -------------------------------------------------------------------


def as_pair(fn: str, name: str, value, min_value: int) -> tuple:
    """An int or a pair of ints -> a (vertical, horizontal) tuple of Python ints."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2:
        fail(fn, f"{name} must be an int or a pair of ints, got {value!r}")
    for v in items:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            fail(fn, f"{name} must be an int or a pair of ints, got {value!r}", TypeError)
        if v < min_value:
            fail(fn, f"{name} must be >= {min_value}, got {value!r}")
    return int(items[0]), int(items[1])


def conv_output_size(fn: str, hw: tuple, kernel: tuple, stride: tuple, padding: tuple) -> tuple:
    """(Ho, Wo) of a window sliding over a (H, W) map; raises naming ``fn`` if either is < 1."""
    h, w = hw
    ho = (h + 2 * padding[0] - kernel[0]) // stride[0] + 1
    wo = (w + 2 * padding[1] - kernel[1]) // stride[1] + 1
    if ho < 1 or wo < 1:
        fail(fn, f"output size would be ({ho}, {wo}) for an input of size ({h}, {w}) with "
             f"kernel {kernel}, stride {stride} and padding {padding}; it must be at least "
             "(1, 1)")
    return ho, wo


def _check_array(fn: str, name: str, array, ndim: int, meaning: str) -> None:
    if not isinstance(array, np.ndarray):
        fail(fn, f"{name} must be a numpy.ndarray, got {type(array).__name__}", TypeError)
    if array.dtype not in (np.float32, np.float64):
        fail(fn, f"{name} must be float32 or float64, got dtype {array.dtype}", TypeError)
    if array.ndim != ndim:
        fail(fn, f"{name} must be {ndim}-D {meaning}, got shape {array.shape}")


def im2col(x: np.ndarray, kh: int, kw: int, stride=1, padding=0) -> np.ndarray:
    """Copy every (C, kh, kw) window of ``x`` into a column.

    Args:
        x: (N, C, H, W) float32 or float64 array.
        kh, kw: window height and width.
        stride, padding: an int or a (vertical, horizontal) pair; padding adds zeros.

    Returns:
        (N, C*kh*kw, Ho*Wo) array of ``x``'s dtype, rows ordered (c, i, j), columns (oy, ox).
    """
    fn = "im2col"
    _check_array(fn, "x", x, 4, "(N, C, H, W)")
    kernel = (_check_positive(fn, "kh", kh), _check_positive(fn, "kw", kw))
    stride = as_pair(fn, "stride", stride, 1)
    padding = as_pair(fn, "padding", padding, 0)
    ho, wo = conv_output_size(fn, x.shape[2:], kernel, stride, padding)
    x = np.ascontiguousarray(x)
    cols = np.empty((x.shape[0], x.shape[1] * kernel[0] * kernel[1], ho * wo), dtype=x.dtype)
    return dispatch(im2col_numba, im2col_numpy)(x, kernel[0], kernel[1], stride, padding, cols)


def col2im(cols: np.ndarray, x_shape, kh: int, kw: int, stride=1, padding=0) -> np.ndarray:
    """Add every column back onto the pixels it was copied from (the adjoint of :func:`im2col`).

    Args:
        cols: (N, C*kh*kw, Ho*Wo) float32 or float64 array, laid out as :func:`im2col` returns.
        x_shape: (N, C, H, W), the shape of the image the columns came from.
        kh, kw, stride, padding: as given to :func:`im2col`.

    Returns:
        (N, C, H, W) array of ``cols``' dtype.
    """
    fn = "col2im"
    _check_array(fn, "cols", cols, 3, "(N, C*kh*kw, Ho*Wo)")
    if not isinstance(x_shape, (tuple, list)) or len(x_shape) != 4:
        fail(fn, f"x_shape must be a tuple (N, C, H, W), got {x_shape!r}", TypeError)
    x_shape = tuple(_check_positive(fn, "x_shape entries", s) for s in x_shape)
    kernel = (_check_positive(fn, "kh", kh), _check_positive(fn, "kw", kw))
    stride = as_pair(fn, "stride", stride, 1)
    padding = as_pair(fn, "padding", padding, 0)
    ho, wo = conv_output_size(fn, x_shape[2:], kernel, stride, padding)
    n, c = x_shape[:2]
    expected = (n, c * kernel[0] * kernel[1], ho * wo)
    if cols.shape != expected:
        fail(fn, f"cols must have shape (N, C*kh*kw, Ho*Wo) = {expected} for x_shape "
             f"{x_shape}, got shape {cols.shape}")
    cols = np.ascontiguousarray(cols)
    out = np.empty(x_shape, dtype=cols.dtype)
    return dispatch(col2im_numba, col2im_numpy)(cols, kernel[0], kernel[1], stride, padding, out)


def _check_positive(fn: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        fail(fn, f"{name} must be an int, got {type(value).__name__} {value!r}", TypeError)
    if value < 1:
        fail(fn, f"{name} must be >= 1, got {value}")
    return int(value)


def warmup() -> None:
    """Compile (or load from the on-disk cache) both kernels for float32 and float64."""
    for dtype in (np.float32, np.float64):
        x = np.zeros((1, 1, 3, 3), dtype=dtype)
        cols = im2col_numba(x, 2, 2, (1, 1), (1, 1), np.empty((1, 4, 16), dtype=dtype))
        col2im_numba(cols, 2, 2, (1, 1), (1, 1), np.empty_like(x))
