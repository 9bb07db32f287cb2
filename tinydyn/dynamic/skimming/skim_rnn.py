"""Skim-RNN (Seo, Min, Farhadi, Hajishirzi; ICLR 2018): read important tokens with a big LSTM
cell, skim the others with a small one.

Both cells share one state (h, c) of size d. At every step a decision
``p_t = softmax(W_s [x_t; h_{t-1}] + b_s)`` over {read, skim} picks the big cell, which updates
all d dims, or the small cell (hidden size d' < d), which updates the first d' dims and copies
the other d - d' (see :mod:`tinydyn.kernels.skim_rnn` for the equations).

The three faces (see ``docs/design.md``):

* **trainable**: :func:`skim_rnn`, :class:`SkimLSTM`, :class:`SkimRNNClassifier`. Both cells run
  at every step and are mixed by a Gumbel-softmax sample of p_t with temperature ``tau``
  (straight-through one-hot with ``hard=True``); :func:`skim_penalty` is the skim
  encouragement ``mean over real steps of -log p_t(skim)``;
* **hard inference**: :meth:`SkimRNNClassifier.infer` runs the compiled loop of
  :func:`tinydyn.kernels.skim_rnn.skim_hard_forward`, which runs only the chosen cell; a token
  is skimmed when p(skim) > ``threshold`` (the speed knob; 0.5 is the argmax);
* **cost model**: :func:`skim_rnn_flops` from the decisions, decision-maker included.

Cost convention (multiply-add = 2 FLOPs, as in :mod:`tinydyn.measure.flops`), per real step:

* read: :func:`~tinydyn.measure.flops.lstm_cell_flops` ``(d_x, d)``;
* skim: the small cell on ``[x; h]`` (input d_x + d, hidden d'): ``2·4d'(d_x + d) + 13d'``
  (:func:`small_cell_flops`, the elementwise count of ``lstm_cell_flops``);
* decision: ``linear_flops(d_x + d, 2)`` plus 4 for the two-way softmax and the comparison
  (:func:`decision_flops`; the compiled loop computes only ``l_skim - l_read``, half of the
  products, so this slightly over-counts what it does);
* the classifier head once per sequence. Embedding lookups are free; padding costs nothing.
"""

from __future__ import annotations

import math

import numpy as np

from tinydyn._checks import check_float, check_int, fail
from tinydyn.autograd.function import Function
from tinydyn.autograd.ops_estimators import gumbel_noise
from tinydyn.autograd.ops_linalg import matmul
from tinydyn.autograd.ops_reduce import sum as _sum
from tinydyn.autograd.ops_shape import cat, transpose
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.skimming.common import (
    check_param,
    check_sequence,
    step_array,
    step_weights,
    token_batch,
)
from tinydyn.kernels.backend import dispatch
from tinydyn.kernels.skim_rnn import (
    hard_weights,
    skim_hard_forward,
    skim_hard_numba,
    skim_hard_numpy,
    threshold_cut,
)
from tinydyn.kernels.skim_rnn_soft import skim_soft_backward, skim_soft_forward, wide_order
from tinydyn.measure.flops import add_flops, linear_flops, lstm_cell_flops
from tinydyn.nn import init
from tinydyn.nn.layers import Embedding, Linear
from tinydyn.nn.module import Module, Parameter

__all__ = ["SkimLSTM", "SkimRNNClassifier", "decision_flops", "skim_penalty", "skim_rnn",
           "skim_rnn_flops", "small_cell_flops"]


# ---- the op ----------------------------------------------------------------------------------

class SkimRNNFunction(Function):
    """The soft recurrence over a whole sequence, on the wide layout of
    :mod:`tinydyn.kernels.skim_rnn`; returns the packed (B, T+1, 2d+4) array of
    :func:`~tinydyn.kernels.skim_rnn.skim_soft_forward`."""

    @staticmethod
    def forward(ctx, xz, h0, c0, w_all, ds=1, noise=None, pad=None, tau=1.0, hard=True,
                force=None):
        out, saved = skim_soft_forward(xz, h0, c0, w_all, ds, noise, pad, tau, hard, force)
        ctx.save_for_backward(saved, w_all)
        return out

    @staticmethod
    def backward(ctx, grad):
        saved, w_all = ctx.saved
        return skim_soft_backward(saved, w_all, grad)


