"""Tensor constructors, named as in PyTorch."""

from __future__ import annotations

import numbers

import numpy as np

from tinydyn._checks import fail
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import DEFAULT_FLOAT, Tensor


def tensor(data, dtype=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (Python floats become float32)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def _shape(fn, shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for s in shape:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 0:
            fail(fn, f"shape must be non-negative ints, got {shape}", TypeError)
    return tuple(int(s) for s in shape)


def zeros(*shape, dtype=DEFAULT_FLOAT, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(_shape("zeros", shape), dtype=dtype), requires_grad, _copy=False)


def ones(*shape, dtype=DEFAULT_FLOAT, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(_shape("ones", shape), dtype=dtype), requires_grad, _copy=False)


def full(shape, value, dtype=DEFAULT_FLOAT, requires_grad: bool = False) -> Tensor:
    return Tensor(np.full(_shape("full", (shape,)), value, dtype=dtype), requires_grad,
                  _copy=False)


def zeros_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros_like(t.data), requires_grad, _copy=False)


def ones_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones_like(t.data), requires_grad, _copy=False)


def randn(*shape, dtype=DEFAULT_FLOAT, requires_grad: bool = False, rng=None) -> Tensor:
    """Standard normal samples from ``rng`` (default: the generator set by manual_seed)."""
    values = get_rng(rng, "randn").standard_normal(_shape("randn", shape))
    return Tensor(values.astype(dtype), requires_grad, _copy=False)


def rand(*shape, dtype=DEFAULT_FLOAT, requires_grad: bool = False, rng=None) -> Tensor:
    """Uniform samples on [0, 1) from ``rng``."""
    values = get_rng(rng, "rand").random(_shape("rand", shape))
    return Tensor(values.astype(dtype), requires_grad, _copy=False)


def arange(start, end=None, step=1, dtype=None) -> Tensor:
    """Evenly spaced values in [start, end), like ``torch.arange``."""
    if end is None:
        start, end = 0, start
    if step == 0:
        fail("arange", "step must be non-zero")
    values = np.arange(start, end, step)
    if dtype is not None:
        values = values.astype(dtype)
    elif values.dtype == np.float64:
        values = values.astype(DEFAULT_FLOAT)
    return Tensor(values, _copy=False)
