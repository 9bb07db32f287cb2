"""Neural-network ops: softmax, log_softmax, cross_entropy, nll_loss, layer_norm, dropout.

Each of these could be written as a chain of elementwise ops and reductions, and the chain
would differentiate correctly. They are *fused* instead — one Function with a hand-derived
backward — for two reasons. Stability: softmax must subtract the row maximum before ``exp``
(``exp(1e4)`` overflows), and cross-entropy must never take ``log`` of a probability that
underflowed to 0. Economy: the fused backward of softmax is one line and saves one array,
where the chain would save five.

The gradients, with ``y = softmax(x)`` along one dim and ``g`` the upstream gradient::

    softmax:       dx = y * (g - sum(g * y))
    log_softmax:   dx = g - softmax(x) * sum(g)
    cross_entropy: dx = softmax(x) - q       (q: the one-hot target, smoothed)
    layer_norm:    dx = rstd * (gh - mean(gh) - xhat * mean(gh * xhat)),  gh = g * weight
"""

from __future__ import annotations

import numbers

import numpy as np

from tinydyn._checks import (
    check_float,
    check_float_dtype,
    check_int,
    check_int_dtype,
    fail,
    normalize_dim,
)
from tinydyn.autograd.function import Function
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import Tensor
from tinydyn.kernels.layer_norm import layer_norm_backward, layer_norm_forward

__all__ = ["cross_entropy", "dropout", "layer_norm", "log_softmax", "nll_loss", "softmax"]

REDUCTIONS = ("mean", "sum", "none")


# ---- softmax and log_softmax ----------------------------------------------------------------


def _sum(a: np.ndarray, axis: int) -> np.ndarray:
    """``a.sum(axis, keepdims=True)``. Along the last axis it is a product with a vector of
    ones instead: BLAS runs that several times faster than NumPy's strided reduction, and
    the softmax of attention and every layer norm sum along the last axis."""
    if axis == a.ndim - 1:
        return (a @ np.ones(a.shape[-1], dtype=a.dtype))[..., None]
    return a.sum(axis=axis, keepdims=True)


def _shifted(a: np.ndarray, axis: int) -> np.ndarray:
    """``a`` minus its maximum along ``axis``: every exponent is then <= 0 and cannot overflow.

    A row that is entirely -inf (fully masked) keeps a shift of 0 so it does not become nan
    through ``-inf - (-inf)``; ``initial`` lets a dimension of size 0 through.
    """
    m = a.max(axis=axis, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0).astype(a.dtype, copy=False)
    return a - m


def _log_softmax(a: np.ndarray, axis: int) -> np.ndarray:
    s = _shifted(a, axis)
    return s - np.log(_sum(np.exp(s), axis))


class Softmax(Function):
    @staticmethod
    def forward(ctx, a, dim=-1):
        e = np.exp(_shifted(a, dim))
        y = e / _sum(e, dim)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved
        return y * (grad - _sum(grad * y, ctx.dim))


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, a, dim=-1):
        out = _log_softmax(a, dim)
        ctx.save_for_backward(out)
        ctx.dim = dim
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved
        return grad - np.exp(out) * _sum(grad, ctx.dim)


def _check_float_tensor(fn: str, name: str, a) -> None:
    if not isinstance(a, Tensor):
        fail(fn, f"{name} must be a Tensor, got {type(a).__name__}", TypeError)
    check_float_dtype(fn, name, a.data)


def _softmax_dim(fn: str, a, dim) -> int:
    _check_float_tensor(fn, "input", a)
    if a.ndim == 0:
        fail(fn, "input must have at least 1 dimension, got a 0-d tensor")
    return normalize_dim(fn, dim, a.ndim)


def softmax(a: Tensor, dim: int = -1) -> Tensor:
    """exp(a) / sum(exp(a)) along ``dim``; finite for any finite input. Same shape as ``a``."""
    return Softmax.apply(a, dim=_softmax_dim("softmax", a, dim))


def log_softmax(a: Tensor, dim: int = -1) -> Tensor:
    """log(softmax(a)) along ``dim``, computed as a - logsumexp(a) (never log of 0)."""
    return LogSoftmax.apply(a, dim=_softmax_dim("log_softmax", a, dim))


