"""Where token pruning's saving survives: against sequence length and batch size.

PoWER-BERT's fixed budget pins the decisions: after layers 1, 2 and 3 of a 4-layer encoder,
each sequence keeps 50%, 30% and 20% of its real tokens (the ones attention ranks highest;
[CLS] always stays). The baseline is the same model with every budget at 100%, run through the
same hard path (so both pay the same embedding, bookkeeping and head), in alternating warm
blocks; batches are repacked to the longest kept length after each layer. Steps = layers = 4.
"""

from __future__ import annotations

import numpy as np

from tinydyn.bench.survival.common import sweep, time_pair
from tinydyn.dynamic.pruning import PowerBertClassifier, full_cost, hard_forward, pruning_cost

__all__ = ["FAMILY", "KEEP", "measure"]

FAMILY = "pruning"
VOCAB, LAYERS, D, HEADS, FF = 100, 4, 64, 4, 128
KEEP = (0.5, 0.3, 0.2)
LENGTHS, QUICK_LENGTHS = (64, 128, 256, 512), (64, 256)
BATCHES, QUICK_BATCHES = (1, 4, 16, 64), (1, 16)
AT_LENGTH = 128  # the sequence length of the batch sweep


def _measure_at(length: int, batch: int, repeats: int, rng) -> list:
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

    seconds = time_pair({"full": run(full), "PoWER-BERT": run(pruned)}, repeats)
    counts = hard_forward(model.set_keep_ratios(pruned), tokens, lengths).counts
    flops = np.mean([pruning_cost(model, c)["total"] for c in counts])
    return [{"method": "PoWER-BERT 50/30/20%", "base_steps": LAYERS, "steps": LAYERS,
             "base_flops": float(full_cost(model, length)), "flops": float(flops),
             "base_seconds": seconds["full"] / batch, "seconds": seconds["PoWER-BERT"] / batch}]


def measure(quick: bool = False, seed: int = 0, log=print) -> list[dict]:
    """Points against the sequence length (batch 1) and the batch size (128 tokens)."""
    return sweep(FAMILY, _measure_at, sizes=QUICK_LENGTHS if quick else LENGTHS,
                 batches=QUICK_BATCHES if quick else BATCHES, at_size=AT_LENGTH,
                 size_name="sequence length", quick=quick, seed=seed, log=log)
