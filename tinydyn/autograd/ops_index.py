"""Indexing ops that read by index: getitem, gather/take_along_dim, embedding.

They all read or write values at positions given by an index, so every backward is the mirror
move: what a forward *reads* at an index, its backward *adds* back at that index. The one
subtlety is a repeated index. Reading row 3 twice is fine, but the two gradients must then
both land in row 3; ``grad[index] += g`` would keep only one, so the backwards use
``np.add.at`` or the scatter-add kernel, which accumulate.

Indices are integer arrays (given as a Tensor, ndarray or list); floats are refused rather
than truncated. Out-of-range indices raise :class:`IndexOutOfRangeError`, which is both a
``ValueError`` and an ``IndexError`` (Python's ``for row in tensor`` stops on the latter).
"""

from __future__ import annotations

import numbers

import numpy as np

from tinydyn._checks import check_int_dtype, fail, normalize_dim
from tinydyn.autograd.function import Function
from tinydyn.autograd.tensor import Tensor
from tinydyn.kernels.scatter import scatter_add_rows

__all__ = [
    "IndexOutOfRangeError", "embedding", "gather", "getitem", "index_add", "masked_fill",
    "scatter_add", "take_along_dim",
]  # index_add, masked_fill and scatter_add live in ops_scatter (imported at the end)


class IndexOutOfRangeError(IndexError, ValueError):
    """An index value outside the valid range of the dimension it indexes."""


# ---- shared helpers -------------------------------------------------------------------------


def _index_array(fn: str, name: str, index) -> np.ndarray:
    """A Tensor, ndarray, list or Python int as an integer ndarray (TypeError otherwise)."""
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, (list, tuple)):
        index = np.asarray(index)
        if index.size == 0:  # np.asarray([]) is float64, but an empty index has no dtype to lose
            index = index.astype(np.int64)
    elif isinstance(index, numbers.Integral) and not isinstance(index, bool):
        index = np.asarray(index)
    elif not isinstance(index, np.ndarray):
        fail(fn, f"{name} must be a Tensor, ndarray or list of ints, got "
             f"{type(index).__name__}", TypeError)
    check_int_dtype(fn, name, index)
    return index


def _check_range(fn: str, name: str, index: np.ndarray, size: int, where: str,
                 allow_negative: bool = False) -> None:
    """Every value of ``index`` must address one of ``size`` positions."""
    if index.size == 0:
        return
    low_bound = -size if allow_negative else 0
    low, high = index.min(), index.max()
    if low < low_bound or high >= size:
        bad = low if low < low_bound else high
        fail(fn, f"{name} value {bad} is out of range for {where}: expected "
             f"{low_bound} <= {name} < {size}", IndexOutOfRangeError)


def _check_tensor(fn: str, name: str, a) -> None:
    if not isinstance(a, Tensor):
        fail(fn, f"{name} must be a Tensor, got {type(a).__name__}", TypeError)


def _coordinates(index: np.ndarray, dim: int) -> tuple:
    """The full coordinates addressed by ``index`` along ``dim``: entry ``k`` of the tuple is
    ``index`` for ``k == dim`` and the position along axis ``k`` otherwise (broadcastable)."""
    coords = list(np.indices(index.shape, sparse=True))
    coords[dim] = index
    return tuple(coords)


def _crop(shape: tuple) -> tuple:
    """Slices selecting the leading ``shape[k]`` entries of every axis."""
    return tuple(slice(0, n) for n in shape)


