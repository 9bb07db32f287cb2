"""What an early exit costs, per input, in FLOPs (2 per multiply-add), and the three speed-ups
of spec C.0.

A sample that exits at layer l pays ``embed + sum_{i<=l} (layer_i + head_i)``: every exit it
passed was evaluated. The static model it is compared with pays ``embed + L * layer`` and one
classifier (without the exit test). So exits are not free: with a head costing h and a layer
c, the FLOP speed-up at l layers on average is (L c + h) / (l (c + h)), below L / l.

    layer speed-up  L * N / sum_n l_n          (PABEE's; ignores the heads)
    FLOP speed-up   static FLOPs / mean FLOPs  (FastBERT, ELUE; includes the heads)
    wall-clock      measured by the bench      (batch 1 and batched)
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_int, fail
from tinydyn.measure.flops import linear_flops, transformer_layer_flops

__all__ = ["embed_flops", "exit_flops", "head_flops", "layer_flops", "speedups",
           "static_flops"]


def _kind(fn, model):
    from tinydyn.dynamic.early_exit.models import MultiExitMLP, MultiExitTransformer
    if isinstance(model, MultiExitMLP):
        return "mlp"
    if isinstance(model, MultiExitTransformer):
        return "transformer"
    fail(fn, f"model must be a MultiExitMLP or MultiExitTransformer, got "
         f"{type(model).__name__}", TypeError)


def _seq(fn, model, seq_len):
    if _kind(fn, model) == "mlp":
        return 1
    return check_int(fn, "seq_len", model.max_len if seq_len is None else seq_len, min_value=1)


def embed_flops(model, seq_len=None) -> int:
    """The stem (MLP: linear + relu) or token projection plus positions (Transformer)."""
    t = _seq("embed_flops", model, seq_len)
    if _kind("embed_flops", model) == "mlp":
        return linear_flops(model.in_features, model.width) + model.width
    return linear_flops(model.in_features, model.width, rows=t) + t * model.width


def layer_flops(model, seq_len=None) -> int:
    """One backbone layer for one input."""
    t = _seq("layer_flops", model, seq_len)
    if _kind("layer_flops", model) == "mlp":
        w, h = model.width, model.hidden_size
        return linear_flops(w, h) + h + linear_flops(h, w) + w  # fc1, relu, fc2, residual
    layer = model.layers[0]
    return transformer_layer_flops(t, model.width, layer.nhead, layer.dim_feedforward)


def head_flops(model, seq_len=None, decision: str = "softmax") -> int:
    """One exit: pooling (Transformer), the linear classifier, and the exit test:
    ``"softmax"`` (entropy/max-prob: ~6 FLOPs per class), ``"learned"`` (the LTE unit),
    ``"none"`` (the static model's classifier)."""
    fn = "head_flops"
    t = _seq(fn, model, seq_len)
    c, d = model.num_classes, model.width
    pool = 0 if _kind(fn, model) == "mlp" else 2 * t * d
    extra = {"softmax": 6 * c, "learned": linear_flops(d, 1) + 4 + c, "none": 0}
    if decision not in extra:
        fail(fn, f"decision must be one of {tuple(extra)}, got {decision!r}")
    return pool + linear_flops(d, c) + extra[decision]


def static_flops(model, layers: int | None = None, seq_len=None) -> int:
    """The static model truncated to ``layers`` (default all L) with its one classifier."""
    layers = model.depth if layers is None else check_int("static_flops", "layers", layers,
                                                          min_value=1)
    if layers > model.depth:
        fail("static_flops", f"layers must be <= {model.depth}, got {layers}")
    return (embed_flops(model, seq_len) + layers * layer_flops(model, seq_len)
            + head_flops(model, seq_len, "none"))


def exit_flops(model, exit_layers, seq_len=None, decision: str = "softmax") -> np.ndarray:
    """FLOPs (N,) of each sample given its exit layer (1..L), heads and exit tests included."""
    exits = np.asarray(exit_layers)
    if exits.ndim != 1 or exits.dtype.kind not in "iu" or exits.size == 0:
        fail("exit_flops", f"exit_layers must be a non-empty 1-D int array, got {exits.dtype} "
             f"{exits.shape}")
    if exits.min() < 1 or exits.max() > model.depth:
        fail("exit_flops", f"exit_layers must lie in [1, {model.depth}], got "
             f"[{exits.min()}, {exits.max()}]")
    per_layer = layer_flops(model, seq_len) + head_flops(model, seq_len, decision)
    out = embed_flops(model, seq_len) + exits.astype(np.int64) * per_layer
    if getattr(model, "mix_layers", False):  # exit i mixes i + 1 states: 2 (i + 1) d FLOPs
        out = out + model.width * exits * (exits + 3)  # sum_{i=1..l} 2 (i + 1) d
    return out


def speedups(model, exit_layers, seq_len=None, decision: str = "softmax") -> dict:
    """``{"layer": L N / sum l, "flop": static FLOPs / mean exit FLOPs, "mean_layers",
    "mean_flops"}``."""
    exits = np.asarray(exit_layers)
    flops = exit_flops(model, exits, seq_len, decision)
    return {"layer": model.depth * len(exits) / float(exits.sum()),
            "flop": static_flops(model, seq_len=seq_len) / float(flops.mean()),
            "mean_layers": float(exits.mean()), "mean_flops": float(flops.mean())}
