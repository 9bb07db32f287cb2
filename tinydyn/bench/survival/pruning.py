"""Where token pruning's saving survives: against sequence length and batch size.

PoWER-BERT's fixed budget pins the decisions: after layers 1, 2 and 3 of a 4-layer encoder,
each sequence keeps 50%, 30% and 20% of its real tokens (the ones attention ranks highest;
[CLS] always stays). The baseline is the same model with every budget at 100%, run through the
same hard path (so both pay the same embedding, bookkeeping and head), in alternating warm
blocks; batches are repacked to the longest kept length after each layer. Steps = layers = 4.
"""

from __future__ import annotations

import numpy as np

from tinydyn.dynamic.pruning import PowerBertClassifier, full_cost, hard_forward, pruning_cost
from tinydyn.measure.timing import time_fns

__all__ = ["FAMILY", "KEEP", "measure"]

FAMILY = "pruning"
VOCAB, LAYERS, D, HEADS, FF = 100, 4, 64, 4, 128
KEEP = (0.5, 0.3, 0.2)
LENGTHS, QUICK_LENGTHS = (64, 128, 256, 512), (64, 256)
BATCHES, QUICK_BATCHES = (1, 4, 16, 64), (1, 16)
AT_LENGTH = 128  # the sequence length of the batch sweep


def _point(axis: str, x_name: str, x: int, length: int, batch: int, repeats: int, rng) -> dict:
    tokens = rng.integers(1, VOCAB, size=(batch, length))
    lengths = np.full(batch, length, np.int64)
    model = PowerBertClassifier(VOCAB, 2, d_model=D, nhead=HEADS, num_layers=LAYERS,
                                dim_feedforward=FF, rng=rng)
    model.eval()
    full, pruned = [1.0] * (LAYERS - 1), list(KEEP)

    def run(ratios):
        def forward():
            model.set_keep_ratios(ratios)
            hard_forward(model, tokens, lengths)
        return forward

    timings = time_fns({"full": run(full), "PoWER-BERT": run(pruned)}, repeats=repeats,
                       block=3, min_sample_s=0.01)
    counts = hard_forward(model.set_keep_ratios(pruned), tokens, lengths).counts
    flops = np.mean([pruning_cost(model, c)["total"] for c in counts])
    return {"family": FAMILY, "method": "PoWER-BERT 50/30/20%", "axis": axis,
            "x_name": x_name, "x": x, "batch_size": batch, "base_steps": LAYERS,
            "steps": LAYERS, "base_flops": float(full_cost(model, length)),
            "flops": float(flops), "base_seconds": timings["full"].median / batch,
            "seconds": timings["PoWER-BERT"].median / batch}


def measure(quick: bool = False, seed: int = 0, log=print) -> list[dict]:
    """Points against the sequence length (batch 1) and the batch size (128 tokens)."""
    rng = np.random.default_rng(seed)
    repeats = 5 if quick else 9
    points = []
    for length in QUICK_LENGTHS if quick else LENGTHS:
        log(f"  pruning: {length} tokens, batch 1")
        points.append(_point("size", "sequence length", length, length, 1, repeats, rng))
    for batch in QUICK_BATCHES if quick else BATCHES:
        log(f"  pruning: {AT_LENGTH} tokens, batch {batch}")
        points.append(_point("batch", "batch size", batch, AT_LENGTH, batch, repeats, rng))
    return points
