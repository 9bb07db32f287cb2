"""VCRNN — the Variable Computation RNN (Jernite, Grave, Joulin, Mikolov; ICLR 2017).

A plain (Elman, tanh) RNN with a *scheduler*: at every step a scalar ``m_t in (0, 1)`` says
what fraction of the hidden state to recompute. Only the first ``k_t ~ m_t d`` rows of the
candidate are computed; the other rows of h are copied. Rows near the top of h are updated
often (fast memory), rows near the bottom rarely (slow memory).

The three faces (see ``docs/design.md``):

* **trainable**: :class:`VCRNN` / :class:`VCRNNClassifier` with the soft mask
  ``e_j = thres_eps(sigmoid(lam (m d - (j + 1/2))))`` and the penalty
  ``lam_m * mean_t |m_t - target|`` (:func:`vcrnn_penalty`); the sharpness ``lam`` is raised
  during training so the mask becomes hard;
* **hard inference**: :meth:`VCRNNClassifier.infer` runs :func:`tinydyn.kernels.vcrnn.
  vcrnn_hard_forward`, which computes only ``k_t = clip(ceil(m_t d - 1/2), 0, d)`` rows;
* **cost model**: :func:`vcrnn_flops` from the decisions ``k_t``, scheduler included.

Cost convention (multiply-add = 2 FLOPs, as in :mod:`tinydyn.measure.flops`), per real step:

* candidate, k rows: ``2k(d + d_x)`` for ``W_hh[:k] h`` and ``W_ih[:k] x`` (all d columns of h
  are read: the spec's variant ``W (e * h)`` that also truncates the columns is not used),
  plus ``2k`` for the bias and the tanh;
* scheduler: ``2(d + d_x)`` for its two dot products plus 4 (bias, sigmoid, ``m d - 1/2``,
  the row count);
* the classifier head once per sequence: ``linear_flops(d, classes)``. Embedding lookups
  are free.

The rounding ``ceil(m d - 1/2)`` (not the spec's ``ceil(m d)``) is what the half-integer-centred
mask saturates to: m = 0 updates no row and m = 1 all d of them, which ``ceil(m d)`` with a
mask centred on integers cannot both give.
"""

from __future__ import annotations

import math

import numpy as np

from tinydyn._checks import check_float, check_int, fail
from tinydyn.autograd.function import Function
from tinydyn.autograd.ops_elementwise import abs as _abs
from tinydyn.autograd.ops_linalg import matmul
from tinydyn.autograd.ops_reduce import sum as _sum
from tinydyn.autograd.ops_shape import transpose
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.skimming.common import (
    check_param,
    check_sequence,
    step_weights,
    token_batch,
)
from tinydyn.kernels.vcrnn import (
    rnn_forward,
    rows_from_ratio,
    soft_mask,
    vcrnn_hard_forward,
    vcrnn_soft_backward,
    vcrnn_soft_forward,
)
from tinydyn.measure.flops import add_flops, linear_flops
from tinydyn.nn import init
from tinydyn.nn.layers import Embedding, Linear
from tinydyn.nn.module import Module, Parameter

__all__ = [
    "VCRNN", "VCRNNClassifier", "rnn_step_flops", "scheduler_flops", "vcrnn", "vcrnn_flops",
    "vcrnn_penalty",
]


# ---- the op ----------------------------------------------------------------------------------

class VCRNNFunction(Function):
    """The soft recurrence over a whole sequence; returns the packed (B, T+1, d+1) array of
    :func:`tinydyn.kernels.vcrnn.vcrnn_soft_forward` (states and ratios)."""

    @staticmethod
    def forward(ctx, xp, sp, h0, w_hh, u, pad, lam=1.0, eps=0.0, pin=None):
        out, saved = vcrnn_soft_forward(xp, sp, h0, w_hh, u, pad, lam, eps, pin)
        ctx.save_for_backward(saved, w_hh, u)
        return out

    @staticmethod
    def backward(ctx, grad):
        saved, w_hh, u = ctx.saved
        dxp, dsp, dh0, dw, du = vcrnn_soft_backward(saved, w_hh, u, grad)
        return dxp, dsp, dh0, dw, du, None


