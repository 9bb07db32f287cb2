"""FLOPs per input of a token-pruning classifier, from the decisions it took (2 per multiply-add).

With n_l tokens entering layer l ([CLS] included), for one input::

    layer l          transformer_layer_flops(n_l, D, H, F)    attention ~ n^2 D, the rest ~ n D^2
    decision d       LTP, PoWER-BERT: 2 H n_d^2 + n_d  (weight the attention, sum, divide)
                                      + n_d            (compare with theta / rank)
                     Transkimmer:     8 n D (LayerNorm) + linear(D, P) + 8 n P (GELU)
                                      + linear(P, 2) + n (compare the two logits)
                     where n_d = n_d-th layer's tokens (the decision reads layer d's output)
    head             linear(D, C) on [CLS]

The embedding lookup and the gathers that remove rows move data and cost nothing, as in
:mod:`tinydyn.measure.flops`; a test checks these terms against the op-level counter on the
hard path at batch 1. Pruning shrinks n, and the n^2 term of attention shrinks fastest.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import fail
from tinydyn.dynamic.pruning.methods import (
    LTPClassifier,
    PowerBertClassifier,
    TranskimmerClassifier,
)
from tinydyn.dynamic.pruning.models import EncoderClassifier
from tinydyn.measure.flops import linear_flops, transformer_layer_flops

__all__ = ["decision_flops", "full_cost", "pruning_cost"]


def decision_flops(model: EncoderClassifier, n: int) -> int:
    """FLOPs of one pruning decision over ``n`` tokens (0 for the plain encoder)."""
    H, D = model.nhead, model.d_model
    if isinstance(model, (LTPClassifier, PowerBertClassifier)):
        return 2 * H * n * n + n + n
    if isinstance(model, TranskimmerClassifier):
        P = model.predictor_hidden
        return 8 * n * D + linear_flops(D, P, n) + 8 * n * P + linear_flops(P, 2, n) + n
    return 0


def pruning_cost(model: EncoderClassifier, counts) -> dict:
    """FLOPs for one input whose layers ran on ``counts`` (L,) tokens each ([CLS] included,
    non-increasing): dict with ``layers`` (L,), ``decisions`` (L - 1,), ``head``, ``total``."""
    fn = "pruning_cost"
    if not isinstance(model, EncoderClassifier):
        fail(fn, f"model must be an EncoderClassifier, got {type(model).__name__}", TypeError)
    counts = np.asarray(counts)
    if counts.shape != (model.num_layers,) or not np.issubdtype(counts.dtype, np.integer):
        fail(fn, f"counts must be {model.num_layers} integers (tokens per layer), got "
             f"{counts.dtype} array of shape {counts.shape}")
    if counts.min() < 1 or (np.diff(counts) > 0).any():
        fail(fn, f"counts must be >= 1 and non-increasing across layers, got {counts.tolist()}")
    D, H, F = model.d_model, model.nhead, model.dim_feedforward
    layers = [transformer_layer_flops(int(n), D, H, F) for n in counts]
    decisions = [decision_flops(model, int(n)) for n in counts[:-1]]
    head = linear_flops(D, model.num_classes)
    return {"layers": layers, "decisions": decisions, "head": head,
            "total": int(sum(layers) + sum(decisions) + head)}


def full_cost(model: EncoderClassifier, length: int) -> int:
    """FLOPs of the plain encoder (nothing pruned) on ``length`` tokens plus [CLS]."""
    L = model.num_layers
    D, H, F = model.d_model, model.nhead, model.dim_feedforward
    return L * transformer_layer_flops(length + 1, D, H, F) + linear_flops(D, model.num_classes)
