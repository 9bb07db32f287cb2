"""Elementwise ops. Each backward returns gradients in the broadcast output shape; the engine
(`function.unbroadcast`) sums them back to each input's shape."""

from __future__ import annotations

import numpy as np

from tinydyn._checks import fail
from tinydyn.autograd.function import Function
from tinydyn.autograd.ops_gelu import gelu  # noqa: F401  (exported here: Tensor.gelu)
from tinydyn.autograd.tensor import Tensor

__all__ = [
    "add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "abs", "tanh", "sigmoid",
    "relu", "gelu", "maximum", "minimum", "where", "clip", "clamp", "cast",
]

# ---- binary arithmetic ---------------------------------------------------------------------


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, grad):
        return grad, -grad


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        return grad * b, grad * a


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        grad_a = grad / b
        return grad_a, -grad_a * a / b


class Pow(Function):
    """a ** b for tensors a, b (b is usually a constant exponent)."""

    @staticmethod
    def forward(ctx, a, b):
        out = a**b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        a, b, out = ctx.saved
        grad_a = grad * b * a ** (b - 1)
        # d(a^b)/db = a^b log a, defined for a > 0 only; elsewhere we return 0 rather than nan
        with np.errstate(divide="ignore", invalid="ignore"):
            grad_b = np.where(a > 0, grad * out * np.log(np.where(a > 0, a, 1)), 0)
        return grad_a, grad_b


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, grad):
        return -grad


# ---- unary functions -------------------------------------------------------------------------


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved
        return grad * out


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved
        return grad / a


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved
        return grad / (2 * out)


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved
        return grad * np.sign(a)


class Tanh(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved
        return grad * (1 - out * out)


def stable_sigmoid(a: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-a)) without overflow: exp is only ever taken of a non-positive number."""
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, a):
        out = stable_sigmoid(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved
        return grad * out * (1 - out)


class ReLU(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.maximum(a, 0)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved
        return grad * (a > 0)


class Maximum(Function):
    """Elementwise max; on ties the gradient is split evenly, as in PyTorch."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.maximum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        share_a = ((a > b) + 0.5 * (a == b)).astype(grad.dtype, copy=False)
        return grad * share_a, grad * (1 - share_a)


class Minimum(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.minimum(a, b)

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved
        share_a = ((a < b) + 0.5 * (a == b)).astype(grad.dtype, copy=False)
        return grad * share_a, grad * (1 - share_a)


class Where(Function):
    """where(cond, a, b); cond is a constant boolean array."""

    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx, grad):
        (cond,) = ctx.saved
        zero = np.zeros((), dtype=grad.dtype)
        return None, np.where(cond, grad, zero), np.where(cond, zero, grad)


class Clip(Function):
    @staticmethod
    def forward(ctx, a, low=None, high=None):
        ctx.save_for_backward(a)
        ctx.low, ctx.high = low, high
        return np.clip(a, low, high)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved
        inside = np.ones(a.shape, dtype=bool)
        if ctx.low is not None:
            inside &= a >= ctx.low
        if ctx.high is not None:
            inside &= a <= ctx.high
        return grad * inside


class Cast(Function):
    @staticmethod
    def forward(ctx, a, dtype=None):
        ctx.dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad.astype(ctx.dtype) if ctx.dtype.kind == "f" else None


# ---- public functions ------------------------------------------------------------------------


def _check_operands(fn, a, b):
    """Type-check two operands and make sure their shapes broadcast together."""
    shape_a = _shape_of(fn, "input", a)
    shape_b = _shape_of(fn, "other", b)
    if shape_a != shape_b and shape_a and shape_b:
        try:
            np.broadcast_shapes(shape_a, shape_b)
        except ValueError:
            fail(fn, f"shapes {shape_a} and {shape_b} cannot be broadcast together")


def _shape_of(fn, name, x):
    if isinstance(x, Tensor):
        return x.data.shape
    if isinstance(x, (int, float, bool, np.number)):
        return ()
    if isinstance(x, np.ndarray):
        return x.shape
    fail(fn, f"{name} must be a Tensor or a number, got {type(x).__name__}", TypeError)