def vcrnn(x, h0, w_ih, w_hh, bias, u, v, b_s, mask=None, lam: float = 1.0, eps: float = 0.0,
          pin=None):
    """A soft VCRNN over a batch-first sequence, differentiable in every input but ``mask``.

    Args:
        x: (B, T, d_x) float32/float64 Tensor; h0: (B, d) Tensor or None (zeros).
        w_ih (d, d_x), w_hh (d, d), bias (d,): the Elman cell. u (d,), v (d_x,), b_s (1,):
            the scheduler ``m_t = sigmoid(u . h_{t-1} + v . x_t + b_s)``.
        mask: (B, T) bool or float, 1 at real steps, 0 at padding (None: all real).
        lam: the mask's sharpness (> 0); eps: its threshold in [0, 0.5).
        pin: a float in [0, 1] used as m_t at every step instead of the scheduler (tests,
            ablations; m = 1 makes this a plain RNN), or None.

    Returns:
        ``(hs, h_T, ms)``: states (B, T, d), final state (B, d) and ratios (B, T).
    """
    fn = "vcrnn"
    B, T, dx = check_sequence(fn, x)
    if not isinstance(w_hh, Tensor) or w_hh.ndim != 2:
        fail(fn, f"w_hh must be a 2-D Tensor (d, d), got {getattr(w_hh, 'shape', w_hh)!r}",
             TypeError if not isinstance(w_hh, Tensor) else ValueError)
    d = w_hh.shape[0]
    for name, a, shape in (("w_hh", w_hh, (d, d)), ("w_ih", w_ih, (d, dx)), ("bias", bias, (d,)),
                           ("u", u, (d,)), ("v", v, (dx,)), ("b_s", b_s, (1,))):
        check_param(fn, name, a, shape, x.dtype)
    if h0 is None:
        h0 = Tensor(np.zeros((B, d), x.dtype), _copy=False)
    check_param(fn, "h0", h0, (B, d), x.dtype)
    pad = step_weights(fn, mask, B, T, x.dtype)
    lam = check_float(fn, "lam", lam, low=0.0, low_open=True)
    eps = check_float(fn, "eps", eps, low=0.0)
    if eps >= 0.5:
        fail(fn, f"eps must be in [0, 0.5), got {eps}")
    if pin is not None:
        pin = check_float(fn, "pin", pin, low=0.0, high=1.0)
    xp = matmul(x, transpose(w_ih, 0, 1)) + bias
    sp = _sum(x * v, -1) + b_s
    out = VCRNNFunction.apply(xp, sp, h0, w_hh, u, pad, lam=lam, eps=eps, pin=pin)
    return out[:, 1:, :d], out[:, T, :d], out[:, 1:, d]


def vcrnn_penalty(ms: Tensor, mask, target: float) -> Tensor:
    """``mean over real steps of |m_t - target|``: pulls the computation ratio to ``target``."""
    fn = "vcrnn_penalty"
    if not isinstance(ms, Tensor) or ms.ndim != 2:
        fail(fn, f"ms must be a (B, T) Tensor, got {getattr(ms, 'shape', type(ms).__name__)}",
             TypeError if not isinstance(ms, Tensor) else ValueError)
    target = check_float(fn, "target", target, low=0.0, high=1.0)
    pad = step_weights(fn, mask, ms.shape[0], ms.shape[1], ms.dtype)
    count = max(1.0, float(pad.sum()))
    return _sum(_abs(ms - target) * pad) / count


# ---- the cost model --------------------------------------------------------------------------

def rnn_step_flops(input_size: int, hidden_size: int, rows: int | None = None) -> int:
    """One Elman step recomputing ``rows`` (default all) rows: ``2 rows (d + d_x) + 2 rows``."""
    d = check_int("rnn_step_flops", "hidden_size", hidden_size, min_value=1)
    dx = check_int("rnn_step_flops", "input_size", input_size, min_value=1)
    k = d if rows is None else check_int("rnn_step_flops", "rows", rows, min_value=0)
    if k > d:
        fail("rnn_step_flops", f"rows must be <= hidden_size = {d}, got {k}")
    return 2 * k * (d + dx) + 2 * k


def scheduler_flops(input_size: int, hidden_size: int) -> int:
    """The scheduler of one step: two dot products, bias, sigmoid, and the row count."""
    return 2 * (hidden_size + input_size) + 4