def _scatter_rows_into(shape: tuple, dtype, index: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """zeros(shape) with ``rows[i]`` added at ``index[i]`` along axis 0 (via the kernel)."""
    out = np.zeros(shape, dtype=dtype)
    width = int(np.prod(shape[1:]))
    flat = out.reshape(shape[0], width)  # a view: the kernel writes through it into out
    scatter_add_rows(flat, index.reshape(-1),
                     np.ascontiguousarray(rows, dtype=dtype).reshape(index.size, width))
    return out


# ---- getitem --------------------------------------------------------------------------------


class GetItem(Function):
    @staticmethod
    def forward(ctx, a, index=None, rows=False):
        ctx.shape, ctx.dtype, ctx.index, ctx.rows = a.shape, a.dtype, index, rows
        return a[index]

    @staticmethod
    def backward(ctx, grad):
        if ctx.rows:  # the common embedding-like case a[int_array] gets the fast kernel
            return _scatter_rows_into(ctx.shape, ctx.dtype, ctx.index[0], grad)
        out = np.zeros(ctx.shape, dtype=ctx.dtype)
        if any(isinstance(i, np.ndarray) and i.dtype.kind in "iu" for i in ctx.index):
            np.add.at(out, ctx.index, grad)  # integer arrays may repeat a position
        else:
            out[ctx.index] = grad  # slices, ints and masks never select a position twice
        return out


def _index_entry(entry):
    """One entry of an index tuple, in the form NumPy indexes with."""
    if entry.__class__ is int or entry is None or entry is Ellipsis:
        return entry
    if isinstance(entry, slice):
        for part in (entry.start, entry.stop, entry.step):
            if part is not None and (isinstance(part, bool)
                                     or not isinstance(part, numbers.Integral)):
                fail("getitem", f"slice start, stop and step must be ints or None, got "
                     f"{type(part).__name__} {part!r}", TypeError)
        if entry.step == 0:
            fail("getitem", "slice step must not be zero")
        return entry
    if isinstance(entry, bool):
        fail("getitem", "a bool is not an index (use a boolean mask tensor)", TypeError)
    if isinstance(entry, numbers.Integral):
        return int(entry)
    if isinstance(entry, (Tensor, np.ndarray, list)):
        array = entry.data if isinstance(entry, Tensor) else np.asarray(entry)
        if isinstance(entry, list) and array.size == 0:
            array = array.astype(np.int64)
        if array.dtype.kind not in "iub":
            fail("getitem", f"index arrays must be integer or boolean, got dtype {array.dtype}",
                 TypeError)
        return array
    fail("getitem", f"index entries must be int, slice, None, Ellipsis, or an integer or "
         f"boolean Tensor/ndarray/list, got {type(entry).__name__} {entry!r}", TypeError)


def _is_mask(entry) -> bool:
    return entry.__class__ is np.ndarray and entry.dtype == bool


def _normalize_index(shape: tuple, index) -> tuple:
    """Validate ``index`` against ``shape``; return it as a tuple NumPy can use directly."""
    entries = tuple(map(_index_entry, index if isinstance(index, tuple) else (index,)))
    # dimensions of the tensor each entry consumes: None and ... none, a mask its ndim
    widths = [0 if e is None or e is Ellipsis else e.ndim if _is_mask(e) else 1
              for e in entries]
    used = sum(widths)
    if used > len(shape):
        fail("getitem", f"too many indices for a tensor of shape {shape}: {used} dimensions "
             f"indexed", IndexOutOfRangeError)
    dim, seen_ellipsis = 0, False
    for e, width in zip(entries, widths):
        if e is Ellipsis:
            if seen_ellipsis:
                fail("getitem", "an index can only have a single ellipsis ('...')")
            seen_ellipsis = True
            dim += len(shape) - used
        elif e.__class__ is int:
            if not -shape[dim] <= e < shape[dim]:
                _check_range("getitem", "index", np.asarray(e), shape[dim],
                             f"dimension {dim} of size {shape[dim]}", allow_negative=True)
        elif _is_mask(e):
            if e.shape != shape[dim:dim + width]:
                fail("getitem", f"boolean mask of shape {e.shape} does not match the indexed "
                     f"dimensions {dim}..{dim + width - 1} of shape {shape[dim:dim + width]}")
        elif e.__class__ is np.ndarray:
            _check_range("getitem", "index", e, shape[dim],
                         f"dimension {dim} of size {shape[dim]}", allow_negative=True)
        dim += width
    return entries


def getitem(a: Tensor, index) -> Tensor:
    """``a[index]`` with NumPy semantics: ints, slices (any step), None, Ellipsis, and
    integer-array or boolean-mask advanced indexing (arrays as Tensor, ndarray or list)."""
    _check_tensor("getitem", "a", a)
    entries = _normalize_index(a.shape, index)
    rows = False
    first = entries[0] if entries else None
    if (a.ndim >= 1 and isinstance(first, np.ndarray) and first.dtype.kind in "iu"
            and first.ndim == 1
            and all(e is Ellipsis or (isinstance(e, slice) and e == slice(None))
                    for e in entries[1:])):
        # a[int_array] or a[int_array, :]: a row gather whose backward is the scatter kernel
        entries = (np.where(first < 0, first + a.shape[0], first).astype(np.int64),)
        rows = True
    return GetItem.apply(a, index=entries, rows=rows)


# ---- gather / take_along_dim ----------------------------------------------------------------


class Gather(Function):
    """``out = take_along_axis(crop(broadcast_to(a, shape)), index, dim)``: ``a`` is broadcast
    to ``shape`` (for take_along_dim) and cropped to the extent of ``index`` (for gather)."""

    @staticmethod
    def forward(ctx, a, index=None, dim=0, shape=None):
        ctx.index, ctx.dim, ctx.shape, ctx.dtype = index, dim, shape, a.dtype
        crop = _crop(index.shape[:dim] + (shape[dim],) + index.shape[dim + 1:])
        source = np.broadcast_to(a, shape)[crop]
        return np.take_along_axis(source, index, axis=dim)

    @staticmethod
    def backward(ctx, grad):
        # returned in the broadcast shape; the engine sums it back down to a's shape
        out = np.zeros(ctx.shape, dtype=ctx.dtype)
        np.add.at(out, _coordinates(ctx.index, ctx.dim), grad)
        return out


def _check_along_dim(fn: str, a: Tensor, index: np.ndarray, dim: int, name: str) -> None:
    if a.ndim == 0:
        fail(fn, "the input must have at least one dimension, got a 0-d tensor")
    if index.ndim != a.ndim:
        fail(fn, f"{name} must have as many dimensions as the input ({a.ndim}), got shape "
             f"{index.shape}")
    _check_range(fn, name, index, a.shape[dim], f"dimension {dim} of size {a.shape[dim]}")


def gather(a: Tensor, dim: int, index) -> Tensor:
    """``out[i][j][k] = a[index[i][j][k]][j][k]`` (for dim=0); out has index's shape, and
    ``index.shape[k] <= a.shape[k]`` for every ``k != dim`` (torch.gather semantics)."""
    _check_tensor("gather", "a", a)
    index = _index_array("gather", "index", index)
    dim = normalize_dim("gather", dim, a.ndim)
    _check_along_dim("gather", a, index, dim, "index")
    for k in range(a.ndim):
        if k != dim and index.shape[k] > a.shape[k]:
            fail("gather", f"index shape {index.shape} is larger than input shape {a.shape} "
                 f"in dimension {k}: {index.shape[k]} > {a.shape[k]}")
    return Gather.apply(a, index=index, dim=dim, shape=a.shape)


def take_along_dim(a: Tensor, indices, dim: int | None = None) -> Tensor:
    """Values of ``a`` at ``indices`` along ``dim``; ``a`` and ``indices`` broadcast against
    each other in every other dimension (torch.take_along_dim). ``dim=None``: flattened."""
    _check_tensor("take_along_dim", "a", a)
    indices = _index_array("take_along_dim", "indices", indices)
    if dim is None:
        return take_along_dim(a.reshape(-1), indices.reshape(-1), 0)
    dim = normalize_dim("take_along_dim", dim, a.ndim)
    _check_along_dim("take_along_dim", a, indices, dim, "indices")
    a_rest = a.shape[:dim] + (1,) + a.shape[dim + 1:]
    i_rest = indices.shape[:dim] + (1,) + indices.shape[dim + 1:]
    try:
        rest = np.broadcast_shapes(a_rest, i_rest)
    except ValueError:
        fail("take_along_dim", f"input shape {a.shape} and indices shape {indices.shape} do "
             f"not broadcast outside dimension {dim}")
    shape = rest[:dim] + (a.shape[dim],) + rest[dim + 1:]
    indices = np.broadcast_to(indices, rest[:dim] + (indices.shape[dim],) + rest[dim + 1:])
    return Gather.apply(a, index=indices, dim=dim, shape=shape)


# ---- embedding ------------------------------------------------------------------------------


class Embedding(Function):
    @staticmethod
    def forward(ctx, weight, indices=None, padding_idx=None):
        ctx.indices, ctx.padding_idx, ctx.shape = indices, padding_idx, weight.shape
        return weight[indices]

    @staticmethod
    def backward(ctx, grad):
        grad_weight = _scatter_rows_into(ctx.shape, grad.dtype, ctx.indices, grad)
        if ctx.padding_idx is not None:
            grad_weight[ctx.padding_idx] = 0  # the padding row stays fixed (usually zeros)
        return grad_weight


def _is_int_array(value) -> bool:
    data = value.data if isinstance(value, Tensor) else value
    if isinstance(data, list):
        data = np.asarray(data)
    return isinstance(data, np.ndarray) and data.dtype.kind in "iu"


def embedding(input, weight: Tensor, padding_idx: int | None = None) -> Tensor:  # noqa: A002
    """Rows of ``weight`` (V, D) at the integer indices ``input`` (any shape)
    -> (*input.shape, D), as ``torch.nn.functional.embedding(input, weight)``.
    The row ``padding_idx`` (if given) receives no gradient."""
    fn = "embedding"
    if (isinstance(input, Tensor) and input.dtype.kind == "f" and _is_int_array(weight)):
        # the order this function had before it followed PyTorch: refuse it rather than guess
        fail(fn, "the arguments are (input, weight) as in torch.nn.functional.embedding: "
             "integer indices first, then the float table; got a float tensor of shape "
             f"{input.shape} first and integer indices second (swap them)", TypeError)
    _check_tensor(fn, "weight", weight)
    if weight.ndim != 2:
        fail(fn, f"weight must be 2-D (num_embeddings, embedding_dim), got shape "
             f"{weight.shape}")
    indices = _index_array(fn, "input", input)
    rows = weight.shape[0]
    _check_range(fn, "input", indices, rows, f"a weight with {rows} rows")
    if padding_idx is not None:
        if isinstance(padding_idx, bool) or not isinstance(padding_idx, numbers.Integral):
            fail(fn, f"padding_idx must be an int or None, got "
                 f"{type(padding_idx).__name__} {padding_idx!r}", TypeError)
        if not -rows <= padding_idx < rows:
            fail(fn, f"padding_idx={padding_idx} is out of range for a weight with "
                 f"{rows} rows: expected {-rows} <= padding_idx < {rows}")
        padding_idx = int(padding_idx) % rows
    return Embedding.apply(weight, indices=indices.astype(np.int64, copy=False),
                           padding_idx=padding_idx)


# The ops that write by index use the helpers above, so they are imported after them; they are
# re-exported here, where they were first (``from tinydyn.autograd.ops_index import index_add``).
from tinydyn.autograd.ops_scatter import index_add, masked_fill, scatter_add  # noqa: E402
