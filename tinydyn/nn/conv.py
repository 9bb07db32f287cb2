"""Image layers: Conv2d, BatchNorm2d, MaxPool2d, AvgPool2d and GlobalAvgPool2d.

Images are (N, C, H, W), as in PyTorch. For a window of size k, stride s and padding p, an
input side of n gives an output side of ``(n + 2p - k) // s + 1``. The sliding-window work is
done by the ops of :mod:`tinydyn.autograd.ops_conv` (im2col + one matrix product); these
modules hold the parameters and check the shapes.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from tinydyn._checks import check_float, check_int, fail
from tinydyn.autograd import ops_conv
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import Tensor
from tinydyn.nn import functional as F
from tinydyn.nn import init
from tinydyn.nn.layers import _check_dtype
from tinydyn.nn.module import Module, Parameter

__all__ = ["AvgPool2d", "BatchNorm2d", "Conv2d", "GlobalAvgPool2d", "MaxPool2d"]


def _pair(fn: str, name: str, value, min_value: int) -> tuple[int, int]:
    """An int or a pair of ints -> (vertical, horizontal)."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2:
        fail(fn, f"{name} must be an int or a pair of ints, got {value!r}")
    for v in items:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            fail(fn, f"{name} must be an int or a pair of ints, got {type(v).__name__} {v!r}",
                 TypeError)
        if v < min_value:
            fail(fn, f"{name} must be >= {min_value}, got {value!r}")
    return int(items[0]), int(items[1])


def set_conv_geometry(layer, fn: str, in_channels, out_channels, kernel_size, stride, padding,
                      groups, bias) -> None:
    """Check a convolution's shape arguments and set them on ``layer`` (``in_channels``,
    ``out_channels``, ``kernel_size``, ``stride``, ``padding`` as pairs, ``groups``); errors
    name ``fn``. Shared by every convolution layer, static or dynamic."""
    layer.in_channels = check_int(fn, "in_channels", in_channels, min_value=1)
    layer.out_channels = check_int(fn, "out_channels", out_channels, min_value=1)
    layer.kernel_size = _pair(fn, "kernel_size", kernel_size, 1)
    layer.stride = _pair(fn, "stride", stride, 1)
    layer.padding = _pair(fn, "padding", padding, 0)
    layer.groups = check_int(fn, "groups", groups, min_value=1)
    for name, n in (("in_channels", in_channels), ("out_channels", out_channels)):
        if n % groups:
            fail(fn, f"{name} ({n}) must be divisible by groups ({groups})")
    if not isinstance(bias, bool):
        fail(fn, f"bias must be a bool, got {type(bias).__name__} {bias!r}", TypeError)


def _check_image(fn: str, x, channels: int | None = None) -> None:
    if not isinstance(x, Tensor):
        fail(fn, f"input must be a Tensor, got {type(x).__name__}", TypeError)
    if x.ndim != 4 or (channels is not None and x.shape[1] != channels):
        c = "C" if channels is None else str(channels)
        fail(fn, f"expected input of shape (N, {c}, H, W), got {x.shape}")


def _check_window_fits(fn: str, x: Tensor, kernel, stride, padding) -> None:
    h, w = x.shape[2:]
    ho = (h + 2 * padding[0] - kernel[0]) // stride[0] + 1
    wo = (w + 2 * padding[1] - kernel[1]) // stride[1] + 1
    if ho < 1 or wo < 1:
        fail(fn, f"input of spatial size ({h}, {w}) is too small for kernel_size {kernel} "
             f"with padding {padding}: the output would be ({ho}, {wo})")


