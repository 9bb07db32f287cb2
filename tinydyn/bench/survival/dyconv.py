"""Where DY-Conv's small FLOP overhead stays small in time: against map size and batch size.

DY-Conv does not save FLOPs; it buys capacity for a few percent more (pooling, the attention
branch, the aggregation of K kernels per sample). Its "saving" is that the extra cost is small,
so the question turned around is whether the time overhead stays as small as the FLOP
overhead: realisation = (static time / DY-Conv time) / (static FLOPs / DY-Conv FLOPs), 1 when
time follows FLOPs. One layer, 16 -> 32 channels, 3x3, K = 4, inference (no graph), against the
static convolution of the same shape, in alternating warm blocks. Steps = the autograd ops one
call runs (pooling, the attention branch and the aggregation are ops of their own).
"""

from __future__ import annotations

import numpy as np

from tinydyn.autograd.tensor import Tensor
from tinydyn.bench.survival.common import inference, sweep, time_pair
from tinydyn.dynamic.dyconv import DynamicConv2d, dynamic_conv_cost, static_conv_cost
from tinydyn.measure.latency import count_ops
from tinydyn.nn.conv import Conv2d

__all__ = ["FAMILY", "measure"]

FAMILY = "dyconv"
IN, OUT, K = 16, 32, 4
SIZES, QUICK_SIZES = (8, 16, 32, 64), (8, 32)
BATCHES, QUICK_BATCHES = (1, 4, 16, 64), (1, 16)
AT_SIZE = 16  # the map size of the batch sweep


def _measure_at(size: int, batch: int, repeats: int, rng) -> list:
    data = Tensor(rng.standard_normal((batch, IN, size, size)).astype(np.float32))
    dynamic = DynamicConv2d(IN, OUT, 3, num_kernels=K, padding=1, rng=rng).eval()
    static = Conv2d(IN, OUT, 3, padding=1, rng=rng).eval()
    seconds = time_pair({"static": inference(static, data),
                         "DY-Conv": inference(dynamic, data)}, repeats)
    steps = {name: count_ops(fn) for name, fn in (("static", inference(static, data)),
                                                  ("DY-Conv", inference(dynamic, data)))}
    return [{"method": "DY-Conv K=4", "base_steps": steps["static"], "steps": steps["DY-Conv"],
             "base_flops": float(static_conv_cost(dynamic, (size, size))),
             "flops": float(dynamic_conv_cost(dynamic, (size, size))["total"]),
             "base_seconds": seconds["static"] / batch, "seconds": seconds["DY-Conv"] / batch}]


def measure(quick: bool = False, seed: int = 0, log=print) -> list[dict]:
    """Points against the map size (batch 1) and against the batch size (16x16 maps)."""
    return sweep(FAMILY, _measure_at, sizes=QUICK_SIZES if quick else SIZES,
                 batches=QUICK_BATCHES if quick else BATCHES, at_size=AT_SIZE,
                 size_name="map size", quick=quick, seed=seed, log=log)
