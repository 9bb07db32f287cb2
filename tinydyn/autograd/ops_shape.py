"""Shape ops: they move or copy values without arithmetic, so each backward undoes the move.

reshape, squeeze, unsqueeze and flatten are all one op (Reshape): only the target shape differs.
expand needs no backward of its own: it returns the gradient in the expanded shape and the
engine's ``unbroadcast`` sums it back down, exactly as for any broadcasting op.
"""

from __future__ import annotations

import numbers

import numpy as np

from tinydyn._checks import fail, normalize_dim, normalize_dims
from tinydyn.autograd.function import Function
from tinydyn.autograd.tensor import Tensor

__all__ = [
    "reshape", "view", "permute", "transpose", "expand", "broadcast_to", "squeeze",
    "unsqueeze", "flatten", "cat", "stack", "pad",
]


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape=None):
        ctx.shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.shape)


class Permute(Function):
    @staticmethod
    def forward(ctx, a, dims=None):
        ctx.dims = dims
        return np.transpose(a, dims)

    @staticmethod
    def backward(ctx, grad):
        # argsort of a permutation is its inverse
        return np.transpose(grad, np.argsort(ctx.dims))


class Expand(Function):
    @staticmethod
    def forward(ctx, a, shape=None):
        # a read-only view with stride 0 along the expanded dims: no copy, as in torch
        return np.broadcast_to(a, shape)

    @staticmethod
    def backward(ctx, grad):
        return grad  # the engine sums over the expanded dims (function.unbroadcast)


class Cat(Function):
    @staticmethod
    def forward(ctx, *arrays, dim=0):
        ctx.dim = dim
        ctx.ends = np.cumsum([a.shape[dim] for a in arrays])
        return np.concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        # each input gets back the slab of the gradient it filled
        return tuple(np.split(grad, ctx.ends[:-1], axis=ctx.dim))


