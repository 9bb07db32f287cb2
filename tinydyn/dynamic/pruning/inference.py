"""Hard inference that physically removes tokens, for a batch, three ways.

After each decision the pruned tokens' rows are *gone*: the next layer's tensors are
(B, n_next, D), its attention (B, H, n_next, n_next). In a batch the sequences keep different
numbers of tokens, so the rows must be regrouped:

* ``"repack"`` — per decision, gather every sequence's kept rows to the front (order kept,
  [CLS] first) and cut the batch to the longest kept length; shorter sequences are padded and
  masked. One set of big matrix products per layer; the waste is the padding up to the longest.
* ``"loop"`` — each sequence alone (batch 1, no padding at all): no wasted FLOPs, but every
  layer's fixed cost (Python, op dispatch, small GEMMs) is paid B times.
* ``"masked"`` — nothing removed: the full-length batch, pruned tokens excluded as keys by
  the mask. Saves nothing; it is the reference the other two must equal, and what a runtime
  without compaction would do.

Returns the logits, each layer's surviving original positions (the decisions), the per-layer
token counts and every position's final state (a pruned token's state when it left).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydyn._checks import fail
from tinydyn.autograd.function import no_grad
from tinydyn.autograd.ops_index import take_along_dim
from tinydyn.dynamic.pruning.common import check_batch, encoder_layer, with_cls
from tinydyn.dynamic.pruning.fast import fast_head, fast_layer
from tinydyn.dynamic.pruning.models import EncoderClassifier, PruningClassifier

__all__ = ["COMPACTIONS", "HardResult", "compact_rows", "fast_forward", "hard_forward"]

COMPACTIONS = ("repack", "loop", "masked")


@dataclass
class HardResult:
    """logits (B, C); positions: per layer l, a list of B int arrays, the original positions
    ([CLS] = 0, token t at t + 1) layer l ran on; counts (B, L) their sizes; hidden (B, T+1, D)
    final states by original position (zeros at padding)."""

    logits: np.ndarray
    positions: list
    counts: np.ndarray
    hidden: np.ndarray


def compact_rows(keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Repack plan for a padded batch: keep (B, n) bool -> ``(rows (B, w), valid (B, w))``
    with w the longest kept count: row b lists its kept rows first, in order (a stable sort
    of "not kept"), then not-kept rows as filler, which ``valid`` marks False."""
    width = max(1, int(keep.sum(axis=1).max()))
    rows = np.argsort(~keep, axis=1, kind="stable")[:, :width]
    return rows, np.take_along_axis(keep, rows, axis=1)


def _check_model(fn: str, model) -> None:
    if not isinstance(model, PruningClassifier):
        fail(fn, f"model must be a PruningClassifier (LTP, Transkimmer, PoWER-BERT), got "
             f"{type(model).__name__}", TypeError)
    if model.training:
        fail(fn, "model is in training mode; hard inference needs model.eval() (decisions "
             "are then deterministic and exactly 0 or 1)")


def hard_forward(model: PruningClassifier, tokens, lengths, compaction: str = "repack",
                 fast: bool = False) -> HardResult:
    """Run ``model`` (in eval mode) on tokens (B, T) int with lengths (B,), dropping pruned
    tokens from the tensors (see the module docstring for ``compaction``). ``fast``: the
    layers run on raw arrays (:mod:`~tinydyn.dynamic.pruning.fast`), not through the
    autograd ops; same results up to float rounding, same FLOPs charged."""
    fn = "hard_forward"
    _check_model(fn, model)
    if compaction not in COMPACTIONS:
        fail(fn, f"compaction must be one of {COMPACTIONS}, got {compaction!r}")
    if not isinstance(fast, bool):
        fail(fn, f"fast must be a bool, got {type(fast).__name__}", TypeError)
    tokens, lengths = check_batch(fn, tokens, lengths, model.vocab_size)
    with no_grad():
        if compaction != "loop":
            return _run(model, tokens, lengths, remove=compaction == "repack", fast=fast)
        parts = [_run(model, tokens[b:b + 1, :lengths[b]], lengths[b:b + 1], remove=True,
                      fast=fast) for b in range(len(tokens))]
    T = tokens.shape[1] + 1
    hidden = np.zeros((len(tokens), T, model.d_model), dtype=parts[0].hidden.dtype)
    for b, p in enumerate(parts):
        hidden[b, :p.hidden.shape[1]] = p.hidden[0]
    return HardResult(np.concatenate([p.logits for p in parts]),
                      [[p.positions[l][0] for p in parts] for l in range(model.num_layers)],
                      np.concatenate([p.counts for p in parts]), hidden)


