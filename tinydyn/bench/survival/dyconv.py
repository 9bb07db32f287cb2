"""Where DY-Conv's small FLOP overhead stays small in time: against map size and batch size.

DY-Conv does not save FLOPs; it buys capacity for a few percent more (pooling, the attention
branch, the aggregation of K kernels per sample). Its "saving" is that the extra cost is small,
so the question turned around is whether the time overhead stays as small as the FLOP
overhead: realisation = (static time / DY-Conv time) / (static FLOPs / DY-Conv FLOPs), 1 when
time follows FLOPs. One layer, 16 -> 32 channels, 3x3, K = 4, inference (no graph), against the
static convolution of the same shape, in alternating warm blocks.
"""

from __future__ import annotations

import numpy as np

from tinydyn.autograd.function import no_grad
from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.dyconv import DynamicConv2d, dynamic_conv_cost, static_conv_cost
from tinydyn.measure.timing import time_fns
from tinydyn.nn.conv import Conv2d

__all__ = ["FAMILY", "measure"]

FAMILY = "dyconv"
IN, OUT, K = 16, 32, 4
SIZES, QUICK_SIZES = (8, 16, 32, 64), (8, 32)
BATCHES, QUICK_BATCHES = (1, 4, 16, 64), (1, 16)
AT_SIZE = 16  # the map size of the batch sweep


def _point(axis: str, x_name: str, x: int, size: int, batch: int, repeats: int, rng) -> dict:
    data = Tensor(rng.standard_normal((batch, IN, size, size)).astype(np.float32))
    dynamic = DynamicConv2d(IN, OUT, 3, num_kernels=K, padding=1, rng=rng)
    static = Conv2d(IN, OUT, 3, padding=1, rng=rng)
    dynamic.eval()
    static.eval()

    def run(layer):
        def forward():
            with no_grad():
                layer(data)
        return forward

    timings = time_fns({"static": run(static), "DY-Conv": run(dynamic)}, repeats=repeats,
                       block=3, min_sample_s=0.01)
    return {"family": FAMILY, "method": "DY-Conv K=4", "axis": axis, "x_name": x_name, "x": x,
            "batch_size": batch, "base_steps": 1, "steps": 1,
            "base_flops": float(static_conv_cost(dynamic, (size, size))),
            "flops": float(dynamic_conv_cost(dynamic, (size, size))["total"]),
            "base_seconds": timings["static"].median / batch,
            "seconds": timings["DY-Conv"].median / batch}


def measure(quick: bool = False, seed: int = 0, log=print) -> list[dict]:
    """Points against the map size (batch 1) and against the batch size (16x16 maps)."""
    rng = np.random.default_rng(seed)
    repeats = 5 if quick else 9
    points = []
    for size in QUICK_SIZES if quick else SIZES:
        log(f"  dyconv: {size}x{size} maps, batch 1")
        points.append(_point("size", "map size", size, size, 1, repeats, rng))
    for batch in QUICK_BATCHES if quick else BATCHES:
        log(f"  dyconv: {AT_SIZE}x{AT_SIZE} maps, batch {batch}")
        points.append(_point("batch", "batch size", batch, AT_SIZE, batch, repeats, rng))
    return points