class Stack(Function):
    @staticmethod
    def forward(ctx, *arrays, dim=0):
        ctx.dim = dim
        return np.stack(arrays, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        return tuple(np.moveaxis(grad, ctx.dim, 0))


class Pad(Function):
    """Constant padding. ``widths`` holds one (before, after) pair per dim; a negative width
    crops instead of padding, so forward = crop then pad and backward = un-pad then un-crop."""

    @staticmethod
    def forward(ctx, a, widths=None, value=0.0):
        crop = tuple(slice(-lo if lo < 0 else 0, n + hi if hi < 0 else n)
                     for n, (lo, hi) in zip(a.shape, widths))
        grow = [(lo if lo > 0 else 0, hi if hi > 0 else 0) for lo, hi in widths]
        cropped = a[crop]
        ctx.shape, ctx.crop, ctx.cropped_shape = a.shape, crop, cropped.shape
        ctx.kept = tuple(slice(lo, lo + n) for (lo, _), n in zip(grow, cropped.shape))
        return np.pad(cropped, grow, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, grad):
        out = np.zeros(ctx.shape, dtype=grad.dtype)
        out[ctx.crop] = grad[ctx.kept]  # padded cells came from `value`, cropped ones from nowhere
        return out


# ---- public functions ------------------------------------------------------------------------


def _check_tensor(fn: str, name: str, a) -> None:
    if not isinstance(a, Tensor):
        fail(fn, f"{name} must be a Tensor, got {type(a).__name__}", TypeError)


def _int_tuple(fn: str, name: str, values) -> tuple:
    if not isinstance(values, (tuple, list)):
        fail(fn, f"{name} must be a tuple of ints, got {type(values).__name__} {values!r}",
             TypeError)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            fail(fn, f"{name} must contain only ints, got {type(v).__name__} {v!r} in "
                 f"{tuple(values)}", TypeError)
    return tuple(int(v) for v in values)


def reshape(a: Tensor, shape) -> Tensor:
    """The same values in a new shape (one entry may be -1, inferred from the others)."""
    _check_tensor("reshape", "input", a)
    shape = _int_tuple("reshape", "shape", shape)
    known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
    if -1 in shape:  # the -1 is inferred, which needs a non-zero product of the others
        fits = known > 0 and a.size % known == 0
    else:
        fits = known == a.size
    if not fits or shape.count(-1) > 1 or any(s < -1 for s in shape):
        fail("reshape", f"cannot reshape a tensor of shape {a.shape} ({a.size} elements) "
             f"into shape {shape}")
    return Reshape.apply(a, shape=shape)


view = reshape


def permute(a: Tensor, dims) -> Tensor:
    """Reorder dimensions: output dim i is input dim ``dims[i]``."""
    _check_tensor("permute", "input", a)
    dims = _int_tuple("permute", "dims", dims)
    normal = tuple(normalize_dim("permute", d, a.ndim) for d in dims)
    if sorted(normal) != list(range(a.ndim)):
        fail("permute", f"dims must be a permutation of 0..{a.ndim - 1}, got {dims}")
    return Permute.apply(a, dims=normal)


def transpose(a: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dimensions."""
    _check_tensor("transpose", "input", a)
    if a.ndim == 0:  # torch allows transpose(0, 0) and the like on a scalar: nothing moves
        normalize_dim("transpose", dim0, 0, "dim0")
        normalize_dim("transpose", dim1, 0, "dim1")
        return Permute.apply(a, dims=())
    d0 = normalize_dim("transpose", dim0, a.ndim, "dim0")
    d1 = normalize_dim("transpose", dim1, a.ndim, "dim1")
    dims = list(range(a.ndim))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return Permute.apply(a, dims=tuple(dims))


def expand(a: Tensor, shape) -> Tensor:
    """``a`` repeated (without copying) along its size-1 dims to ``shape``, which may also add
    leading dims. -1 keeps a dim's size. E.g. (3, 1) -> expand((2, 3, 4)) -> (2, 3, 4)."""
    _check_tensor("expand", "input", a)
    shape = _int_tuple("expand", "shape", shape)
    lead = len(shape) - a.ndim
    if lead < 0:
        fail("expand", f"the target shape {shape} has fewer dimensions than the input shape "
             f"{a.shape}")
    target = []
    for i, size in enumerate(shape):
        have = a.shape[i - lead] if i >= lead else None
        if size == -1 and have is not None:
            size = have
        if size < 0:
            fail("expand", f"target size {size} in dimension {i} of shape {shape} is invalid: "
                 "-1 is only allowed for an existing dimension, other sizes must be >= 0")
        if have is not None and have != size and have != 1:
            fail("expand", f"cannot expand input shape {a.shape} to {shape}: dimension {i} "
                 f"has size {have}, which is not 1 and not {size}")
        target.append(size)
    return Expand.apply(a, shape=tuple(target))


def broadcast_to(a: Tensor, shape) -> Tensor:
    """``a`` broadcast to ``shape`` (same as :func:`expand`)."""
    _check_tensor("broadcast_to", "input", a)
    return expand(a, shape)


def squeeze(a: Tensor, dim=None) -> Tensor:
    """Remove size-1 dims: all of them (dim=None) or those listed in ``dim`` (an int or a
    tuple); a listed dim whose size is not 1 is left alone, as in torch."""
    _check_tensor("squeeze", "input", a)
    dims = normalize_dims("squeeze", dim, a.ndim)
    drop = set(range(a.ndim)) if dims is None else set(dims)
    shape = tuple(n for i, n in enumerate(a.shape) if not (i in drop and n == 1))
    return Reshape.apply(a, shape=shape)


def unsqueeze(a: Tensor, dim: int) -> Tensor:
    """Insert a size-1 dim at position ``dim`` (in -(ndim+1)..ndim)."""
    _check_tensor("unsqueeze", "input", a)
    d = normalize_dim("unsqueeze", dim, a.ndim + 1)
    return Reshape.apply(a, shape=a.shape[:d] + (1,) + a.shape[d:])


def flatten(a: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims ``start_dim..end_dim`` (inclusive) into one; a 0-d input becomes (1,)."""
    _check_tensor("flatten", "input", a)
    start = normalize_dim("flatten", start_dim, a.ndim, "start_dim")
    end = normalize_dim("flatten", end_dim, a.ndim, "end_dim")
    if start > end:
        fail("flatten", f"start_dim={start_dim} must not come after end_dim={end_dim} "
             f"for a tensor with {a.ndim} dimensions")
    if a.ndim == 0:
        return Reshape.apply(a, shape=(1,))
    merged = int(np.prod(a.shape[start:end + 1], dtype=np.int64))
    return Reshape.apply(a, shape=a.shape[:start] + (merged,) + a.shape[end + 1:])


def _check_sequence(fn: str, tensors) -> list:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        fail(fn, f"tensors must be a list or tuple of Tensors, got {type(tensors).__name__}",
             TypeError)
    if len(tensors) == 0:
        fail(fn, "tensors must not be empty")
    for i, t in enumerate(tensors):
        _check_tensor(fn, f"tensors[{i}]", t)
        if t.dtype != tensors[0].dtype:
            fail(fn, f"all tensors must have the same dtype: tensors[0] is {tensors[0].dtype}, "
                 f"tensors[{i}] is {t.dtype}", TypeError)
    return list(tensors)


def cat(tensors, dim: int = 0) -> Tensor:
    """Join tensors along an existing dim; all other dims must match."""
    tensors = _check_sequence("cat", tensors)
    first = tensors[0]
    if first.ndim == 0:
        fail("cat", "zero-dimensional tensors cannot be concatenated (use stack)")
    d = normalize_dim("cat", dim, first.ndim)
    for i, t in enumerate(tensors):
        if t.ndim != first.ndim or t.shape[:d] + t.shape[d + 1:] != (
                first.shape[:d] + first.shape[d + 1:]):
            fail("cat", f"tensors[{i}] has shape {t.shape} but tensors[0] has shape "
                 f"{first.shape}: they must match in every dimension except dim {d}")
    return Cat.apply(*tensors, dim=d)


def stack(tensors, dim: int = 0) -> Tensor:
    """Join same-shaped tensors along a new dim inserted at ``dim``."""
    tensors = _check_sequence("stack", tensors)
    first = tensors[0]
    d = normalize_dim("stack", dim, first.ndim + 1)
    for i, t in enumerate(tensors):
        if t.shape != first.shape:
            fail("stack", f"all tensors must have the same shape: tensors[0] has shape "
                 f"{first.shape}, tensors[{i}] has shape {t.shape}")
    return Stack.apply(*tensors, dim=d)


def pad(a: Tensor, pad, value: float = 0.0) -> Tensor:
    """Constant padding as ``torch.nn.functional.pad``: ``pad`` lists (left, right) pairs
    starting from the LAST dim, e.g. (1, 1, 2, 0) pads the last dim by 1 on each side and the
    one before by 2 in front. Negative widths crop."""
    _check_tensor("pad", "input", a)
    pad = _int_tuple("pad", "pad", pad)
    if len(pad) % 2:
        fail("pad", f"pad must have an even length ((left, right) pairs), got {len(pad)}: {pad}")
    if len(pad) // 2 > a.ndim:
        fail("pad", f"pad {pad} has {len(pad) // 2} (left, right) pairs but the input has only "
             f"{a.ndim} dimensions (shape {a.shape})")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail("pad", f"value must be a number, got {type(value).__name__} {value!r}", TypeError)
    if a.dtype.kind in "iub" and value != int(value):
        fail("pad", f"value {value!r} is not representable in an integer tensor of dtype "
             f"{a.dtype}", TypeError)
    widths = [(0, 0)] * a.ndim
    for k in range(len(pad) // 2):
        widths[a.ndim - 1 - k] = (pad[2 * k], pad[2 * k + 1])
    for d, ((lo, hi), n) in enumerate(zip(widths, a.shape)):
        if n + lo + hi < 0:
            fail("pad", f"pad {pad} would give dimension {d} (size {n}) a negative size "
                 f"{n + lo + hi}")
        if (lo < 0 and -lo > n) or (hi < 0 and -hi > n):
            fail("pad", f"pad {pad} crops more than the {n} elements of dimension {d}")
    return Pad.apply(a, widths=widths, value=value)