def skim_rnn(x, h0, c0, w_ih, w_hh, bias, w_ih_small, w_hh_small, bias_small, w_dec, b_dec,
             mask=None, tau: float = 1.0, hard: bool = True, noise=None, force=None):
    """A soft Skim-RNN over a batch-first sequence, differentiable in every Tensor input.

    Args:
        x: (B, T, d_x) float32/float64 Tensor; h0, c0: (B, d) Tensors or None (zeros).
        w_ih (4d, d_x), w_hh (4d, d), bias (4d,): the big LSTM cell (gates i, f, g, o).
        w_ih_small (4d', d_x), w_hh_small (4d', d), bias_small (4d',): the small cell, which
            reads the whole h and writes its first d' dims.
        w_dec (2, d_x + d), b_dec (2,): the decision logits (read, skim) on ``[x_t; h]``.
        mask: (B, T) bool or float, 1 at real steps, 0 at padding (None: all real).
        tau: Gumbel-softmax temperature (> 0); hard: one-hot decisions, soft gradient.
        noise: (B, T, 2) Gumbel noise (array), or None for none (then the sample is the
            softmax of ``log p / tau``, and its one-hot is the argmax of p).
        force: (B, T) bool/int decisions (1 = skim) used instead of the sample, or None.

    Returns:
        ``(hs, h_T, c_T, logp, r)``: states (B, T, d), final state (B, d) twice, the log
        decision probabilities (B, T, 2) and the decision weights used (B, T, 2). At padding
        steps ``logp`` and ``r`` are computed but change nothing: mask them out.
    """
    fn = "skim_rnn"
    B, T, dx = check_sequence(fn, x)
    if not isinstance(w_hh, Tensor) or w_hh.ndim != 2 or w_hh.shape[0] != 4 * w_hh.shape[1]:
        fail(fn, f"w_hh must be a (4d, d) Tensor, got {getattr(w_hh, 'shape', w_hh)!r}",
             TypeError if not isinstance(w_hh, Tensor) else ValueError)
    if not isinstance(w_hh_small, Tensor) or w_hh_small.ndim != 2:
        fail(fn, f"w_hh_small must be a (4d', d) Tensor, got "
             f"{getattr(w_hh_small, 'shape', w_hh_small)!r}",
             TypeError if not isinstance(w_hh_small, Tensor) else ValueError)
    d, ds = w_hh.shape[1], w_hh_small.shape[0] // 4
    if not 1 <= ds <= d or w_hh_small.shape[0] != 4 * ds:
        fail(fn, f"w_hh_small must have shape (4d', d) with 1 <= d' <= d = {d}, got "
             f"{w_hh_small.shape}")
    for name, a, shape in (("w_ih", w_ih, (4 * d, dx)), ("w_hh", w_hh, (4 * d, d)),
                           ("bias", bias, (4 * d,)), ("w_ih_small", w_ih_small, (4 * ds, dx)),
                           ("w_hh_small", w_hh_small, (4 * ds, d)),
                           ("bias_small", bias_small, (4 * ds,)),
                           ("w_dec", w_dec, (2, dx + d)), ("b_dec", b_dec, (2,))):
        check_param(fn, name, a, shape, x.dtype)
    zeros = Tensor(np.zeros((B, d), x.dtype), _copy=False)
    h0, c0 = zeros if h0 is None else h0, zeros if c0 is None else c0
    check_param(fn, "h0", h0, (B, d), x.dtype)
    check_param(fn, "c0", c0, (B, d), x.dtype)
    pad = step_weights(fn, mask, B, T, x.dtype)
    force = step_array(fn, "force", force, B, T, "biu")
    if force is not None and not np.isin(force, (0, 1)).all():
        fail(fn, "force must hold only 0 (read) and 1 (skim)")
    tau = check_float(fn, "tau", tau, low=0.0, low_open=True)
    if not isinstance(hard, (bool, np.bool_)):
        fail(fn, f"hard must be a bool, got {type(hard).__name__}", TypeError)
    if noise is None:
        noise = np.zeros((B, T, 2), x.dtype)
    noise = noise.data if isinstance(noise, Tensor) else noise
    if not isinstance(noise, np.ndarray) or noise.shape != (B, T, 2):
        fail(fn, f"noise must be an array of shape (B, T, 2) = {(B, T, 2)}, got "
             f"{getattr(noise, 'shape', type(noise).__name__)}")
    # one wide LSTM (both cells) plus the decision logits: one product per step
    order = wide_order(d, ds)
    w_x = cat([w_ih, w_ih_small, w_dec[:, :dx]], 0)[order]
    w_h = cat([w_hh, w_hh_small, w_dec[:, dx:]], 0)[order]
    b = cat([bias, bias_small, b_dec], 0)[order]
    xz = matmul(x, transpose(w_x, 0, 1)) + b
    out = SkimRNNFunction.apply(xz, h0, c0, w_h, ds=ds, noise=noise.astype(x.dtype, copy=False),
                                pad=pad, tau=tau, hard=bool(hard), force=force)
    return (out[:, 1:, :d], out[:, T, :d], out[:, T, d:2 * d], out[:, 1:, 2 * d:2 * d + 2],
            out[:, 1:, 2 * d + 2:])


