"""Numerical gradient checking: central differences in float64 against ``backward``."""

from __future__ import annotations

import numpy as np

from tinydyn._checks import fail
from tinydyn.autograd.tensor import Tensor


def numerical_grad(fn, inputs, index: int, eps: float = 1e-6, weights=None) -> np.ndarray:
    """d(sum(weights * fn(*inputs)))/d(inputs[index]) by central differences."""
    x = inputs[index].data
    grad = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        original = x[i]
        x[i] = original + eps
        plus = _weighted(fn(*inputs), weights)
        x[i] = original - eps
        minus = _weighted(fn(*inputs), weights)
        x[i] = original
        grad[i] = (plus - minus) / (2 * eps)
    return grad


def _weighted(out, weights) -> float:
    data = out.data if isinstance(out, Tensor) else np.asarray(out)
    return float((data * weights).sum()) if weights is not None else float(data.sum())


def grad_check(fn, *inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4,
               seed: int = 0) -> bool:
    """Check ``backward`` of ``fn(*inputs)`` against central differences.

    Every floating input must be a float64 Tensor with ``requires_grad=True`` (others are
    treated as constants). The output is reduced with fixed random weights so that every
    output element contributes. Returns True, or raises AssertionError naming the input,
    the worst index, and the expected (numerical) and received (backward) values.
    """
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        fail("grad_check", "no input has requires_grad=True; nothing to check")
    for i in checked:
        if inputs[i].dtype != np.float64:
            fail("grad_check", f"input {i} must be float64 for a reliable check, got "
                 f"{inputs[i].dtype}", TypeError)
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        fail("grad_check", f"fn must return a Tensor, got {type(out).__name__}", TypeError)
    weights = np.random.default_rng(seed).uniform(0.5, 1.5, size=out.shape)
    for i in checked:
        inputs[i].grad = None
    out.backward(Tensor(weights.astype(out.dtype), _copy=False))
    for i in checked:
        received = inputs[i].grad.data if inputs[i].grad is not None else np.zeros_like(
            inputs[i].data)
        expected = numerical_grad(fn, inputs, i, eps, weights)
        error = np.abs(received - expected) - (atol + rtol * np.abs(expected))
        if (error > 0).any():
            worst = np.unravel_index(np.argmax(error), error.shape) if error.ndim else ()
            raise AssertionError(
                f"grad_check: gradient of input {i} (shape {inputs[i].shape}) is wrong at index "
                f"{tuple(int(j) for j in worst)}: expected {expected[worst]!r} (numerical), "
                f"received {received[worst]!r} (backward); atol={atol}, rtol={rtol}"
            )
    return True
