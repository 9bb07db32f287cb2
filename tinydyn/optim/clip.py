"""Gradient clipping, applied between ``backward()`` and ``optimizer.step()``.

``clip_grad_norm_`` treats all gradients as one long vector and, if its norm exceeds
``max_norm``, scales every gradient by the same factor so the direction of the update is kept
and only its length shrinks. RNNs need this: one unlucky batch can otherwise produce a gradient
large enough to throw the weights far away (the "exploding gradient").
"""

from __future__ import annotations

import math

import numpy as np

from tinydyn._checks import check_float, fail
from tinydyn.autograd.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _grads(fn: str, params) -> list:
    """The gradient arrays of ``params`` (a tensor or an iterable of them), skipping None."""
    if isinstance(params, Tensor):
        params = [params]
    elif isinstance(params, (dict, str)) or not hasattr(params, "__iter__"):
        fail(fn, f"params must be a Tensor or an iterable of tensors, got "
             f"{type(params).__name__}", TypeError)
    grads = []
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            fail(fn, f"params[{i}] must be a Tensor, got {type(p).__name__}", TypeError)
        if p.grad is not None:
            grads.append(p.grad.data)
    return grads


def clip_grad_norm_(params, max_norm, norm_type=2.0) -> float:
    """Rescale the gradients of ``params`` in place so their joint norm is at most ``max_norm``.

    Args:
        params: a tensor or an iterable of tensors; those whose ``grad`` is None are skipped.
        max_norm: the largest allowed norm (> 0).
        norm_type: p of the p-norm (> 0), or ``float("inf")`` for the largest absolute value.

    Returns:
        The total norm *before* clipping, as a float (useful to log: it shows when clipping
        kicks in). Gradients are multiplied by ``max_norm / (total + 1e-6)`` when that is < 1
        (the 1e-6, as in torch, guards the division when all gradients are zero).
    """
    fn = "clip_grad_norm_"
    max_norm = check_float(fn, "max_norm", max_norm, low=0, low_open=True)
    norm_type = check_float(fn, "norm_type", norm_type, low=0, low_open=True)
    grads = _grads(fn, params)
    if not grads:
        return 0.0
    if norm_type == math.inf:
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in grads)
    elif norm_type == 2.0:
        # vdot of a flattened array with itself: the squared norm without a temporary
        total = math.sqrt(sum(float(np.vdot(g.ravel(), g.ravel())) for g in grads))
    else:
        total = sum(float(np.sum(np.abs(g) ** norm_type)) for g in grads) ** (1.0 / norm_type)
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for g in grads:
            g *= coef
    return total


def clip_grad_value_(params, clip_value) -> None:
    """Clamp every gradient entry of ``params`` into ``[-clip_value, clip_value]`` in place."""
    fn = "clip_grad_value_"
    clip_value = check_float(fn, "clip_value", clip_value, low=0)
    for g in _grads(fn, params):
        np.clip(g, -clip_value, clip_value, out=g)