def vcrnn_flops(ks, input_size: int, hidden_size: int, mask=None, num_classes: int = 0):
    """FLOPs per sequence (int64 (B,)) of hard VCRNN decisions ``ks`` (B, T).

    Each real step costs ``scheduler_flops + rnn_step_flops(rows=k_t)``; padding costs
    nothing; ``num_classes > 0`` adds the classifier head once per sequence.
    """
    fn = "vcrnn_flops"
    ks = np.asarray(ks)
    if ks.ndim != 2 or ks.dtype.kind not in "iu":
        fail(fn, f"ks must be a (B, T) integer array, got {ks.dtype} of shape {ks.shape}")
    d, dx = hidden_size, input_size
    if ks.size and (ks.min() < 0 or ks.max() > d):
        fail(fn, f"ks must be in [0, hidden_size] = [0, {d}], got {ks.min()} to {ks.max()}")
    real = np.ones(ks.shape, bool) if mask is None else np.asarray(mask, bool)
    if real.shape != ks.shape:
        fail(fn, f"mask must have the shape of ks {ks.shape}, got {real.shape}")
    steps = real.sum(axis=1)
    rows = (ks * real).sum(axis=1)
    head = linear_flops(d, num_classes) if num_classes else 0
    return (steps * scheduler_flops(dx, d) + rows * rnn_step_flops(dx, d, 1) + head).astype(
        np.int64)


# ---- modules ---------------------------------------------------------------------------------

def _uniform(shape, bound, rng, dtype) -> Parameter:
    return init.uniform_(Parameter(np.empty(shape, dtype)), -bound, bound, rng=rng)


