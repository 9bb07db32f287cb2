"""Convolution, pooling and padding with ``torch.nn.functional``'s names and argument order.

The work is done by the ops of :mod:`tinydyn.autograd.ops_conv` (im2col + a matrix product)
and :mod:`tinydyn.autograd.ops_shape` (constant padding); this module maps PyTorch's
signatures onto them and refuses, by name, the options those ops do not implement (dilation,
``ceil_mode``, ``return_indices``) rather than ignoring them.
"""

from __future__ import annotations

import numbers

import numpy as np

from tinydyn._checks import fail
from tinydyn.autograd import ops_conv, ops_shape
from tinydyn.autograd.ops_index import getitem
from tinydyn.autograd.tensor import Tensor

__all__ = ["avg_pool2d", "conv2d", "max_pool2d", "pad"]


def _require(fn: str, name: str, value, supported) -> None:
    """Refuse an option tinydyn's op does not implement, naming what it does support."""
    if value != supported:
        fail(fn, f"{name}={value!r} is not supported by tinydyn (only {name}={supported!r})")


def _is_one(value) -> bool:
    return value == 1 or (isinstance(value, (tuple, list)) and all(v == 1 for v in value))


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,  # noqa: A002
           padding=0, dilation=1, groups: int = 1) -> Tensor:
    """2-D convolution, as ``torch.nn.functional.conv2d``.

    input (N, C, H, W); weight (O, C/groups, kh, kw) — or, beyond PyTorch, (N, O, C/groups,
    kh, kw) with one kernel per sample; bias (O,) or per sample (N, O). ``padding`` is an int,
    a pair, ``'valid'`` (no padding) or ``'same'`` (stride 1: the output keeps H and W; an odd
    total goes one more to the bottom/right, as PyTorch does). ``dilation`` must be 1.
    """
    fn = "conv2d"
    if not _is_one(dilation):
        fail(fn, f"dilation={dilation!r} is not supported by tinydyn (only dilation=1)")
    if isinstance(padding, str):
        if padding == "valid":
            padding = 0
        elif padding == "same":
            if not _is_one(stride):
                fail(fn, f"padding='same' needs stride 1 (as in PyTorch), got stride={stride!r}")
            if not isinstance(weight, Tensor) or weight.ndim < 2:
                return ops_conv.conv2d(input, weight, bias, stride, 0, groups)  # its own error
            kh, kw = weight.shape[-2:]
            if (kh - 1) % 2 or (kw - 1) % 2:  # an even kernel: pad the extra row/column first
                input = pad(input, ((kw - 1) // 2, kw // 2, (kh - 1) // 2, kh // 2))
                padding = 0
            else:
                padding = ((kh - 1) // 2, (kw - 1) // 2)
        else:
            fail(fn, f"padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    return ops_conv.conv2d(input, weight, bias, stride, padding, groups)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,  # noqa: A002
               ceil_mode: bool = False, return_indices: bool = False) -> Tensor:
    """Maximum over each window, as ``torch.nn.functional.max_pool2d`` (padding never wins).

    (N, C, H, W) -> (N, C, Ho, Wo); ``stride`` defaults to ``kernel_size``. ``dilation``,
    ``ceil_mode`` and ``return_indices`` must keep their defaults.
    """
    fn = "max_pool2d"
    if not _is_one(dilation):
        fail(fn, f"dilation={dilation!r} is not supported by tinydyn (only dilation=1)")
    _require(fn, "ceil_mode", ceil_mode, False)
    _require(fn, "return_indices", return_indices, False)
    return ops_conv.max_pool2d(input, kernel_size, stride, padding)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0,  # noqa: A002
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Mean over each window, as ``torch.nn.functional.avg_pool2d``.

    (N, C, H, W) -> (N, C, Ho, Wo); ``stride`` defaults to ``kernel_size``. With
    ``count_include_pad=False`` a window divides by its number of real pixels; with
    ``divisor_override`` by that number instead of kh * kw. ``ceil_mode`` must be False.
    """
    fn = "avg_pool2d"
    _require(fn, "ceil_mode", ceil_mode, False)
    for name, flag in (("count_include_pad", count_include_pad),):
        if not isinstance(flag, (bool, np.bool_)):
            fail(fn, f"{name} must be a bool, got {type(flag).__name__}", TypeError)
    out = ops_conv.avg_pool2d(input, kernel_size, stride, padding)
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, numbers.Integral) \
        else tuple(kernel_size)
    if divisor_override is not None:
        if isinstance(divisor_override, bool) or not isinstance(divisor_override,
                                                                numbers.Integral) \
                or divisor_override < 1:
            fail(fn, f"divisor_override must be a positive int or None, got "
                 f"{divisor_override!r}")
        return out * input.dtype.type(kh * kw / divisor_override)
    if count_include_pad:
        return out
    # the same windows over an image of ones: the fraction of each window that is real
    ones = Tensor(np.ones((1, 1) + input.shape[2:], input.dtype), _copy=False)
    real = ops_conv.avg_pool2d(ones, kernel_size, stride, padding).data
    return out / Tensor(real, _copy=False)


# ---- pad ---------------------------------------------------------------------------------------

_MODES = ("constant", "reflect", "replicate", "circular")


def _source_index(mode: str, n: int, lo: int, hi: int) -> np.ndarray:
    """For each position of the padded dimension, the position of the input it copies."""
    i = np.arange(-lo, n + hi)
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    if mode == "circular":
        return i % n
    period = 2 * (n - 1)  # reflect: mirror about the edges without repeating them
    j = np.abs(i) % period if period else np.zeros_like(i)
    return np.where(j > n - 1, period - j, j)


def pad(input: Tensor, pad, mode: str = "constant", value=None) -> Tensor:  # noqa: A002
    """Pad ``input``, as ``torch.nn.functional.pad``.

    ``pad`` lists (before, after) pairs starting from the LAST dimension: (1, 1) pads the last
    dim by one on each side, (1, 1, 2, 0) also the one before it by two in front. ``mode``:
    ``'constant'`` (``value``, default 0; negative widths crop), ``'reflect'`` (mirror without
    repeating the edge; widths < size), ``'replicate'`` (repeat the edge) or ``'circular'``
    (wrap around; widths <= size). Differentiable in ``input``.
    """
    fn = "pad"
    if mode not in _MODES:
        fail(fn, f"mode must be one of {', '.join(map(repr, _MODES))}, got {mode!r}")
    if mode == "constant":
        return ops_shape.pad(input, pad, 0.0 if value is None else value)
    if value is not None and value != 0:
        fail(fn, f"value is only used by mode='constant', got value={value!r} with "
             f"mode={mode!r}")
    if not isinstance(input, Tensor):
        fail(fn, f"input must be a Tensor, got {type(input).__name__}", TypeError)
    if not isinstance(pad, (tuple, list)) or len(pad) % 2 or len(pad) // 2 > input.ndim:
        fail(fn, f"pad must be a tuple of (before, after) pairs for at most {input.ndim} "
             f"dimensions, got {pad!r}")
    for k in range(len(pad) // 2):
        dim = input.ndim - 1 - k
        lo, hi = pad[2 * k:2 * k + 2]
        if any(isinstance(w, bool) or not isinstance(w, numbers.Integral) for w in (lo, hi)):
            fail(fn, f"pad must hold ints, got {pad!r}", TypeError)
        if lo < 0 or hi < 0:
            fail(fn, f"mode={mode!r} needs non-negative pad widths (only 'constant' crops), "
                 f"got {pad!r}")
        n = input.shape[dim]
        limit = n - 1 if mode == "reflect" else n if mode == "circular" else None
        if n == 0 or (limit is not None and max(lo, hi) > limit):
            fail(fn, f"mode={mode!r} needs pad widths <= {limit} for dimension {dim} of size "
                 f"{n}, got ({lo}, {hi})")
        if lo or hi:
            index = (slice(None),) * dim + (_source_index(mode, n, lo, hi),)
            input = getitem(input, index)
    return input