# ---- classification losses ------------------------------------------------------------------
#
# Both losses accept PyTorch's layouts: input (N, C) with target (N,), input (N, C, d1, ...)
# with target (N, d1, ...), or an unbatched input (C,) with a 0-d target. Internally the class
# axis is moved last and everything else flattened, so the arithmetic sees (M, C) and (M,).


def _to_rows(x: np.ndarray) -> np.ndarray:
    """(N, C, d1...) -> (N*d1*..., C); (N, C) and (C,) need no move."""
    if x.ndim > 2:
        x = np.moveaxis(x, 1, -1)
    return x.reshape(-1, x.shape[-1])


def _from_rows(rows: np.ndarray, shape: tuple) -> np.ndarray:
    """Inverse of :func:`_to_rows` for an input of ``shape``."""
    if len(shape) > 2:
        moved = (shape[0],) + tuple(shape[2:]) + (shape[1],)
        return np.moveaxis(rows.reshape(moved), -1, 1)
    return rows.reshape(shape)


def _reduce(losses: np.ndarray, valid: np.ndarray, reduction: str, shape: tuple):
    """Per-row losses -> the requested reduction, and the per-row scale of the gradient."""
    if reduction == "none":
        return losses.reshape(shape), None
    if reduction == "sum":
        return np.asarray(losses.sum()), np.ones_like(losses)
    # mean over the rows that count; an all-ignored batch gives 0 (PyTorch gives nan) so one
    # fully padded batch cannot poison a training run
    count = int(valid.sum())
    if count == 0:
        return np.zeros((), losses.dtype), np.zeros_like(losses)
    return np.asarray(losses.sum() / count, losses.dtype), np.full_like(losses, 1 / count)


def _row_grad(grad: np.ndarray, scale, reduction: str) -> np.ndarray:
    """The upstream gradient as one factor per row: (M,)."""
    if reduction == "none":
        return grad.reshape(-1)
    return grad * scale


