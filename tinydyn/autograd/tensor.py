"""The Tensor: a NumPy array plus what autograd needs to differentiate through it.

Every method below is a thin delegate to a function in one of the ``ops_*`` modules, where the
op's forward and backward sit side by side; this file holds no calculus.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import fail
from tinydyn.autograd import function as _fn

DEFAULT_FLOAT = np.float32


def _as_array(data, dtype, fn: str) -> np.ndarray:
    """Convert user data to an array with PyTorch's defaults: Python floats -> float32."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.array(data, dtype=np.dtype(dtype))
    if isinstance(data, np.ndarray) or isinstance(data, np.generic):
        return np.array(data)
    try:
        array = np.array(data)
    except ValueError as err:  # ragged nested lists
        fail(fn, f"data must be rectangular (all rows the same length): {err}")
    if array.dtype == np.float64:
        array = array.astype(DEFAULT_FLOAT)
    if array.dtype == object:
        fail(fn, f"data must be numbers, got elements of type {type(array.flat[0]).__name__}",
             TypeError)
    return array


class Tensor:
    """An n-dimensional array that records the ops applied to it for reverse-mode autograd.

    Attributes:
        data: the ``numpy.ndarray`` holding the values.
        grad: a ``Tensor`` of the same shape after ``backward()``, else ``None``.
        requires_grad: whether ``backward()`` should compute ``grad`` for this tensor.
    """

    __slots__ = ("data", "grad", "requires_grad", "_node", "__weakref__")
    __array_ufunc__ = None  # make `ndarray * Tensor` call Tensor.__rmul__, not NumPy's loop

    def __init__(self, data, requires_grad: bool = False, dtype=None, *, _copy: bool = True):
        if _copy or not isinstance(data, np.ndarray):
            data = _as_array(data, dtype, "Tensor")
        self.data = data
        self.grad = None
        self._node = None
        if requires_grad and data.dtype.kind != "f":
            fail("Tensor", f"only floating-point tensors can require grad, got dtype {data.dtype}",
                 TypeError)
        self.requires_grad = bool(requires_grad)

    # ---- properties -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    @property
    def T(self) -> Tensor:
        """All dimensions reversed (the transpose of a matrix)."""
        return _sh.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    def __len__(self) -> int:
        if self.ndim == 0:
            fail("len", "a 0-d tensor has no length", TypeError)
        return self.data.shape[0]

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", prefix="tensor(")
        extra = ""
        if self.data.dtype != DEFAULT_FLOAT:
            extra += f", dtype={self.data.dtype}"
        if self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # ---- conversion -------------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def item(self):
        if self.data.size != 1:
            fail("item", f"only a one-element tensor can be converted, got shape {self.shape}")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def detach(self) -> Tensor:
        """The same values, cut off from the graph (shares memory)."""
        return Tensor(self.data, _copy=False)

    def requires_grad_(self, flag: bool = True) -> Tensor:
        if flag and self.data.dtype.kind != "f":
            fail("requires_grad_", f"only floating-point tensors can require grad, got "
                 f"dtype {self.data.dtype}", TypeError)
        self.requires_grad = bool(flag)
        return self

    def to(self, dtype) -> Tensor:
        """A differentiable cast to ``dtype`` (float <-> float keeps the gradient)."""
        return _ew.cast(self, np.dtype(dtype))

    def float(self) -> Tensor:
        return self.to(np.float32)

    def double(self) -> Tensor:
        return self.to(np.float64)

    def long(self) -> Tensor:
        return self.to(np.int64)

    def bool(self) -> Tensor:
        return self.to(np.bool_)

    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Accumulate the gradient of this tensor into ``.grad`` of every leaf it depends on."""
        _fn.backward(self, grad, retain_graph=retain_graph)

    def zero_grad(self) -> None:
        self.grad = None

    # ---- arithmetic (ops_elementwise) -----------------------------------------------------
    def __add__(self, other): return _ew.add(self, other)
    def __radd__(self, other): return _ew.add(other, self)
    def __sub__(self, other): return _ew.sub(self, other)
    def __rsub__(self, other): return _ew.sub(other, self)
    def __mul__(self, other): return _ew.mul(self, other)
    def __rmul__(self, other): return _ew.mul(other, self)
    def __truediv__(self, other): return _ew.div(self, other)
    def __rtruediv__(self, other): return _ew.div(other, self)
    def __pow__(self, exponent): return _ew.pow(self, exponent)
    def __rpow__(self, base): return _ew.pow(base, self)
    def __neg__(self): return _ew.neg(self)
    def __matmul__(self, other): return _la.matmul(self, other)
    def __rmatmul__(self, other): return _la.matmul(other, self)

    # comparisons give boolean tensors and are not differentiable
    def __lt__(self, other): return Tensor(self.data < _raw(other), _copy=False)
    def __le__(self, other): return Tensor(self.data <= _raw(other), _copy=False)
    def __gt__(self, other): return Tensor(self.data > _raw(other), _copy=False)
    def __ge__(self, other): return Tensor(self.data >= _raw(other), _copy=False)
    def __eq__(self, other): return Tensor(self.data == _raw(other), _copy=False)
    def __ne__(self, other): return Tensor(self.data != _raw(other), _copy=False)
    __hash__ = object.__hash__

    def __bool__(self):
        if self.data.size != 1:
            fail("bool", f"the truth value of a tensor with {self.data.size} elements is "
                 "ambiguous; use .any() or .all()")
        return bool(self.data)

    def any(self) -> bool: return bool(self.data.any())
    def all(self) -> bool: return bool(self.data.all())

    def add(self, other): return _ew.add(self, other)
    def sub(self, other): return _ew.sub(self, other)
    def mul(self, other): return _ew.mul(self, other)
    def div(self, other): return _ew.div(self, other)
    def pow(self, exponent): return _ew.pow(self, exponent)
    def neg(self): return _ew.neg(self)
    def exp(self): return _ew.exp(self)
    def log(self): return _ew.log(self)
    def sqrt(self): return _ew.sqrt(self)
    def abs(self): return _ew.abs(self)
    def tanh(self): return _ew.tanh(self)
    def sigmoid(self): return _ew.sigmoid(self)
    def relu(self): return _ew.relu(self)
    def gelu(self): return _ew.gelu(self)
    def maximum(self, other): return _ew.maximum(self, other)
    def minimum(self, other): return _ew.minimum(self, other)
    def clip(self, min=None, max=None): return _ew.clip(self, min, max)  # noqa: A002
    clamp = clip
    def matmul(self, other): return _la.matmul(self, other)

    # ---- reductions (ops_reduce) -------------------------------------------------------------
    def sum(self, dim=None, keepdim=False): return _red.sum(self, dim, keepdim)
    def mean(self, dim=None, keepdim=False): return _red.mean(self, dim, keepdim)
    def max(self, dim=None, keepdim=False): return _red.max(self, dim, keepdim)
    def min(self, dim=None, keepdim=False): return _red.min(self, dim, keepdim)
    def var(self, dim=None, keepdim=False, correction=1):
        return _red.var(self, dim, keepdim, correction)
    def logsumexp(self, dim, keepdim=False): return _red.logsumexp(self, dim, keepdim)
    def argmax(self, dim=None, keepdim=False): return _red.argmax(self, dim, keepdim)
    def argmin(self, dim=None, keepdim=False): return _red.argmin(self, dim, keepdim)

    # ---- shape (ops_shape) -------------------------------------------------------------------
    def reshape(self, *shape): return _sh.reshape(self, _shape_arg(shape))
    def view(self, *shape): return _sh.reshape(self, _shape_arg(shape))
    def permute(self, *dims): return _sh.permute(self, _shape_arg(dims))
    def transpose(self, dim0, dim1): return _sh.transpose(self, dim0, dim1)
    def expand(self, *shape): return _sh.expand(self, _shape_arg(shape))
    def broadcast_to(self, shape): return _sh.expand(self, tuple(shape))
    def squeeze(self, dim=None): return _sh.squeeze(self, dim)
    def unsqueeze(self, dim): return _sh.unsqueeze(self, dim)
    def flatten(self, start_dim=0, end_dim=-1): return _sh.flatten(self, start_dim, end_dim)

    # ---- indexing (ops_index) ----------------------------------------------------------------
    def __getitem__(self, index): return _ix.getitem(self, index)
    def gather(self, dim, index): return _ix.gather(self, dim, index)
    def take_along_dim(self, indices, dim): return _ix.take_along_dim(self, indices, dim)
    def scatter_add(self, dim, index, src): return _ix.scatter_add(self, dim, index, src)
    def index_add(self, dim, index, source): return _ix.index_add(self, dim, index, source)
    def masked_fill(self, mask, value): return _ix.masked_fill(self, mask, value)

    # ---- neural-network ops (ops_nn) ---------------------------------------------------------
    def softmax(self, dim=-1): return _nn.softmax(self, dim)
    def log_softmax(self, dim=-1): return _nn.log_softmax(self, dim)


def _raw(x):
    return x.data if isinstance(x, Tensor) else x


def _shape_arg(shape):
    """Accept both ``t.reshape(2, 3)`` and ``t.reshape((2, 3))``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


# The op modules import Tensor from here, so they are imported after the class exists.
from tinydyn.autograd import ops_elementwise as _ew  # noqa: E402
from tinydyn.autograd import ops_index as _ix  # noqa: E402
from tinydyn.autograd import ops_linalg as _la  # noqa: E402
from tinydyn.autograd import ops_nn as _nn  # noqa: E402
from tinydyn.autograd import ops_reduce as _red  # noqa: E402
from tinydyn.autograd import ops_shape as _sh  # noqa: E402
