"""Weight initialisation, in place, with PyTorch's names and formulas.

Every function fills ``tensor.data`` (keeping its dtype), returns the tensor, and draws from
``rng`` (a ``numpy.random.Generator``; default: the generator reset by ``tinydyn.manual_seed``).
Values are drawn in float64 and then cast, so float32 and float64 tensors filled from the same
seed agree to float32 precision.

Fan-in and fan-out of a weight of shape ``(out, in, *kernel)``: ``fan_in = in * prod(kernel)``,
``fan_out = out * prod(kernel)``.
"""

from __future__ import annotations

import math

import numpy as np

from tinydyn._checks import check_float, fail
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import Tensor

__all__ = [
    "calculate_gain", "constant_", "kaiming_normal_", "kaiming_uniform_", "normal_", "ones_",
    "uniform_", "xavier_normal_", "xavier_uniform_", "zeros_",
]


def _check_tensor(fn: str, tensor) -> None:
    if not isinstance(tensor, Tensor):
        fail(fn, f"tensor must be a Tensor, got {type(tensor).__name__}", TypeError)
    if tensor.data.dtype.kind != "f":
        fail(fn, f"tensor must be floating point, got dtype {tensor.data.dtype}", TypeError)


def _fill(tensor: Tensor, values) -> Tensor:
    # Writing into the existing array keeps the dtype and any views or references to it.
    tensor.data[...] = values
    return tensor


def _fans(fn: str, tensor: Tensor) -> tuple[int, int]:
    if tensor.ndim < 2:
        fail(fn, f"fan-in and fan-out need a tensor with at least 2 dimensions, got shape "
             f"{tensor.shape}")
    if tensor.size == 0:
        fail(fn, f"fan-in and fan-out are undefined for an empty tensor of shape {tensor.shape}")
    receptive = int(np.prod(tensor.shape[2:]))
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The factor that keeps activations' variance stable through ``nonlinearity``."""
    if not isinstance(nonlinearity, str):
        fail("calculate_gain", f"nonlinearity must be a str, got {type(nonlinearity).__name__}",
             TypeError)
    if nonlinearity in ("linear", "identity", "sigmoid") or nonlinearity.startswith("conv"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else check_float("calculate_gain", "param", param)
        return math.sqrt(2.0 / (1.0 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4.0
    fail("calculate_gain", f"unsupported nonlinearity {nonlinearity!r}; expected one of linear, "
         "identity, conv*, sigmoid, tanh, relu, leaky_relu, selu")


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, rng=None) -> Tensor:
    """Fill with U(a, b)."""
    _check_tensor("uniform_", tensor)
    a = check_float("uniform_", "a", a)
    b = check_float("uniform_", "b", b)
    if a > b:
        fail("uniform_", f"a must be <= b, got a={a}, b={b}")
    return _fill(tensor, get_rng(rng, "uniform_").uniform(a, b, tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, rng=None) -> Tensor:
    """Fill with N(mean, std^2)."""
    _check_tensor("normal_", tensor)
    mean = check_float("normal_", "mean", mean)
    std = check_float("normal_", "std", std, low=0.0)
    return _fill(tensor, get_rng(rng, "normal_").normal(mean, std, tensor.shape))


def constant_(tensor: Tensor, value: float) -> Tensor:
    _check_tensor("constant_", tensor)
    return _fill(tensor, check_float("constant_", "value", value))


def zeros_(tensor: Tensor) -> Tensor:
    _check_tensor("zeros_", tensor)
    return _fill(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    _check_tensor("ones_", tensor)
    return _fill(tensor, 1.0)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, rng=None) -> Tensor:
    """Glorot: U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))."""
    _check_tensor("xavier_uniform_", tensor)
    fan_in, fan_out = _fans("xavier_uniform_", tensor)
    gain = check_float("xavier_uniform_", "gain", gain, low=0.0)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _fill(tensor, get_rng(rng, "xavier_uniform_").uniform(-bound, bound, tensor.shape))


def xavier_normal_(tensor: Tensor, gain: float = 1.0, rng=None) -> Tensor:
    """Glorot: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    _check_tensor("xavier_normal_", tensor)
    fan_in, fan_out = _fans("xavier_normal_", tensor)
    gain = check_float("xavier_normal_", "gain", gain, low=0.0)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return _fill(tensor, get_rng(rng, "xavier_normal_").normal(0.0, std, tensor.shape))


def _kaiming_std(fn: str, tensor, a, mode, nonlinearity) -> float:
    _check_tensor(fn, tensor)
    if mode not in ("fan_in", "fan_out"):
        fail(fn, f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _fans(fn, tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", rng=None) -> Tensor:
    """He: U(-b, b) with b = sqrt(3) * gain / sqrt(fan). (``a=sqrt(5)`` gives PyTorch's Linear
    default, b = 1 / sqrt(fan_in).)"""
    bound = math.sqrt(3.0) * _kaiming_std("kaiming_uniform_", tensor, a, mode, nonlinearity)
    return _fill(tensor, get_rng(rng, "kaiming_uniform_").uniform(-bound, bound, tensor.shape))


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", rng=None) -> Tensor:
    """He: N(0, std^2) with std = gain / sqrt(fan)."""
    std = _kaiming_std("kaiming_normal_", tensor, a, mode, nonlinearity)
    return _fill(tensor, get_rng(rng, "kaiming_normal_").normal(0.0, std, tensor.shape))
