"""What every token-pruning model shares: checked token batches with a classification token, and
one encoder layer run with its attention probabilities and an optional mask on the keys.

Shapes: B batch, T tokens (the classification token included, at position 0), D model width,
H heads. ``pad`` (B, T) bool is True at padding (torch's ``key_padding_mask`` convention).

:func:`encoder_layer` runs the same ops in the same order as
:class:`tinydyn.nn.attention.TransformerEncoderLayer`, reading that layer's own parameters, so
with no extra key mask its output is bit-for-bit the plain layer's (a test checks it). Pruning
adds two things the plain layer does not offer: a *soft* bias on the attention scores of each
key (a token on its way out counts less as a key) and the per-head probabilities (the
importance score is built from them).
"""

from __future__ import annotations

import math

import numpy as np

from tinydyn._checks import fail
from tinydyn.autograd.ops_attention import masked_softmax
from tinydyn.autograd.ops_linalg import linear
from tinydyn.autograd.tensor import Tensor
from tinydyn.nn import functional as F
from tinydyn.nn.attention import TransformerEncoderLayer

__all__ = ["check_batch", "encoder_layer", "pad_tokens", "with_cls"]


def pad_tokens(sequences) -> tuple[np.ndarray, np.ndarray]:
    """Ragged 1-D int sequences -> ``(tokens (B, T_max) int64 padded with 0, lengths (B,))``."""
    seqs = [np.asarray(s) for s in sequences]
    if not seqs:
        fail("pad_tokens", "sequences must hold at least one sequence, got none")
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    tokens = np.zeros((len(seqs), int(lengths.max())), dtype=np.int64)
    for i, s in enumerate(seqs):
        if s.ndim != 1:
            fail("pad_tokens", f"sequences[{i}] must be 1-D, got shape {s.shape}")
        tokens[i, :len(s)] = s
    return tokens, lengths


def check_batch(fn: str, tokens, lengths, vocab_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``tokens`` (B, T) ints in [0, vocab_size) and ``lengths`` (B,) in [1, T]."""
    tokens = tokens.data if isinstance(tokens, Tensor) else tokens
    lengths = lengths.data if isinstance(lengths, Tensor) else lengths
    if not isinstance(tokens, np.ndarray) or not np.issubdtype(tokens.dtype, np.integer):
        fail(fn, f"tokens must be an integer ndarray (B, T), got "
             f"{getattr(tokens, 'dtype', type(tokens).__name__)}", TypeError)
    if tokens.ndim != 2 or tokens.shape[0] == 0 or tokens.shape[1] == 0:
        fail(fn, f"tokens must have shape (B, T) with B, T >= 1, got {tokens.shape}")
    if tokens.min() < 0 or tokens.max() >= vocab_size:
        bad = tokens[(tokens < 0) | (tokens >= vocab_size)][0]
        fail(fn, f"tokens must be ids in [0, {vocab_size}) (the vocabulary), got {int(bad)}")
    if not isinstance(lengths, np.ndarray) or not np.issubdtype(lengths.dtype, np.integer):
        fail(fn, f"lengths must be an integer ndarray (B,), got "
             f"{getattr(lengths, 'dtype', type(lengths).__name__)}", TypeError)
    if lengths.shape != (tokens.shape[0],):
        fail(fn, f"lengths must have shape (B,) = ({tokens.shape[0]},), got {lengths.shape}")
    if lengths.min() < 1 or lengths.max() > tokens.shape[1]:
        fail(fn, f"lengths must be in [1, T] = [1, {tokens.shape[1]}] (T = tokens.shape[1]), "
             f"got min {int(lengths.min())} and max {int(lengths.max())}")
    return tokens.astype(np.int64, copy=False), lengths.astype(np.int64, copy=False)


def with_cls(tokens: np.ndarray, lengths: np.ndarray, cls_id: int):
    """Prepend the classification token: ids (B, T + 1) and pad (B, T + 1) bool (True = padding;
    computed from the lengths, since a real token may equal the pad id)."""
    B, T = tokens.shape
    ids = np.empty((B, T + 1), dtype=np.int64)
    ids[:, 0] = cls_id
    ids[:, 1:] = tokens
    pad = np.arange(T + 1)[None, :] > lengths[:, None]
    ids[pad] = 0
    return ids, pad


def _attend(mha, x: Tensor, pad: np.ndarray, key_bias: Tensor | None):
    """MultiHeadAttention.forward's ops (self-attention), plus ``key_bias`` (B, 1, 1, T) added
    to the raw scores: 0 leaves a key as it is (bit for bit), very negative removes it."""
    B, T, D = x.shape
    q, k, v = mha._project(x, 0), mha._project(x, 1), mha._project(x, 2)
    scores = F.matmul(q, F.transpose(k, -1, -2))  # (B, H, T, T)
    if key_bias is not None:
        scores = scores + key_bias
    probs = masked_softmax(scores, pad, 1.0 / math.sqrt(mha.head_dim))
    context = F.matmul(mha.attn_dropout(probs), v)
    merged = F.reshape(F.permute(context, (0, 2, 1, 3)), (B, T, D))
    return linear(merged, mha.out_proj.weight, mha.out_proj.bias), probs


def encoder_layer(layer: TransformerEncoderLayer, x: Tensor, pad: np.ndarray,
                  key_bias: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """One encoder layer on x (B, T, D) -> ``(out (B, T, D), probs (B, H, T, T))``.

    ``pad`` (B, T) bool excludes keys exactly (weight 0); ``key_bias`` (B, 1, 1, T), in units
    of the *unscaled* scores q.k, shifts each key's scores (the soft, differentiable way of
    taking a token out). Same ops as ``layer(x, key_padding_mask=pad)`` when it is None.
    """
    if not isinstance(layer, TransformerEncoderLayer):
        fail("encoder_layer", f"layer must be a TransformerEncoderLayer, got "
             f"{type(layer).__name__}", TypeError)
    if layer.norm_first:
        attended, probs = _attend(layer.self_attn, layer.norm1(x), pad, key_bias)
        x = x + layer.dropout1(attended)
        x = x + layer._feedforward_block(layer.norm2(x))
    else:
        attended, probs = _attend(layer.self_attn, x, pad, key_bias)
        x = layer.norm1(x + layer.dropout1(attended))
        x = layer.norm2(x + layer._feedforward_block(x))
    return x, probs