def _check_unary(fn, a):
    if not isinstance(a, Tensor):
        fail(fn, f"input must be a Tensor, got {type(a).__name__} (wrap it: tinydyn.tensor(...))",
             TypeError)
    if a.data.dtype.kind != "f":
        fail(fn, f"input must be a floating-point tensor, got dtype {a.data.dtype}", TypeError)


def add(a, b) -> Tensor:
    """a + b with broadcasting."""
    _check_operands("add", a, b)
    return Add.apply(a, b)


def sub(a, b) -> Tensor:
    """a - b with broadcasting."""
    _check_operands("sub", a, b)
    return Sub.apply(a, b)


def mul(a, b) -> Tensor:
    """a * b with broadcasting."""
    _check_operands("mul", a, b)
    return Mul.apply(a, b)


def div(a, b) -> Tensor:
    """a / b with broadcasting."""
    _check_operands("div", a, b)
    return Div.apply(a, b)


def pow(a, b) -> Tensor:  # noqa: A001 - mirrors torch.pow
    """a ** b with broadcasting."""
    _check_operands("pow", a, b)
    return Pow.apply(a, b)


def neg(a) -> Tensor:
    _check_unary("neg", a)
    return Neg.apply(a)


def exp(a) -> Tensor:
    _check_unary("exp", a)
    return Exp.apply(a)


def log(a) -> Tensor:
    _check_unary("log", a)
    return Log.apply(a)


def sqrt(a) -> Tensor:
    _check_unary("sqrt", a)
    return Sqrt.apply(a)


def abs(a) -> Tensor:  # noqa: A001 - mirrors torch.abs
    _check_unary("abs", a)
    return Abs.apply(a)


def tanh(a) -> Tensor:
    _check_unary("tanh", a)
    return Tanh.apply(a)


def sigmoid(a) -> Tensor:
    """1 / (1 + exp(-a)), finite for any finite input."""
    _check_unary("sigmoid", a)
    return Sigmoid.apply(a)


def relu(a) -> Tensor:
    _check_unary("relu", a)
    return ReLU.apply(a)


def maximum(a, b) -> Tensor:
    _check_operands("maximum", a, b)
    return Maximum.apply(a, b)


def minimum(a, b) -> Tensor:
    _check_operands("minimum", a, b)
    return Minimum.apply(a, b)


def where(condition, a, b) -> Tensor:
    """Elements of ``a`` where ``condition`` is true, else of ``b`` (all broadcast together)."""
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        fail("where", f"condition must be a boolean tensor, got dtype {cond.dtype}", TypeError)
    _check_operands("where", a, b)
    try:
        np.broadcast_shapes(cond.shape, np.shape(a.data if isinstance(a, Tensor) else a))
        np.broadcast_shapes(cond.shape, np.shape(b.data if isinstance(b, Tensor) else b))
    except ValueError:
        fail("where", f"condition of shape {cond.shape} cannot be broadcast with the inputs")
    return Where.apply(Tensor(cond, _copy=False), a, b)


def clip(a, min=None, max=None) -> Tensor:  # noqa: A002 - mirrors torch.clip
    """Limit values to [min, max]; the gradient is zero where a value was clipped."""
    if min is None and max is None:
        fail("clip", "at least one of min and max must be given")
    if min is not None and max is not None and min > max:
        fail("clip", f"min must be <= max, got min={min}, max={max}")
    return Clip.apply(a, low=min, high=max)


clamp = clip


def cast(a, dtype) -> Tensor:
    """Convert to ``dtype``; gradients flow back only between floating dtypes."""
    if isinstance(a, Tensor) and a.data.dtype == dtype:
        return a
    if np.dtype(dtype).kind != "f" and isinstance(a, Tensor) and a.requires_grad:
        return Tensor(a.data.astype(dtype), _copy=False)
    return Cast.apply(a, dtype=dtype)