def skim_penalty(logp: Tensor, mask=None) -> Tensor:
    """The skim encouragement: ``mean over real steps of -log p_t(skim)``.

    ``logp`` (B, T, 2) from :func:`skim_rnn`; ``mask`` (B, T), 1 at real steps.
    """
    fn = "skim_penalty"
    if not isinstance(logp, Tensor) or logp.ndim != 3 or logp.shape[2] != 2:
        fail(fn, f"logp must be a (B, T, 2) Tensor, got "
             f"{getattr(logp, 'shape', type(logp).__name__)}",
             TypeError if not isinstance(logp, Tensor) else ValueError)
    B, T, _ = logp.shape
    pad = step_weights(fn, mask, B, T, logp.dtype)
    return -_sum(logp[:, :, 1] * pad) / max(1.0, float(pad.sum()))


# ---- the cost model --------------------------------------------------------------------------

def small_cell_flops(input_size: int, hidden_size: int, small_size: int) -> int:
    """One skim step's cell: d' LSTM units on ``[x; h]`` (d_x + d inputs)."""
    fn = "small_cell_flops"
    dx = check_int(fn, "input_size", input_size, min_value=1)
    d = check_int(fn, "hidden_size", hidden_size, min_value=1)
    ds = check_int(fn, "small_size", small_size, min_value=1)
    return 2 * 4 * ds * (dx + d) + 13 * ds


def decision_flops(input_size: int, hidden_size: int) -> int:
    """One step's decision: two logits on ``[x; h]``, a two-way softmax and the comparison."""
    check_int("decision_flops", "input_size", input_size, min_value=1)
    check_int("decision_flops", "hidden_size", hidden_size, min_value=1)
    return linear_flops(input_size + hidden_size, 2) + 4


def skim_rnn_flops(skims, input_size: int, hidden_size: int, small_size: int, mask=None,
                   num_classes: int = 0) -> np.ndarray:
    """FLOPs per sequence (int64 (B,)) of hard decisions ``skims`` (B, T) (True = skimmed).

    ``#read · lstm_cell_flops + #skim · small_cell_flops + #steps · decision_flops`` over the
    real steps (``mask``, None: all); ``num_classes > 0`` adds the head once per sequence.
    """
    fn = "skim_rnn_flops"
    skims = np.asarray(skims)
    if skims.ndim != 2 or skims.dtype.kind not in "biu":
        fail(fn, f"skims must be a (B, T) bool array, got {skims.dtype} of shape {skims.shape}")
    real = np.ones(skims.shape, bool) if mask is None else np.asarray(mask, bool)
    if real.shape != skims.shape:
        fail(fn, f"mask must have the shape of skims {skims.shape}, got {real.shape}")
    skimmed = (skims.astype(bool) & real).sum(axis=1)
    steps = real.sum(axis=1)
    dx, d = input_size, hidden_size
    head = linear_flops(d, num_classes) if num_classes else 0
    return ((steps - skimmed) * lstm_cell_flops(dx, d)
            + skimmed * small_cell_flops(dx, d, small_size)
            + steps * decision_flops(dx, d) + head).astype(np.int64)


