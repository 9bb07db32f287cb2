"""Convolution and pooling over (N, C, H, W) images, built on im2col.

``im2col`` (see :mod:`tinydyn.kernels.im2col`) copies every (C, kh, kw) window of the image
into a column, so a convolution is one matrix product::

    cols   = im2col(x)                       (N, C*kh*kw, L)      L = Ho*Wo
    out    = weight.reshape(O, C*kh*kw) @ cols                    (N, O, L) -> (N, O, Ho, Wo)

and its backward is two more products plus ``col2im``, the adjoint of ``im2col``, which adds
each column entry back onto the pixel it came from. Groups split the rows of ``cols`` and the
weight into ``groups`` independent blocks; a per-sample weight (N, O, C/groups, kh, kw), as
dynamic convolution produces, turns the product into a batched matmul over N.

Pooling reuses the same columns with each channel as its own image: a max or mean down each
column of kh*kw window values.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_float_dtype, check_int, fail
from tinydyn.autograd.function import Function
from tinydyn.autograd.tensor import Tensor
from tinydyn.kernels.im2col import as_pair, col2im, conv_output_size, im2col

__all__ = ["conv2d", "max_pool2d", "avg_pool2d", "global_avg_pool2d"]


# ---- conv2d ----------------------------------------------------------------------------------


class Conv2d(Function):
    """2-D cross-correlation with stride, zero padding, groups, and shared or per-sample weights.

    Shapes (G = groups, Cg = C/G, Og = O/G, K = Cg*kh*kw, L = Ho*Wo):
        x (N, C, H, W); weight (O, Cg, kh, kw) or (N, O, Cg, kh, kw); bias (O,) or (N, O).
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None, stride=(1, 1), padding=(0, 0), groups=1):
        n, c, h, w = x.shape
        kh, kw = weight.shape[-2:]
        out_channels = weight.shape[-4]
        cols = im2col(x, kh, kw, stride, padding)  # (N, C*kh*kw, L)
        length = cols.shape[2]
        cols = cols.reshape(n, groups, -1, length)  # (N, G, K, L): rows of group g together
        w_mat = _weight_matrix(weight, groups)  # (G, Og, K) or (N, G, Og, K)
        out = np.matmul(w_mat, cols)  # (N, G, Og, L); broadcasts the shared weight over N
        ho, wo = conv_output_size("conv2d", (h, w), (kh, kw), stride, padding)
        out = out.reshape(n, out_channels, ho, wo)
        if bias is not None:
            out += bias[..., :, None, None]  # (O,) or (N, O): the same rule for both
        ctx.save_for_backward(cols, w_mat)
        ctx.shapes = (x.shape, weight.shape, None if bias is None else bias.shape)
        ctx.options = (kh, kw, stride, padding, groups)
        return out

    @staticmethod
    def backward(ctx, grad):
        cols, w_mat = ctx.saved
        x_shape, w_shape, b_shape = ctx.shapes
        kh, kw, stride, padding, groups = ctx.options
        n = x_shape[0]
        g = grad.reshape(n, groups, -1, cols.shape[-1])  # (N, G, Og, L)
        # out = W @ cols, so dW = g @ cols^T and dcols = W^T @ g
        grad_w = np.matmul(g, np.swapaxes(cols, -1, -2))  # (N, G, Og, K)
        if len(w_shape) == 4:
            grad_w = grad_w.sum(axis=0)  # a shared weight collects every sample's share
        grad_cols = np.matmul(np.swapaxes(w_mat, -1, -2), g)  # (N, G, K, L)
        grad_x = col2im(grad_cols.reshape(n, -1, cols.shape[-1]), x_shape, kh, kw, stride,
                        padding)
        grads = (grad_x, grad_w.reshape(w_shape))
        if b_shape is None:
            return grads
        grad_b = grad.sum(axis=(2, 3)) if len(b_shape) == 2 else grad.sum(axis=(0, 2, 3))
        return grads + (grad_b,)