class CrossEntropy(Function):
    """log_softmax and the (smoothed) negative log-likelihood in one step.

    With eps = label_smoothing and C classes, the target distribution of a row with class t is
    q = (1 - eps) * onehot(t) + eps / C, the loss is -sum(q * log p) and its gradient with
    respect to the logits is p - q (zero for ignored rows).
    """

    @staticmethod
    def forward(ctx, logits, target, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
        x = _to_rows(logits)
        t = target.reshape(-1)
        valid = t != ignore_index
        safe_t = np.where(valid, t, 0)  # ignored rows read class 0, then are zeroed below
        logp = _log_softmax(x, 1)
        rows = np.arange(x.shape[0])
        losses = -logp[rows, safe_t]
        if label_smoothing:
            losses = (1 - label_smoothing) * losses - label_smoothing * logp.mean(axis=1)
        losses = np.where(valid, losses, 0).astype(logits.dtype, copy=False)
        out, scale = _reduce(losses, valid, reduction, target.shape)
        ctx.save_for_backward(logp, safe_t, valid, scale)
        ctx.shape, ctx.eps, ctx.reduction = logits.shape, label_smoothing, reduction
        return out

    @staticmethod
    def backward(ctx, grad):
        logp, t, valid, scale = ctx.saved
        n, c = logp.shape
        dx = np.exp(logp)  # p
        dx -= ctx.eps / c
        dx[np.arange(n), t] -= 1 - ctx.eps
        row = np.where(valid, _row_grad(grad, scale, ctx.reduction), 0).astype(dx.dtype)
        dx *= row[:, None]
        return _from_rows(dx, ctx.shape), None


class NLLLoss(Function):
    """-log_probs[target], picked row by row; the gradient is -1 at the picked entries."""

    @staticmethod
    def forward(ctx, log_probs, target, ignore_index=-100, reduction="mean"):
        x = _to_rows(log_probs)
        t = target.reshape(-1)
        valid = t != ignore_index
        safe_t = np.where(valid, t, 0)
        losses = np.where(valid, -x[np.arange(x.shape[0]), safe_t], 0).astype(x.dtype)
        out, scale = _reduce(losses, valid, reduction, target.shape)
        ctx.save_for_backward(safe_t, valid, scale)
        ctx.shape, ctx.dtype, ctx.reduction = log_probs.shape, log_probs.dtype, reduction
        return out

    @staticmethod
    def backward(ctx, grad):
        t, valid, scale = ctx.saved
        n = t.shape[0]
        dx = np.zeros((n, ctx.shape[1] if len(ctx.shape) > 1 else ctx.shape[0]), ctx.dtype)
        row = np.where(valid, _row_grad(grad, scale, ctx.reduction), 0)
        dx[np.arange(n), t] = -row
        return _from_rows(dx, ctx.shape), None


def _check_loss_args(fn: str, x, target, ignore_index, reduction) -> tuple[Tensor, int]:
    """Validate a classification loss's arguments; return the target (an int Tensor) and
    ignore_index."""
    _check_float_tensor(fn, "input", x)
    if isinstance(target, np.ndarray):
        target = Tensor(target, _copy=False)
    if not isinstance(target, Tensor):
        fail(fn, f"target must be a Tensor of class indices, got {type(target).__name__}",
             TypeError)
    check_int_dtype(fn, "target", target.data)
    ignore_index = check_int(fn, "ignore_index", ignore_index)
    if reduction not in REDUCTIONS:
        fail(fn, f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    if x.ndim == 0:
        fail(fn, "input must have shape (C,), (N, C) or (N, C, d1, ...), got a 0-d tensor")
    expected = () if x.ndim == 1 else (x.shape[0],) + tuple(x.shape[2:])
    if target.shape != expected:
        fail(fn, f"target must have shape {expected} for input of shape {x.shape}, got "
             f"{target.shape}")
    c = x.shape[0] if x.ndim == 1 else x.shape[1]
    if c == 0:
        fail(fn, f"input must have at least 1 class, got shape {x.shape}")
    t = target.data
    bad = (t != ignore_index) & ((t < 0) | (t >= c))
    if bad.any():
        fail(fn, f"target value {t[bad].flat[0]} is out of range for {c} classes: expected "
             f"0 <= target < {c} or target == ignore_index ({ignore_index})")
    return target, ignore_index


def cross_entropy(logits: Tensor, target, ignore_index: int = -100,
                  label_smoothing: float = 0.0, reduction: str = "mean") -> Tensor:
    """Cross-entropy between ``logits`` and integer class indices ``target`` (PyTorch's).

    Shapes: logits (N, C) with target (N,), or (N, C, d1, ...) with target (N, d1, ...), or
    (C,) with a 0-d target. Rows whose target equals ``ignore_index`` contribute 0 and are not
    counted by ``"mean"`` (which returns 0 when every row is ignored). With label smoothing eps
    the loss is (1 - eps) * nll + eps * mean over classes of -log p. Finite at |logits| = 1e4.
    Returns a scalar, or the target's shape for ``reduction="none"``.
    """
    target, ignore_index = _check_loss_args("cross_entropy", logits, target, ignore_index,
                                            reduction)
    eps = check_float("cross_entropy", "label_smoothing", label_smoothing, low=0.0, high=1.0)
    return CrossEntropy.apply(logits, target, ignore_index=ignore_index,
                              label_smoothing=eps, reduction=reduction)


def nll_loss(log_probs: Tensor, target, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of ``target`` under ``log_probs`` (e.g. from log_softmax).

    Shapes and ``ignore_index``/``reduction`` as :func:`cross_entropy`.
    """
    target, ignore_index = _check_loss_args("nll_loss", log_probs, target, ignore_index,
                                            reduction)
    return NLLLoss.apply(log_probs, target, ignore_index=ignore_index, reduction=reduction)


# ---- layer normalisation ----------------------------------------------------------------------


class LayerNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the last ``k`` dims.

    ``weight`` and ``bias`` are optional, so the inputs are ``(x,)``, ``(x, w)``, ``(x, b)``
    or ``(x, w, b)``; the flags say which. The arithmetic runs on x viewed as a matrix
    (rows = slices to normalise, D = their size), so every mean is a row mean.
    """

    @staticmethod
    def forward(ctx, x, *params, k=1, eps=1e-5, has_weight=False, has_bias=False):
        d = int(np.prod(x.shape[x.ndim - k:]))
        weight = params[0].reshape(d) if has_weight else None
        bias = params[-1].reshape(d) if has_bias else None
        # one fused pass per row (tinydyn.kernels.layer_norm) instead of ~10 NumPy passes
        y, xhat, rstd = layer_norm_forward(x.reshape(-1, d), weight, bias, eps)
        ctx.save_for_backward(xhat, rstd, weight)
        ctx.shape, ctx.param_shape = x.shape, x.shape[x.ndim - k:]
        ctx.has_weight, ctx.has_bias = has_weight, has_bias
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, grad):
        xhat, rstd, weight = ctx.saved
        dx, dw, db = layer_norm_backward(grad.reshape(xhat.shape), xhat, rstd, weight)
        grads = [dx.reshape(ctx.shape)]
        if ctx.has_weight:
            grads.append(dw.reshape(ctx.param_shape))
        if ctx.has_bias:
            grads.append(db.reshape(ctx.param_shape))
        return tuple(grads)


def layer_norm(x: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise ``x`` over its trailing dims ``normalized_shape`` (an int or a tuple).

    Each slice gets mean 0 and (biased) variance 1, then is scaled by ``weight`` and shifted
    by ``bias``, both of shape ``normalized_shape``. Output has the shape of ``x``.
    """
    fn = "layer_norm"
    _check_float_tensor(fn, "input", x)
    if isinstance(normalized_shape, numbers.Integral) and not isinstance(normalized_shape, bool):
        normalized_shape = (normalized_shape,)
    if not isinstance(normalized_shape, (tuple, list)) or not normalized_shape:
        fail(fn, f"normalized_shape must be an int or a non-empty tuple of ints, got "
             f"{normalized_shape!r}", TypeError)
    shape = tuple(check_int(fn, "normalized_shape", n, min_value=1) for n in normalized_shape)
    k = len(shape)
    if x.ndim < k or tuple(x.shape[x.ndim - k:]) != shape:
        fail(fn, f"normalized_shape {shape} must match the trailing dims of input, got input "
             f"of shape {x.shape}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is None:
            continue
        _check_float_tensor(fn, name, p)
        if p.shape != shape:
            fail(fn, f"{name} must have shape {shape} (normalized_shape), got {p.shape}")
        if p.dtype != x.dtype:
            fail(fn, f"{name} must have the input's dtype {x.dtype}, got {p.dtype}", TypeError)
    eps = check_float(fn, "eps", eps, low=0.0, low_open=True)
    params = [p for p in (weight, bias) if p is not None]
    return LayerNorm.apply(x, *params, k=k, eps=eps, has_weight=weight is not None,
                           has_bias=bias is not None)


# ---- dropout ----------------------------------------------------------------------------------


class Dropout(Function):
    """Multiply by a fixed mask whose kept entries are already scaled by 1 / (1 - p)."""

    @staticmethod
    def forward(ctx, x, mask=None):
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved
        return grad * mask


def dropout(x: Tensor, p: float = 0.5, training: bool = True, rng=None) -> Tensor:
    """Inverted dropout: zero each entry with probability ``p`` and scale the rest by 1/(1-p).

    The expectation is unchanged, so evaluation (``training=False``) is the identity and
    returns ``x`` itself; so does ``p=0``. ``p=1`` gives zeros. The mask is drawn from ``rng``
    (default: the generator reset by ``tinydyn.manual_seed``).
    """
    fn = "dropout"
    _check_float_tensor(fn, "input", x)
    p = check_float(fn, "p", p, low=0.0, high=1.0)
    if not isinstance(training, (bool, np.bool_)):
        fail(fn, f"training must be a bool, got {type(training).__name__}", TypeError)
    rng = get_rng(rng, fn)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        mask = np.zeros(x.shape, dtype=x.dtype)
    else:
        keep = rng.random(x.shape) >= p
        mask = keep.astype(x.dtype) * x.dtype.type(1 / (1 - p))
    return Dropout.apply(x, mask=mask)
