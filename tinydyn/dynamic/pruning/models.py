"""The baseline encoder classifier and the training-time loop shared by every pruning method.

    tokens (B, T) --prepend [CLS]--> ids (B, T+1) --embed--> x_0
    for layer l = 0 .. L-1:
        if l > 0: m_l = decide(l - 1, x, probs_{l-1})       (B, T+1) in [0, 1]; 1 at CLS, pad
                  keep_l = keep_{l-1} * m_l                 a token out is out for good
        x_l, probs_l = layer(x, keys weighted by keep_l)
    logits = head(x_L[:, 0])                                the [CLS] token's final state

Pruning decisions sit *between* layers (L - 1 of them): the first layer always sees every
token, and a decision after the last layer could save nothing. How a method decides (LTP:
attention received against a learned threshold; Transkimmer: a predictor; PoWER-BERT: a fixed
count of the best-scored tokens), how a token's state is carried once pruned, and how keys are
taken out (a soft score bias in training, an exact mask once decisions are hard) are the
subclass hooks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tinydyn._checks import check_int, fail
from tinydyn.autograd.ops_shape import cat
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.pruning.common import check_batch, encoder_layer, with_cls
from tinydyn.dynamic.pruning.fast import charge
from tinydyn.nn import functional as F
from tinydyn.nn.attention import TransformerEncoder
from tinydyn.nn.layers import Embedding, Linear
from tinydyn.nn.module import Module

__all__ = ["EncoderClassifier", "PruningClassifier", "PruningOutput", "ltp_scores",
           "ltp_scores_array"]



@dataclass
class PruningOutput:
    """What a training-time forward returns.

    logits (B, C); keep: the L - 1 cumulative keep values entering layers 1..L-1, each a
    (B, T+1) ndarray (1 at [CLS] and padding); kept_fraction: Tensor (B, L - 1), the share of
    each sequence's real tokens ([CLS] excluded) still in at each decision, differentiable;
    penalty: its mean, the L1 mask penalty of LTP and the skim loss of Transkimmer.
    """

    logits: Tensor
    keep: list
    kept_fraction: Tensor | None
    penalty: Tensor | None


def ltp_scores_array(probs: np.ndarray, real: np.ndarray) -> np.ndarray:
    """:func:`ltp_scores` on raw arrays with 0/1 query weights ``real`` (B, T) bool; charges
    the same FLOPs as the ops it replaces (weight, sum over heads and queries, divide)."""
    w = real.astype(probs.dtype)
    received = (probs * w[:, None, :, None]).sum(axis=(1, 2))
    charge(2 * probs.size + received.size, "LTP score")
    return received / (probs.shape[1] * w.sum(axis=1, keepdims=True))


def ltp_scores(probs: Tensor, query_weight) -> Tensor:
    """LTP's importance: attention each token *receives*, averaged over heads and queries.

    probs (B, H, T, T) (rows are queries); query_weight (B, T) >= 0, an ndarray or a Tensor
    (the soft keep values in training, so the gradient also flows through who votes), 0 at
    padding and at pruned queries. Returns s (B, T) = sum_h sum_j w_j A[h, j, i] /
    (H sum_j w_j); with 0/1 weights each sequence's scores over its kept keys sum to 1.
    """
    B, H, T, _ = probs.shape
    if isinstance(query_weight, Tensor):
        w = query_weight
        received = (probs * w.reshape((B, 1, T, 1))).sum(dim=(1, 2))
        return received / (w.sum(dim=1, keepdim=True) * float(H))
    # constant weights (hard decisions): the normaliser is bookkeeping, not model FLOPs
    w = np.asarray(query_weight, dtype=probs.dtype)
    received = (probs * Tensor(w[:, None, :, None])).sum(dim=(1, 2))
    return received / Tensor(H * w.sum(axis=1, keepdims=True))


class EncoderClassifier(Module):
    """The plain baseline: token embedding, a [CLS] token, a post-norm Transformer encoder and a
    linear head on [CLS]'s final state. No positions: the tasks are bags of tokens.

    Token id ``vocab_size`` is [CLS] (so the embedding has vocab_size + 1 rows); id 0 is
    padding. ``forward(tokens (B, T) int, lengths (B,) int) -> logits (B, num_classes)``.
    """

    def __init__(self, vocab_size: int, num_classes: int, d_model: int = 32, nhead: int = 2,
                 num_layers: int = 4, dim_feedforward: int = 64, dropout: float = 0.0,
                 rng=None, dtype=np.float32):
        super().__init__()
        fn = type(self).__name__
        self.vocab_size = check_int(fn, "vocab_size", vocab_size, min_value=2)
        self.num_classes = check_int(fn, "num_classes", num_classes, min_value=2)
        self.num_layers = check_int(fn, "num_layers", num_layers, min_value=2)
        rng = get_rng(rng, fn)
        self.cls_id = vocab_size
        self.embedding = Embedding(vocab_size + 1, d_model, padding_idx=0, rng=rng, dtype=dtype)
        self.encoder = TransformerEncoder(num_layers, d_model, nhead, dim_feedforward, dropout,
                                          rng=rng, dtype=dtype)
        self.head = Linear(d_model, num_classes, rng=rng, dtype=dtype)
        self.d_model, self.nhead, self.dim_feedforward = d_model, nhead, dim_feedforward

    def embed(self, fn: str, tokens, lengths):
        """Checked inputs -> (ids (B, T+1), pad (B, T+1) bool, x (B, T+1, D), lengths)."""
        tokens, lengths = check_batch(fn, tokens, lengths, self.vocab_size)
        ids, pad = with_cls(tokens, lengths, self.cls_id)
        return ids, pad, self.embedding(ids), lengths

    def forward(self, tokens, lengths) -> Tensor:
        _, pad, x, _ = self.embed(f"{type(self).__name__}.forward", tokens, lengths)
        return self.head(self.encoder(x, key_padding_mask=pad)[:, 0])

    def load_encoder_from(self, other: EncoderClassifier) -> None:
        """Copy the embedding, encoder and head of a trained classifier of the same shape (a
        pruning model starts from the baseline, as the papers fine-tune a trained BERT)."""
        mine = self.state_dict()
        for name, value in other.state_dict().items():
            if name not in mine or mine[name].shape != value.shape:
                fail(f"{type(self).__name__}.load_encoder_from",
                     f"other must be an EncoderClassifier of the same shape; {name!r} differs")
        self.load_state_dict({**mine, **other.state_dict()})


class PruningClassifier(EncoderClassifier):
    """An encoder classifier that drops tokens between layers (subclasses say how)."""

    @property
    def num_decisions(self) -> int:
        return self.num_layers - 1

    # ---- hooks -------------------------------------------------------------------------------

    def decide(self, d: int, x: Tensor, probs: Tensor, pad: np.ndarray, keep: Tensor | None,
               prunable: np.ndarray, lengths: np.ndarray) -> Tensor:
        """Decision ``d`` (before layer d + 1) on the current states x (B, T, D) and the last
        layer's attention probs (B, H, T, T): a Tensor (B, T) in [0, 1], exactly 1 wherever
        ``prunable`` (real tokens still in, [CLS] excluded) is False. ``keep`` is the
        cumulative keep so far (None: all in); ``lengths`` the real lengths ([CLS] excluded).
        In hard mode the result is a constant 0/1 Tensor built outside the autograd ops (the
        hard path charges its cost to the FLOP counter itself)."""
        raise NotImplementedError

    def hard_decisions(self) -> bool:
        """True when every decision is exactly 0 or 1 (keys are then masked exactly)."""
        raise NotImplementedError

    def decide_arrays(self, d: int, x: np.ndarray, probs: np.ndarray, pad: np.ndarray,
                      prunable: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """The hard decision on raw arrays (the fast inference path): (B, T) bool keep.
        Subclasses compute it with NumPy; this default goes through :meth:`decide`."""
        return self.decide(d, Tensor(x), Tensor(probs), pad, None, prunable, lengths).data > 0.5

    def carry(self, new: Tensor, old: Tensor, keep: Tensor | None, m: Tensor | None) -> Tensor:
        """A layer's output as the next layer's input (default: the new state)."""
        return new

    def gate_before(self, x: Tensor, m: Tensor) -> Tensor:
        """What happens to the states when decision ``m`` is taken (default: nothing)."""
        return x

    # ---- the loop ----------------------------------------------------------------------------

    def forward(self, tokens, lengths) -> PruningOutput:  # type: ignore[override]
        fn = f"{type(self).__name__}.forward"
        _, pad, x, lengths = self.embed(fn, tokens, lengths)
        prunable = ~pad
        prunable[:, 0] = False  # [CLS] is never pruned
        keep, probs, kept, fractions = None, None, [], []
        for l, layer in enumerate(self.encoder.layers):
            m = None
            if l > 0:
                now = prunable if keep is None else prunable & (keep.data > 0)
                m = self.decide(l - 1, x, probs, pad, keep, now, lengths)
                keep = m if keep is None else keep * m
                x = self.gate_before(x, m)
                kept.append(keep.data.copy())
                fractions.append((keep * Tensor(prunable.astype(keep.dtype))).sum(
                    dim=1, keepdim=True) / Tensor(lengths[:, None].astype(keep.dtype)))
            if keep is None:
                new, probs = encoder_layer(layer, x, pad)
            elif self.hard_decisions():
                new, probs = encoder_layer(layer, x, pad | (keep.data == 0))
            else:
                new, probs = encoder_layer(layer, x, pad, self.key_bias(keep))
            x = self.carry(new, x, keep, m)
        logits = self.head(x[:, 0])
        if fractions:
            kept_fraction = cat(fractions, dim=1)
            penalty = kept_fraction.mean()
        else:
            kept_fraction = penalty = None
        return PruningOutput(logits, kept, kept_fraction, penalty)

    def key_bias(self, keep: Tensor) -> Tensor:
        """Soft key removal (B, 1, 1, T): log(keep), in unscaled-score units (times
        sqrt(d_head)), so the softmax weights each key by its keep value: keep_j e^s / sum.
        A key fully in gets a bias of exactly 0 (log 1), so nothing changes bit for bit; a key
        out (keep = 0, clipped at 1e-30) keeps a weight below 1e-30. Its gradient with respect
        to keep is 1 / keep times a softmax weight proportional to keep: bounded. (An additive
        -1e4 * (1 - keep), as a 0/1 attention mask is often applied, sends 1e4 times the score
        gradient into the decisions and swamps the skim loss.)"""
        B, T = keep.shape
        scale = math.sqrt(self.d_model // self.nhead)
        return (F.log(F.clip(keep, 1e-30, None)) * scale).reshape((B, 1, 1, T))
