"""Basic layers: Linear, Embedding, LayerNorm, Dropout, Identity, Flatten and activations.

Constructor arguments and default initialisations follow PyTorch, so a model written for one
runs the same way in the other. Each layer's ``forward`` checks its input and then calls the
matching function of :mod:`tinydyn.nn.functional`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from tinydyn._checks import check_float, check_int, fail, normalize_dim
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import Tensor
from tinydyn.nn import functional as F
from tinydyn.nn import init
from tinydyn.nn.module import Module, Parameter

__all__ = [
    "Dropout", "Embedding", "Flatten", "GELU", "Identity", "LayerNorm", "Linear", "ReLU",
    "Sigmoid", "Tanh",
]


def _check_dtype(fn: str, dtype) -> np.dtype:
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        fail(fn, f"dtype must be a NumPy floating dtype, got {dtype!r}", TypeError)
    if dtype.kind != "f":
        fail(fn, f"dtype must be floating point, got {dtype}", TypeError)
    return dtype


def _check_tensor_input(fn: str, x) -> None:
    if not isinstance(x, Tensor):
        fail(fn, f"input must be a Tensor, got {type(x).__name__}", TypeError)


class Linear(Module):
    """y = x @ weight.T + bias: (..., in_features) -> (..., out_features).

    weight (out_features, in_features) and bias (out_features,) start as U(-k, k) with
    k = 1 / sqrt(in_features), PyTorch's default (``kaiming_uniform_`` with ``a=sqrt(5)``).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, rng=None,
                 dtype=np.float32):
        super().__init__()
        self.in_features = check_int("Linear", "in_features", in_features, min_value=1)
        self.out_features = check_int("Linear", "out_features", out_features, min_value=1)
        if not isinstance(bias, bool):
            fail("Linear", f"bias must be a bool, got {type(bias).__name__} {bias!r}", TypeError)
        dtype = _check_dtype("Linear", dtype)
        rng = get_rng(rng, "Linear")
        bound = 1.0 / math.sqrt(self.in_features)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dtype))
        init.uniform_(self.weight, -bound, bound, rng=rng)
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype=dtype))
            init.uniform_(self.bias, -bound, bound, rng=rng)
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        _check_tensor_input("Linear", x)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            fail("Linear", f"expected input with last dimension {self.in_features}, got shape "
                 f"{x.shape}")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Embedding(Module):
    """A lookup table: integer indices of any shape -> (*indices.shape, embedding_dim).

    weight (num_embeddings, embedding_dim) starts as N(0, 1). The row ``padding_idx`` (if
    given) starts at zero and never receives a gradient, so padding tokens embed to zeros.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 rng=None, dtype=np.float32):
        super().__init__()
        self.num_embeddings = check_int("Embedding", "num_embeddings", num_embeddings,
                                        min_value=1)
        self.embedding_dim = check_int("Embedding", "embedding_dim", embedding_dim, min_value=1)
        if padding_idx is not None:
            padding_idx = check_int("Embedding", "padding_idx", padding_idx)
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                fail("Embedding", f"padding_idx must be in [{-self.num_embeddings}, "
                     f"{self.num_embeddings}) for num_embeddings={self.num_embeddings}, "
                     f"got {padding_idx}")
            padding_idx %= self.num_embeddings
        self.padding_idx = padding_idx
        dtype = _check_dtype("Embedding", dtype)
        self.weight = Parameter(np.empty((self.num_embeddings, self.embedding_dim), dtype=dtype))
        init.normal_(self.weight, 0.0, 1.0, rng=get_rng(rng, "Embedding"))
        if padding_idx is not None:
            self.weight.data[padding_idx] = 0

    def forward(self, indices) -> Tensor:
        return F.embedding(indices, self.weight, padding_idx=self.padding_idx)

    def extra_repr(self) -> str:
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class LayerNorm(Module):
    """Normalise over the trailing dims ``normalized_shape`` to mean 0 and variance 1, then
    scale by ``weight`` (ones) and shift by ``bias`` (zeros) if ``elementwise_affine``."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 dtype=np.float32):
        super().__init__()
        if isinstance(normalized_shape, numbers.Integral) and not isinstance(normalized_shape,
                                                                             bool):
            normalized_shape = (normalized_shape,)
        if not isinstance(normalized_shape, (tuple, list)) or not normalized_shape:
            fail("LayerNorm", f"normalized_shape must be an int or a non-empty tuple of ints, "
                 f"got {normalized_shape!r}", TypeError)
        self.normalized_shape = tuple(
            check_int("LayerNorm", "normalized_shape", n, min_value=1) for n in normalized_shape)
        self.eps = check_float("LayerNorm", "eps", eps, low=0.0, low_open=True)
        if not isinstance(elementwise_affine, bool):
            fail("LayerNorm", f"elementwise_affine must be a bool, got "
                 f"{type(elementwise_affine).__name__}", TypeError)
        self.elementwise_affine = elementwise_affine
        dtype = _check_dtype("LayerNorm", dtype)
        if elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype))
            self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        _check_tensor_input("LayerNorm", x)
        k = len(self.normalized_shape)
        if x.ndim < k or tuple(x.shape[x.ndim - k:]) != self.normalized_shape:
            fail("LayerNorm", f"expected input with trailing shape {self.normalized_shape}, got "
                 f"shape {x.shape}")
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class Dropout(Module):
    """Zero each entry with probability ``p`` (scaling the rest by 1/(1-p)) in training mode;
    the identity after ``eval()``. Masks come from ``rng`` (default: the generator reset by
    ``tinydyn.manual_seed``, looked up at each call)."""

    def __init__(self, p: float = 0.5, rng=None):
        super().__init__()
        self.p = check_float("Dropout", "p", p, low=0.0, high=1.0)
        if rng is not None:
            get_rng(rng, "Dropout")  # type check only
        self.rng = rng

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training, rng=self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. for a layer switched off)."""

    def forward(self, x):
        return x


class Flatten(Module):
    """Merge dims ``start_dim`` .. ``end_dim`` into one: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = check_int("Flatten", "start_dim", start_dim)
        self.end_dim = check_int("Flatten", "end_dim", end_dim)

    def forward(self, x: Tensor) -> Tensor:
        _check_tensor_input("Flatten", x)
        start = normalize_dim("Flatten", self.start_dim, x.ndim, "start_dim")
        end = normalize_dim("Flatten", self.end_dim, x.ndim, "end_dim")
        if x.ndim == 0:
            return F.reshape(x, (1,))
        if start > end:
            fail("Flatten", f"start_dim ({self.start_dim}) must not come after end_dim "
                 f"({self.end_dim}) for an input of shape {x.shape}")
        merged = int(np.prod(x.shape[start:end + 1]))
        return F.reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1:])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


class GELU(Module):
    """GELU ``x * Phi(x)``, as ``torch.nn.GELU``: exact (erf) by default, or the tanh
    approximation with ``approximate='tanh'``."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            fail("GELU", f"approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.tanh(x)


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return F.sigmoid(x)