def fast_forward(model: EncoderClassifier, tokens, lengths) -> np.ndarray:
    """The full encoder classifier (eval mode) on raw arrays: logits (B, C). The baseline
    that ``hard_forward(..., fast=True)`` is compared with."""
    fn = "fast_forward"
    if not isinstance(model, EncoderClassifier):
        fail(fn, f"model must be an EncoderClassifier, got {type(model).__name__}", TypeError)
    if model.training:
        fail(fn, "model is in training mode; call model.eval() first")
    tokens, lengths = check_batch(fn, tokens, lengths, model.vocab_size)
    ids, pad = with_cls(tokens, lengths, model.cls_id)
    x = model.embedding.weight.data[ids]
    for layer in model.encoder.layers:
        x, _ = fast_layer(layer, x, pad)
    return fast_head(model.head, x[:, 0])


def _run(model, tokens, lengths, remove: bool, fast: bool = False) -> HardResult:
    if fast:
        ids, pad = with_cls(tokens, lengths, model.cls_id)
        x = model.embedding.weight.data[ids]
    else:
        ids, pad, x, lengths = model.embed("hard_forward", tokens, lengths)
    B, T = ids.shape
    positions = np.broadcast_to(np.arange(T), (B, T)).copy()
    valid = ~pad
    hidden = np.zeros((B, T, model.d_model), dtype=x.dtype)
    rows = np.arange(B)[:, None]
    counts = np.zeros((B, model.num_layers), dtype=np.int64)
    kept_positions, probs = [], None
    for l, layer in enumerate(model.encoder.layers):
        if l > 0:
            prunable = valid.copy()
            prunable[:, 0] = False  # row 0 is [CLS]: it is never pruned, so never moves
            if fast:
                m = model.decide_arrays(l - 1, x, probs, ~valid, prunable, lengths)
            else:
                m = model.decide(l - 1, x, probs, ~valid, None, prunable, lengths).data > 0.5
            keep = m & valid
            leaving = valid & ~keep
            if leaving.any():  # a pruned token's output is its state when it left
                states = x if fast else x.data
                hidden[np.nonzero(leaving)[0], positions[leaving]] = states[leaving]
            if remove and fast and B == 1:  # one sequence: no padding, a plain row gather
                kept = np.flatnonzero(keep[0])
                x, positions = x[:, kept], positions[:, kept]
                valid = np.ones((1, len(kept)), bool)
            elif remove:
                order, valid = compact_rows(keep)
                if fast:
                    x = np.take_along_axis(x, order[:, :, None], axis=1)
                else:
                    x = take_along_dim(x, order[:, :, None], dim=1)
                positions = positions[rows, order]
            else:
                valid = keep
        kept_positions.append([positions[b][valid[b]] for b in range(B)])
        counts[:, l] = valid.sum(axis=1)
        if fast:
            x, probs = fast_layer(layer, x, ~valid)
        else:
            x, probs = encoder_layer(layer, x, ~valid)
    final = x if fast else x.data
    hidden[np.nonzero(valid)[0], positions[valid]] = final[valid]
    logits = fast_head(model.head, final[:, 0]) if fast else model.head(x[:, 0]).data
    return HardResult(logits, kept_positions, counts, hidden)
