"""The sweep every family of `tinydyn bench survival` runs, and one timing helper."""

from __future__ import annotations

import numpy as np

from tinydyn.autograd.function import no_grad
from tinydyn.measure.timing import time_fns

__all__ = ["inference", "sweep", "time_pair"]


def inference(layer, data):
    """A call of ``layer(data)`` without a graph (the hard-decision path a server runs)."""
    def forward():
        with no_grad():
            layer(data)
    return forward


def time_pair(fns: dict, repeats: int) -> dict:
    """Median seconds per call of each function, timed in alternating warm blocks."""
    timings = time_fns(fns, repeats=repeats, block=3, min_sample_s=0.01)
    return {name: timing.median for name, timing in timings.items()}


def sweep(family: str, measure_at, *, sizes, batches, at_size: int, size_name: str,
          size_batch: int = 1, batch_name: str = "batch size", quick: bool, seed: int,
          log) -> list[dict]:
    """Points over ``sizes`` (at ``size_batch``) and over ``batches`` (at ``at_size``).

    ``measure_at(size, batch, repeats, rng)`` returns the points of one setting, each with
    ``method`` and, per input, ``base_steps, steps, base_flops, flops, base_seconds,
    seconds``; this adds ``family, axis, x_name, x, batch_size``.
    """
    rng = np.random.default_rng(seed)
    repeats = 5 if quick else 9
    points = []
    settings = [("size", size_name, size, size, size_batch) for size in sizes]
    settings += [("batch", batch_name, batch, at_size, batch) for batch in batches]
    for axis, x_name, x, size, batch in settings:
        log(f"  {family}: {size_name} {size}, {batch_name} {batch}")
        for point in measure_at(size, batch, repeats, rng):
            points.append({"family": family, "axis": axis, "x_name": x_name, "x": x,
                           "batch_size": batch, **point})
    return points
