"""Reverse-mode automatic differentiation on NumPy arrays."""

from tinydyn.autograd.function import (  # noqa: I001  (function must load before tensor)
    Context,
    Function,
    enable_grad,
    is_grad_enabled,
    no_grad,
    unbroadcast,
)
from tinydyn.autograd.tensor import Tensor
from tinydyn.autograd.grad_check import grad_check, numerical_grad
from tinydyn.autograd.random import default_generator, get_rng, manual_seed

__all__ = [
    "Context", "Function", "Tensor", "default_generator", "enable_grad", "get_rng",
    "grad_check", "is_grad_enabled", "manual_seed", "no_grad", "numerical_grad", "unbroadcast",
]