# ---- modules ---------------------------------------------------------------------------------

def _uniform(shape, bound, rng, dtype) -> Parameter:
    return init.uniform_(Parameter(np.empty(shape, dtype)), -bound, bound, rng=rng)


class SkimLSTM(Module):
    """The Skim-RNN layer with LSTM cells of sizes d (big) and d' (small).

    ``forward(x (B, T, d_x), mask=None, state=None, force=None)`` ->
    ``(hs, (h_T, c_T), logp, r)``. In training mode the decisions are Gumbel-softmax samples at
    temperature ``tau`` (straight-through one-hot if ``hard``), drawn from the layer's
    generator; in eval mode they are the argmax of p (no noise). Set ``tau`` from a schedule
    during training. ``hard_forward`` is the compiled inference path.
    """

    def __init__(self, input_size: int, hidden_size: int, small_size: int, tau: float = 1.0,
                 hard: bool = True, rng=None, dtype=np.float32):
        super().__init__()
        fn = "SkimLSTM"
        self.input_size = check_int(fn, "input_size", input_size, min_value=1)
        self.hidden_size = check_int(fn, "hidden_size", hidden_size, min_value=1)
        self.small_size = check_int(fn, "small_size", small_size, min_value=1)
        if small_size > hidden_size:
            fail(fn, f"small_size must be <= hidden_size = {hidden_size}, got {small_size}")
        self.tau = check_float(fn, "tau", tau, low=0.0, low_open=True)
        if not isinstance(hard, (bool, np.bool_)):
            fail(fn, f"hard must be a bool, got {type(hard).__name__}", TypeError)
        self.hard = bool(hard)
        self.rng = get_rng(rng, fn)
        d, ds, dx = hidden_size, small_size, input_size
        bound = 1.0 / math.sqrt(d)
        self.weight_ih = _uniform((4 * d, dx), bound, self.rng, dtype)
        self.weight_hh = _uniform((4 * d, d), bound, self.rng, dtype)
        self.bias = _uniform((4 * d,), bound, self.rng, dtype)
        bound = 1.0 / math.sqrt(ds)
        self.small_weight_ih = _uniform((4 * ds, dx), bound, self.rng, dtype)
        self.small_weight_hh = _uniform((4 * ds, d), bound, self.rng, dtype)
        self.small_bias = _uniform((4 * ds,), bound, self.rng, dtype)
        self.decision_weight = _uniform((2, dx + d), 1.0 / math.sqrt(dx + d), self.rng, dtype)
        self.decision_bias = Parameter(np.zeros(2, dtype))  # p(skim) = 1/2 to start with

    def _weights(self):
        return (self.weight_ih, self.weight_hh, self.bias, self.small_weight_ih,
                self.small_weight_hh, self.small_bias, self.decision_weight, self.decision_bias)

    def forward(self, x: Tensor, mask=None, state=None, force=None):
        h0 = c0 = None
        if state is not None:
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                fail("SkimLSTM", f"state must be a pair (h, c) or None, got "
                     f"{type(state).__name__}", TypeError)
            h0, c0 = state
        noise = None
        if self.training and force is None and isinstance(x, Tensor) and x.ndim == 3:
            noise = gumbel_noise((*x.shape[:2], 2), x.dtype, self.rng)
        hard = self.hard if self.training else True
        hs, h_T, c_T, logp, r = skim_rnn(x, h0, c0, *self._weights(), mask=mask, tau=self.tau,
                                         hard=hard, noise=noise, force=force)
        return hs, (h_T, c_T), logp, r

    def hard_weights(self):
        """The weights laid out once for :meth:`hard_forward` (see ``hard_weights``)."""
        return hard_weights(*(p.data for p in self._weights()))

    def hard_forward(self, x: np.ndarray, lengths: np.ndarray, threshold: float = 0.5,
                     weights=None):
        """Hard decisions, only the chosen cell run: ``(h_T, c_T, skims, p_skim)`` arrays."""
        weights = self.hard_weights() if weights is None else weights
        h0 = np.zeros((x.shape[0] if isinstance(x, np.ndarray) and x.ndim == 3 else 0,
                       self.hidden_size), self.weight_ih.dtype)
        return skim_hard_forward(x, lengths, h0, h0, weights, threshold)

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, small_size={self.small_size}, "
                f"tau={self.tau}, hard={self.hard}")