class VCRNN(Module):
    """The VCRNN layer: forward(x (B, T, d_x), mask=None, h0=None, pin=None) -> (h_T, ms).

    Attributes ``sharpness`` (lam) and ``eps`` set the soft mask; a training loop raises
    ``sharpness`` with a schedule. ``scheduler_bias`` sets the initial mean ratio:
    ``sigmoid(scheduler_bias)`` (default -2.0, about 0.12 — a choice of ours, not the paper's:
    starting with few rows updated, most of h is copied from step to step, which carries
    memory and gradient over long distances; on sparse_signal, starting near a full RNN
    (bias 2.0) trained to 50-80% accuracy in our runs, starting low to 93-94%).
    """

    def __init__(self, input_size: int, hidden_size: int, sharpness: float = 1.0,
                 eps: float = 0.01, scheduler_bias: float = -2.0, rng=None, dtype=np.float32):
        super().__init__()
        fn = "VCRNN"
        self.input_size = check_int(fn, "input_size", input_size, min_value=1)
        self.hidden_size = check_int(fn, "hidden_size", hidden_size, min_value=1)
        self.sharpness = check_float(fn, "sharpness", sharpness, low=0.0, low_open=True)
        self.eps = check_float(fn, "eps", eps, low=0.0, high=0.49)
        rng = get_rng(rng, fn)
        d, dx = hidden_size, input_size
        bound = 1.0 / math.sqrt(d)
        self.weight_ih = _uniform((d, dx), bound, rng, dtype)
        self.weight_hh = _uniform((d, d), bound, rng, dtype)
        self.bias = _uniform((d,), bound, rng, dtype)
        self.sched_u = _uniform((d,), bound, rng, dtype)
        self.sched_v = _uniform((dx,), 1.0 / math.sqrt(dx), rng, dtype)
        b = check_float(fn, "scheduler_bias", scheduler_bias)
        self.sched_b = Parameter(np.full(1, b, dtype))

    def _weights(self):
        return (self.weight_ih, self.weight_hh, self.bias, self.sched_u, self.sched_v,
                self.sched_b)

    def forward(self, x: Tensor, mask=None, h0=None, pin=None):
        w_ih, w_hh, bias, u, v, b_s = self._weights()
        _, h_T, ms = vcrnn(x, h0, w_ih, w_hh, bias, u, v, b_s, mask=mask, lam=self.sharpness,
                           eps=self.eps, pin=pin)
        return h_T, ms

    def hard_forward(self, x: np.ndarray, lengths: np.ndarray, h0=None):
        """Hard decisions, only k_t rows computed: ``(h_T, ms, ks)`` as NumPy arrays."""
        w = [p.data for p in self._weights()]
        if h0 is None:
            h0 = np.zeros((x.shape[0], self.hidden_size), w[0].dtype)
        return vcrnn_hard_forward(x, lengths, h0, *w)

    def full_forward(self, x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The same cell as a plain RNN (every row, no scheduler): the final state."""
        h0 = np.zeros((x.shape[0], self.hidden_size), x.dtype)
        return rnn_forward(x, lengths, h0, self.weight_ih.data, self.weight_hh.data,
                           self.bias.data)

    def masks(self, ms) -> np.ndarray:
        """The soft masks (B, T, d) the current sharpness gives to ratios ``ms`` (B, T)."""
        ms = np.asarray(ms.data if isinstance(ms, Tensor) else ms)
        return soft_mask(ms, self.hidden_size, self.sharpness, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, sharpness={self.sharpness}, "
                f"eps={self.eps}")


class VCRNNClassifier(Module):
    """Token ids -> embedding -> VCRNN -> linear head on the last real state.

    ``forward(tokens (B, T) int, mask (B, T) bool) -> (logits (B, C), ms (B, T))`` is the soft,
    trainable path; ``infer(tokens, lengths)`` the hard one. ``pin=1.0`` at construction
    makes the model a plain Elman RNN classifier (the same-size dense baseline).
    """

    def __init__(self, vocab_size: int, num_classes: int, embed_dim: int = 32,
                 hidden_size: int = 64, sharpness: float = 1.0, eps: float = 0.01,
                 scheduler_bias: float = -2.0, pin=None, rng=None, dtype=np.float32):
        super().__init__()
        fn = "VCRNNClassifier"
        rng = get_rng(rng, fn)
        self.num_classes = check_int(fn, "num_classes", num_classes, min_value=2)
        self.pin = None if pin is None else check_float(fn, "pin", pin, low=0.0, high=1.0)
        self.embed = Embedding(vocab_size, embed_dim, padding_idx=0, rng=rng, dtype=dtype)
        self.rnn = VCRNN(embed_dim, hidden_size, sharpness, eps, scheduler_bias, rng=rng,
                         dtype=dtype)
        self.head = Linear(hidden_size, num_classes, rng=rng, dtype=dtype)

    def forward(self, tokens, mask=None):
        h_T, ms = self.rnn(self.embed(tokens), mask=mask, pin=self.pin)
        return self.head(h_T), ms

    def infer(self, tokens, lengths):
        """Hard inference. Returns a dict: ``logits`` (B, C), ``ks`` and ``ms`` (B, T) (the
        decisions; 0 at padding), ``flops`` (B,) per sequence. Charges the FLOPs to any active
        :class:`tinydyn.measure.FlopCounter`."""
        tokens, lengths = token_batch("VCRNNClassifier.infer", tokens, lengths,
                                      self.embed.weight.shape[0])
        x = self.embed.weight.data[tokens]
        d, dx = self.rnn.hidden_size, self.rnn.input_size
        mask = np.arange(tokens.shape[1])[None, :] < lengths[:, None]
        if self.pin is None:
            h, ms, ks = self.rnn.hard_forward(x, lengths)
        else:  # a pinned ratio needs no scheduler: run the plain kernel with its k rows
            k = int(rows_from_ratio(np.array(self.pin), d))
            if k != d:
                fail("VCRNNClassifier.infer", f"hard inference supports pin=None or a pin "
                     f"giving all rows, got pin={self.pin} ({k} of {d} rows)")
            h = self.rnn.full_forward(x, lengths)
            ks = np.where(mask, d, 0).astype(np.int64)
            ms = mask.astype(x.dtype)
        logits = h @ self.head.weight.data.T + self.head.bias.data
        if self.pin is None:
            flops = vcrnn_flops(ks, dx, d, mask, self.num_classes)
        else:
            flops = lengths * rnn_step_flops(dx, d) + linear_flops(d, self.num_classes)
        add_flops(int(flops.sum()), "VCRNN" if self.pin is None else "RNN")
        return {"logits": logits, "ks": ks, "ms": ms, "flops": np.asarray(flops, np.int64)}


