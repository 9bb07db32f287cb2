"""Input validation shared by every layer of tinydyn.

Every public function checks its arguments and raises an error that names the function, the
argument, what was expected and what was received, e.g.::

    ValueError: matmul: shapes (3, 4) and (5, 2) do not align: 4 != 5

This module imports nothing from tinydyn, so any layer may use it.
"""

from __future__ import annotations

import numbers

import numpy as np


def fail(fn: str, message: str, exc: type = ValueError):
    """Raise ``exc`` with the message prefixed by the function name."""
    raise exc(f"{fn}: {message}")


def check_int(fn: str, name: str, value, *, min_value: int | None = None) -> int:
    """Return ``value`` as an int, or raise naming ``fn`` and ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        fail(fn, f"{name} must be an int, got {type(value).__name__} {value!r}", TypeError)
    if min_value is not None and value < min_value:
        fail(fn, f"{name} must be >= {min_value}, got {value}")
    return int(value)


def check_float(fn: str, name: str, value, *, low=None, high=None, low_open=False) -> float:
    """Return ``value`` as a float in [low, high] (or (low, high] if ``low_open``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(fn, f"{name} must be a number, got {type(value).__name__} {value!r}", TypeError)
    value = float(value)
    if low is not None and (value <= low if low_open else value < low):
        bound = f"> {low}" if low_open else f">= {low}"
        fail(fn, f"{name} must be {bound}, got {value}")
    if high is not None and value > high:
        fail(fn, f"{name} must be <= {high}, got {value}")
    return value


def normalize_dim(fn: str, dim, ndim: int, name: str = "dim") -> int:
    """Map a possibly negative ``dim`` into ``range(ndim)``."""
    dim = check_int(fn, name, dim)
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        fail(fn, f"{name}={dim} is out of range for a tensor with {ndim} dimensions")
    return dim % max(ndim, 1)


def normalize_dims(fn: str, dim, ndim: int) -> tuple[int, ...] | None:
    """``None`` (all dims), an int, or a tuple of ints -> a sorted tuple of dims (or None)."""
    if dim is None:
        return None
    dims = (dim,) if not isinstance(dim, (tuple, list)) else tuple(dim)
    out = tuple(sorted({normalize_dim(fn, d, ndim) for d in dims}))
    if len(out) != len(dims):
        fail(fn, f"dim has repeated entries: {dim}")
    return out


def check_float_dtype(fn: str, name: str, array: np.ndarray) -> None:
    """Raise a TypeError unless ``array`` holds floating-point numbers."""
    if not np.issubdtype(array.dtype, np.floating):
        fail(fn, f"{name} must be a floating-point tensor, got dtype {array.dtype}", TypeError)


def check_int_dtype(fn: str, name: str, array: np.ndarray) -> None:
    """Raise a TypeError unless ``array`` holds integers (indices)."""
    if not np.issubdtype(array.dtype, np.integer):
        fail(fn, f"{name} must be an integer tensor of indices, got dtype {array.dtype}", TypeError)


def check_ndim(fn: str, name: str, array: np.ndarray, ndims) -> None:
    """Raise unless ``array.ndim`` is in ``ndims`` (an int or a tuple of ints)."""
    allowed = (ndims,) if isinstance(ndims, int) else tuple(ndims)
    if array.ndim not in allowed:
        want = " or ".join(f"{n}-D" for n in allowed)
        fail(fn, f"{name} must be {want}, got shape {tuple(array.shape)}")