class SkimRNNClassifier(Module):
    """Token ids -> embedding -> :class:`SkimLSTM` -> linear head on the last real state.

    ``forward(tokens (B, T) int, mask (B, T) bool) -> (logits (B, C), (logp, r))`` is the
    trainable path; ``infer(tokens, lengths, threshold)`` the hard one.
    """

    def __init__(self, vocab_size: int, num_classes: int, embed_dim: int = 32,
                 hidden_size: int = 64, small_size: int = 8, tau: float = 1.0,
                 hard: bool = True, rng=None, dtype=np.float32):
        super().__init__()
        fn = "SkimRNNClassifier"
        rng = get_rng(rng, fn)
        self.num_classes = check_int(fn, "num_classes", num_classes, min_value=2)
        self.embed = Embedding(vocab_size, embed_dim, padding_idx=0, rng=rng, dtype=dtype)
        self.skim = SkimLSTM(embed_dim, hidden_size, small_size, tau, hard, rng=rng,
                             dtype=dtype)
        self.head = Linear(hidden_size, num_classes, rng=rng, dtype=dtype)

    def forward(self, tokens, mask=None, force=None):
        _, (h_T, _), logp, r = self.skim(self.embed(tokens), mask=mask, force=force)
        return self.head(h_T), (logp, r)

    def flops(self, skims, mask=None) -> np.ndarray:
        """FLOPs per sequence of decisions ``skims`` (B, T), head included."""
        s = self.skim
        return skim_rnn_flops(skims, s.input_size, s.hidden_size, s.small_size, mask,
                              self.num_classes)

    def infer(self, tokens, lengths, threshold: float = 0.5, weights=None):
        """Hard inference. Returns a dict: ``logits`` (B, C), ``skims`` (B, T) bool (the
        decisions; False at padding), ``p_skim`` (B, T), ``flops`` (B,) per sequence. Charges
        the FLOPs to any active :class:`tinydyn.measure.FlopCounter`."""
        fn = "SkimRNNClassifier.infer"
        tokens, lengths = token_batch(fn, tokens, lengths, self.embed.weight.shape[0])
        x = self.embed.weight.data[tokens]
        h, _, skims, p_skim = self.skim.hard_forward(x, lengths, threshold, weights)
        logits = h @ self.head.weight.data.T + self.head.bias.data
        mask = np.arange(tokens.shape[1])[None, :] < lengths[:, None]
        flops = self.flops(skims, mask)
        add_flops(int(flops.sum()), "Skim-RNN")
        return {"logits": logits, "skims": skims, "p_skim": p_skim, "flops": flops}

    def predictor(self, threshold: float = 0.5):
        """Batch-1 prediction ``tokens (T,) -> logits (1, C)`` on the compiled hard path. The
        weights are checked and laid out once, as an inference engine would do, so a call pays
        only for the embedding lookup, the loop and the head."""
        weights, cut = self.skim.hard_weights(), threshold_cut(threshold)
        table, head_w, head_b = (self.embed.weight.data, self.head.weight.data.T,
                                 self.head.bias.data)
        zeros = np.zeros((1, self.skim.hidden_size), table.dtype)
        kernel = dispatch(skim_hard_numba, skim_hard_numpy)

        def predict(tokens):
            T = len(tokens)
            h, c = zeros.copy(), zeros.copy()
            kernel(table[tokens][None], np.array([T]), h, c, *weights, cut,
                   np.empty((1, T), np.int8), np.empty((1, T), table.dtype))
            return h @ head_w + head_b

        return predict
