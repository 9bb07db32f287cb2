"""The losses not built into the engine — :func:`mse_loss`,
:func:`binary_cross_entropy_with_logits`, :func:`kl_div` — and :func:`entropy`. Losses take
``reduction`` = ``"mean"`` | ``"sum"`` | ``"none"``.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import fail, normalize_dim
from tinydyn.autograd.function import Function
from tinydyn.autograd.ops_elementwise import exp, log, stable_sigmoid, where
from tinydyn.autograd.ops_nn import log_softmax
from tinydyn.autograd.ops_reduce import mean, sum  # sum shadows the builtin, as torch.sum
from tinydyn.autograd.tensor import Tensor

__all__ = ["binary_cross_entropy_with_logits", "entropy", "kl_div", "mse_loss"]


# ---- shared checks ----------------------------------------------------------------------------


def _check_input(fn: str, name: str, x) -> Tensor:
    if not isinstance(x, Tensor):
        fail(fn, f"{name} must be a Tensor, got {type(x).__name__}", TypeError)
    if x.data.dtype.kind != "f":
        fail(fn, f"{name} must be floating point, got dtype {x.data.dtype}", TypeError)
    return x


def _check_like(fn: str, name: str, value, x: Tensor, *, same_shape: bool = True) -> Tensor:
    """``value`` as a Tensor with ``x``'s dtype (and shape, unless broadcasting is allowed)."""
    if isinstance(value, np.ndarray):
        value = Tensor(value, _copy=False)
    if not isinstance(value, Tensor):
        fail(fn, f"{name} must be a Tensor or numpy array, got {type(value).__name__}", TypeError)
    if value.dtype != x.dtype:
        fail(fn, f"{name} must have the input's dtype {x.dtype}, got {value.dtype}", TypeError)
    if same_shape and value.shape != x.shape:
        fail(fn, f"{name} must have the input's shape {x.shape}, got {value.shape}")
    if not same_shape:
        try:
            np.broadcast_shapes(value.shape, x.shape)
        except ValueError:
            fail(fn, f"{name} of shape {value.shape} does not broadcast with input shape "
                 f"{x.shape}")
    return value


def _check_reduction(fn: str, reduction, allowed=("mean", "sum", "none")) -> str:
    if reduction not in allowed:
        fail(fn, f"reduction must be one of {', '.join(map(repr, allowed))}, got {reduction!r}")
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return mean(loss)
    if reduction == "sum":
        return sum(loss)
    return loss


def _xlogy(x: Tensor) -> Tensor:
    """x * log(x), with 0 * log 0 = 0 (the limit): log is taken of 1 where x is 0."""
    return x * log(where(x > 0, x, 1.0))


# ---- losses -----------------------------------------------------------------------------------


def mse_loss(input: Tensor, target, reduction: str = "mean") -> Tensor:  # noqa: A002
    """(input - target)^2, reduced. ``target`` must have the input's shape and dtype."""
    fn = "mse_loss"
    _check_input(fn, "input", input)
    target = _check_like(fn, "target", target, input)
    _check_reduction(fn, reduction)
    diff = input - target
    return _reduce(diff * diff, reduction)


class BCEWithLogits(Function):
    """Elementwise ``(1 - y) x + w softplus(-x)`` with ``w = 1 + (p - 1) y``.

    This is ``-[p y log s(x) + (1 - y) log(1 - s(x))]`` rewritten so that no log of an
    underflowed sigmoid appears: ``softplus(-x) = log(1 + exp(-x))`` is computed by
    ``logaddexp``, finite for any finite x. Gradients:
    dx = (1 - y) - w s(-x),  dy = -x + (p - 1) softplus(-x),  dp = y softplus(-x).
    """

    @staticmethod
    def forward(ctx, x, y, p):
        softplus_neg = np.logaddexp(x.dtype.type(0), -x)
        w = 1 + (p - 1) * y
        ctx.save_for_backward(x, y, p, softplus_neg)
        return ((1 - y) * x + w * softplus_neg).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        x, y, p, softplus_neg = ctx.saved
        w = 1 + (p - 1) * y
        dx = grad * ((1 - y) - w * stable_sigmoid(-x))
        dy = grad * ((p - 1) * softplus_neg - x)
        dp = grad * (y * softplus_neg)
        return dx, dy, dp


def binary_cross_entropy_with_logits(logits: Tensor, target, reduction: str = "mean",
                                     pos_weight=None) -> Tensor:
    """Binary cross-entropy of ``sigmoid(logits)`` against probabilities ``target``.

    ``target`` has the shape and dtype of ``logits``; ``pos_weight`` (broadcast against the
    logits, e.g. shape (C,)) multiplies the loss of positive examples. Stable for any logit.
    """
    fn = "binary_cross_entropy_with_logits"
    _check_input(fn, "logits", logits)
    target = _check_like(fn, "target", target, logits)
    _check_reduction(fn, reduction)
    if pos_weight is None:
        pos_weight = np.ones((), dtype=logits.dtype)
    else:
        pos_weight = _check_like(fn, "pos_weight", pos_weight, logits, same_shape=False)
    return _reduce(BCEWithLogits.apply(logits, target, pos_weight), reduction)


def kl_div(input: Tensor, target, reduction: str = "batchmean",  # noqa: A002
           log_target: bool = False) -> Tensor:
    """KL(target || exp(input)) with PyTorch's conventions: ``input`` holds log-probabilities,
    ``target`` probabilities (log-probabilities if ``log_target``).

    Pointwise ``target * (log target - input)`` (0 where target is 0). Reductions: "batchmean"
    (sum / batch size: the true KL divergence per example), "sum", "mean" (over all elements),
    "none".
    """
    fn = "kl_div"
    _check_input(fn, "input", input)
    target = _check_like(fn, "target", target, input)
    _check_reduction(fn, reduction, ("batchmean", "sum", "mean", "none"))
    if not isinstance(log_target, bool):
        fail(fn, f"log_target must be a bool, got {type(log_target).__name__}", TypeError)
    if log_target:
        pointwise = exp(target) * (target - input)
    else:
        pointwise = _xlogy(target) - target * input
    if reduction == "batchmean":
        if input.ndim == 0:
            fail(fn, "reduction='batchmean' needs an input with a batch dimension, got a 0-d "
                 "input")
        return sum(pointwise) / input.dtype.type(max(input.shape[0], 1))
    return _reduce(pointwise, reduction)


def entropy(p: Tensor | None = None, logits: Tensor | None = None, dim: int = -1) -> Tensor:
    """Shannon entropy -sum(p log p) along ``dim`` (in nats) of a distribution given either as
    probabilities ``p`` or, more stably, as ``logits`` (via log_softmax). The output drops
    ``dim``."""
    fn = "entropy"
    if (p is None) == (logits is None):
        fail(fn, "pass exactly one of p and logits")
    if logits is not None:
        _check_input(fn, "logits", logits)
        d = normalize_dim(fn, dim, logits.ndim)
        log_p = log_softmax(logits, d)
        # exp(log_p) may underflow to 0 where log_p is very negative, but it stays finite.
        return -sum(exp(log_p) * log_p, d)
    _check_input(fn, "p", p)
    d = normalize_dim(fn, dim, p.ndim)
    if (p.data < 0).any():
        fail(fn, f"p must be non-negative, got a minimum of {p.data.min()}")
    totals = p.data.sum(axis=d)
    if not np.allclose(totals, 1.0, atol=1e-3):
        fail(fn, f"p must sum to 1 along dim {dim}, got sums ranging from {totals.min()} to "
             f"{totals.max()}")
    return -sum(_xlogy(p), d)