class Conv2d(Module):
    """2-D convolution (cross-correlation, as every framework computes it).

    x (N, in_channels, H, W) -> (N, out_channels, Ho, Wo). ``weight`` is
    (out_channels, in_channels // groups, kh, kw); with ``groups`` > 1 the channels split into
    that many independent convolutions (``groups == in_channels`` is a depthwise convolution).
    Weight and bias start as U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
    fan_in = in_channels // groups * kh * kw: torch's default (kaiming_uniform with a=sqrt(5)).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 groups: int = 1, bias: bool = True, rng=None, dtype=np.float32):
        super().__init__()
        fn = "Conv2d"
        set_conv_geometry(self, fn, in_channels, out_channels, kernel_size, stride, padding,
                          groups, bias)
        dtype = _check_dtype(fn, dtype)
        rng = get_rng(rng, fn)
        kh, kw = self.kernel_size
        fan_in = in_channels // groups * kh * kw
        bound = 1.0 / math.sqrt(fan_in)
        self.weight = Parameter(np.empty((out_channels, in_channels // groups, kh, kw),
                                         dtype=dtype))
        init.uniform_(self.weight, -bound, bound, rng=rng)
        if bias:
            self.bias = Parameter(np.empty(out_channels, dtype=dtype))
            init.uniform_(self.bias, -bound, bound, rng=rng)
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        _check_image("Conv2d", x, self.in_channels)
        _check_window_fits("Conv2d", x, self.kernel_size, self.stride, self.padding)
        return ops_conv.conv2d(x, self.weight, self.bias, self.stride, self.padding,
                               self.groups)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + f", bias={self.bias is not None}"


class BatchNorm2d(Module):
    """Normalise each channel over the batch and the image: (N, C, H, W) -> same shape.

    Training: ``y = (x - mean) / sqrt(var + eps) * weight + bias`` with the mean and the
    biased variance of the current batch over (N, H, W); the buffers then move towards them::

        running_mean = (1 - momentum) * running_mean + momentum * mean
        running_var  = (1 - momentum) * running_var  + momentum * var * n / (n - 1)

    (the *unbiased* variance, n = N*H*W, as torch does; ``momentum=None`` gives a cumulative
    average). Evaluation (``eval()``) uses the running statistics instead, so an example's
    output no longer depends on the rest of its batch. ``weight`` starts at ones, ``bias`` at
    zeros; ``num_batches_tracked`` counts training batches.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, dtype=np.float32):
        super().__init__()
        fn = "BatchNorm2d"
        self.num_features = check_int(fn, "num_features", num_features, min_value=1)
        self.eps = check_float(fn, "eps", eps, low=0.0, low_open=True)
        if momentum is not None:
            momentum = check_float(fn, "momentum", momentum, low=0.0, high=1.0)
        self.momentum = momentum
        if not isinstance(affine, bool):
            fail(fn, f"affine must be a bool, got {type(affine).__name__} {affine!r}", TypeError)
        self.affine = affine
        dtype = _check_dtype(fn, dtype)
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=dtype))
            self.bias = Parameter(np.zeros(num_features, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
        self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
        self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))

    def _affine(self, xhat: Tensor) -> Tensor:
        if not self.affine:
            return xhat
        C = self.num_features
        return xhat * F.reshape(self.weight, (C, 1, 1)) + F.reshape(self.bias, (C, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        fn = "BatchNorm2d"
        _check_image(fn, x, self.num_features)
        if x.dtype.kind != "f":
            fail(fn, f"input must be floating point, got dtype {x.dtype}", TypeError)
        C = self.num_features
        if not self.training:
            # Constants now: (x - mean) * rstd, with no statistic to differentiate through.
            mean = self.running_mean.astype(x.dtype).reshape(C, 1, 1)
            rstd = (1.0 / np.sqrt(self.running_var + self.eps)).astype(x.dtype).reshape(C, 1, 1)
            return self._affine((x - mean) * rstd)
        n = x.shape[0] * x.shape[2] * x.shape[3]
        if n < 2:
            fail(fn, f"expected more than 1 value per channel in training mode, got input of "
                 f"shape {x.shape} (use eval() for single values)")
        mean = F.mean(x, (0, 2, 3), keepdim=True)
        centred = x - mean
        var = F.mean(centred * centred, (0, 2, 3), keepdim=True)  # biased, as the formula
        xhat = centred / (var + x.dtype.type(self.eps)).sqrt()
        self._update_running_stats(mean.data.reshape(C), var.data.reshape(C), n)
        return self._affine(xhat)

    def _update_running_stats(self, mean: np.ndarray, var: np.ndarray, n: int) -> None:
        # Plain NumPy on the batch statistics' values: the buffers are not part of the graph.
        self.num_batches_tracked = np.asarray(self.num_batches_tracked + 1)
        m = self.momentum if self.momentum is not None else 1.0 / int(self.num_batches_tracked)
        dtype = self.running_mean.dtype
        self.running_mean = ((1 - m) * self.running_mean + m * mean).astype(dtype)
        self.running_var = ((1 - m) * self.running_var + m * var * (n / (n - 1))).astype(dtype)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}")


class _Pool2d(Module):
    _name = "_Pool2d"

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        fn = self._name
        self.kernel_size = _pair(fn, "kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else _pair(fn, "stride", stride, 1)
        self.padding = _pair(fn, "padding", padding, 0)
        for k, p in zip(self.kernel_size, self.padding):
            if 2 * p > k:
                fail(fn, f"padding {self.padding} must be at most half of kernel_size "
                     f"{self.kernel_size}")

    def _check(self, x) -> None:
        _check_image(self._name, x)
        _check_window_fits(self._name, x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """The maximum of each window: (N, C, H, W) -> (N, C, Ho, Wo). ``stride`` defaults to
    ``kernel_size`` (non-overlapping windows); padding counts as -inf, never as the maximum."""

    _name = "MaxPool2d"

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return ops_conv.max_pool2d(x, self.kernel_size, self.stride, self.padding)


class AvgPool2d(_Pool2d):
    """The mean of each window: (N, C, H, W) -> (N, C, Ho, Wo). ``stride`` defaults to
    ``kernel_size``; padding zeros count in the mean (torch's ``count_include_pad=True``)."""

    _name = "AvgPool2d"

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        return ops_conv.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class GlobalAvgPool2d(Module):
    """The mean over each whole feature map: (N, C, H, W) -> (N, C)."""

    def forward(self, x: Tensor) -> Tensor:
        _check_image("GlobalAvgPool2d", x)
        return ops_conv.global_avg_pool2d(x)