def _weight_matrix(weight: np.ndarray, groups: int) -> np.ndarray:
    """(O, Cg, kh, kw) -> (G, Og, K); (N, O, Cg, kh, kw) -> (N, G, Og, K). A view, no copy."""
    lead = weight.shape[:-4]
    out_channels = weight.shape[-4]
    return weight.reshape(*lead, groups, out_channels // groups, -1)


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as in PyTorch) of a batch of images.

    Args:
        x: (N, C, H, W) input.
        weight: (O, C/groups, kh, kw) shared by the batch, or (N, O, C/groups, kh, kw): one
            kernel per sample (dynamic convolution).
        bias: None, (O,) shared, or (N, O) per sample.
        stride, padding: an int or a (vertical, horizontal) pair; padding adds zeros.
        groups: input and output channels are split into this many independent groups.

    Returns:
        (N, O, Ho, Wo) with Ho = (H + 2*pad_h - kh) // stride_h + 1 (likewise Wo).
    """
    fn = "conv2d"
    _check_tensor(fn, "input", x)
    _check_tensor(fn, "weight", weight)
    if x.ndim != 4:
        fail(fn, f"input must be 4-D (N, C, H, W), got shape {x.shape}")
    if weight.ndim not in (4, 5):
        fail(fn, f"weight must be 4-D (O, C/groups, kh, kw) or 5-D per-sample "
             f"(N, O, C/groups, kh, kw), got shape {weight.shape}")
    _check_same_dtype(fn, "weight", weight, x)
    groups = check_int(fn, "groups", groups, min_value=1)
    stride = as_pair(fn, "stride", stride, 1)
    padding = as_pair(fn, "padding", padding, 0)
    n, c, h, w = x.shape
    out_channels, c_per_group, kh, kw = weight.shape[-4:]
    if weight.ndim == 5 and weight.shape[0] != n:
        fail(fn, f"a per-sample weight must have one kernel per input: weight.shape[0] must "
             f"equal the batch size {n}, got weight of shape {weight.shape}")
    if c % groups:
        fail(fn, f"input channels {c} are not divisible by groups={groups}")
    if out_channels % groups:
        fail(fn, f"output channels {out_channels} (weight shape {weight.shape}) are not "
             f"divisible by groups={groups}")
    if c_per_group != c // groups:
        fail(fn, f"weight expects {c_per_group * groups} input channels ({c_per_group} per "
             f"group x groups={groups}) but the input has {c} (input shape {x.shape}, "
             f"weight shape {weight.shape})")
    conv_output_size(fn, (h, w), (kh, kw), stride, padding)
    options = dict(stride=stride, padding=padding, groups=groups)
    if bias is None:
        return Conv2d.apply(x, weight, **options)
    _check_tensor(fn, "bias", bias)
    _check_same_dtype(fn, "bias", bias, x)
    if bias.shape not in ((out_channels,), (n, out_channels)):
        fail(fn, f"bias must have shape ({out_channels},) or per-sample ({n}, {out_channels}), "
             f"got shape {bias.shape}")
    return Conv2d.apply(x, weight, bias, **options)


# ---- pooling ---------------------------------------------------------------------------------


class MaxPool2d(Function):
    """Maximum over each window; the gradient goes to the (first) maximum of the window."""

    @staticmethod
    def forward(ctx, x, kernel=(2, 2), stride=(2, 2), padding=(0, 0)):
        n, c, h, w = x.shape
        (kh, kw), (ph, pw) = kernel, padding
        # pad with -inf, not 0: a padded position must never win the max
        padded = np.pad(x.reshape(n * c, 1, h, w), ((0, 0), (0, 0), (ph, ph), (pw, pw)),
                        constant_values=-np.inf)
        cols = im2col(padded, kh, kw, stride, 0)  # (N*C, kh*kw, L)
        winner = cols.argmax(axis=1)[:, None, :]  # (N*C, 1, L)
        out = np.take_along_axis(cols, winner, axis=1)
        ho, wo = conv_output_size("max_pool2d", (h, w), kernel, stride, padding)
        ctx.winner, ctx.shapes = winner, (x.shape, padded.shape, cols.shape)
        ctx.options = (kernel, stride, padding)
        return out.reshape(n, c, ho, wo)

    @staticmethod
    def backward(ctx, grad):
        (n, c, h, w), padded_shape, cols_shape = ctx.shapes
        (kh, kw), stride, (ph, pw) = ctx.options
        grad_cols = np.zeros(cols_shape, dtype=grad.dtype)
        np.put_along_axis(grad_cols, ctx.winner, grad.reshape(n * c, 1, -1), axis=1)
        grad_padded = col2im(grad_cols, padded_shape, kh, kw, stride, 0)
        return grad_padded[:, 0, ph:ph + h, pw:pw + w].reshape(n, c, h, w)


class AvgPool2d(Function):
    """Mean over each window, padding zeros counted (PyTorch's count_include_pad=True)."""

    @staticmethod
    def forward(ctx, x, kernel=(2, 2), stride=(2, 2), padding=(0, 0)):
        n, c, h, w = x.shape
        kh, kw = kernel
        cols = im2col(x.reshape(n * c, 1, h, w), kh, kw, stride, padding)  # (N*C, kh*kw, L)
        ho, wo = conv_output_size("avg_pool2d", (h, w), kernel, stride, padding)
        ctx.shapes, ctx.options = (x.shape, cols.shape), (kernel, stride, padding)
        return cols.mean(axis=1).reshape(n, c, ho, wo)

    @staticmethod
    def backward(ctx, grad):
        (n, c, h, w), cols_shape = ctx.shapes
        (kh, kw), stride, padding = ctx.options
        # each window value contributed 1/(kh*kw) of the window's mean
        share = grad.reshape(n * c, 1, -1) / (kh * kw)
        grad_cols = np.broadcast_to(share, cols_shape)
        return col2im(grad_cols, (n * c, 1, h, w), kh, kw, stride, padding).reshape(n, c, h, w)


class GlobalAvgPool2d(Function):
    """Mean over all positions of each channel: (N, C, H, W) -> (N, C)."""

    @staticmethod
    def forward(ctx, x):
        ctx.shape = x.shape
        return x.mean(axis=(2, 3))

    @staticmethod
    def backward(ctx, grad):
        n, c, h, w = ctx.shape
        return np.broadcast_to((grad / (h * w))[:, :, None, None], ctx.shape)


def _pool_args(fn: str, x, kernel_size, stride, padding):
    """Validate a pooling call; return (kernel, stride, padding) as pairs."""
    _check_tensor(fn, "input", x)
    if x.ndim != 4:
        fail(fn, f"input must be 4-D (N, C, H, W), got shape {x.shape}")
    kernel = as_pair(fn, "kernel_size", kernel_size, 1)
    stride = kernel if stride is None else as_pair(fn, "stride", stride, 1)
    padding = as_pair(fn, "padding", padding, 0)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        # otherwise a window could lie entirely in the padding (PyTorch refuses this too)
        fail(fn, f"padding {padding} must be at most half of kernel_size {kernel}")
    conv_output_size(fn, x.shape[2:], kernel, stride, padding)
    return kernel, stride, padding


def max_pool2d(x: Tensor, kernel_size, stride=None, padding: int = 0) -> Tensor:
    """Maximum over kh x kw windows of each channel (padding never wins).

    Args:
        x: (N, C, H, W).
        kernel_size, stride, padding: an int or a pair; stride defaults to kernel_size;
            padding must be at most half the kernel.

    Returns:
        (N, C, Ho, Wo) with Ho = (H + 2*pad_h - kh) // stride_h + 1 (likewise Wo).
    """
    kernel, stride, padding = _pool_args("max_pool2d", x, kernel_size, stride, padding)
    return MaxPool2d.apply(x, kernel=kernel, stride=stride, padding=padding)


def avg_pool2d(x: Tensor, kernel_size, stride=None, padding: int = 0) -> Tensor:
    """Mean over kh x kw windows of each channel; padded zeros count toward the mean.

    Args and shapes as :func:`max_pool2d`.
    """
    kernel, stride, padding = _pool_args("avg_pool2d", x, kernel_size, stride, padding)
    return AvgPool2d.apply(x, kernel=kernel, stride=stride, padding=padding)


def global_avg_pool2d(x: Tensor) -> Tensor:
    """Mean of each channel over all its positions: (N, C, H, W) -> (N, C)."""
    _check_tensor("global_avg_pool2d", "input", x)
    if x.ndim != 4:
        fail("global_avg_pool2d", f"input must be 4-D (N, C, H, W), got shape {x.shape}")
    return GlobalAvgPool2d.apply(x)


# ---- checks ----------------------------------------------------------------------------------


def _check_tensor(fn: str, name: str, value) -> None:
    if not isinstance(value, Tensor):
        fail(fn, f"{name} must be a Tensor, got {type(value).__name__}", TypeError)
    check_float_dtype(fn, name, value.data)


def _check_same_dtype(fn: str, name: str, value: Tensor, x: Tensor) -> None:
    if value.dtype != x.dtype:
        fail(fn, f"{name} must have the dtype of the input ({x.dtype}), got {value.dtype}",
             TypeError)
