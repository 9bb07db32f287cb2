"""Where early exiting's saving survives: against network width and batch size.

The exits are pinned, not decided: three inputs in four leave after layer 2 of 8, the rest run
to the end (mean 3.5 layers). Each input evaluates the exit head of every layer it passes, as
a real policy would. A batch is compacted after each layer (the rows that leave are dropped,
the others gathered into a smaller batch); at batch size 1 each input runs alone. The baseline
is the same network run to the end with one head, the same way, in alternating warm blocks.
Steps = the calls per input: a layer and a head for each layer an input passes (the static
network: every layer and one head).
"""

from __future__ import annotations

import numpy as np

from tinydyn.bench.survival.common import sweep, time_pair
from tinydyn.dynamic.early_exit import MultiExitMLP
from tinydyn.dynamic.early_exit import cost as exit_cost

__all__ = ["FAMILY", "measure", "run_pinned"]

FAMILY = "early_exit"
DEPTH, FEATURES, CLASSES, N_INPUTS = 8, 64, 10, 64
EARLY, SHARE_EARLY = 2, 0.75
WIDTHS, QUICK_WIDTHS = (32, 64, 128, 256), (32, 128)
BATCHES, QUICK_BATCHES = (1, 4, 16, 64), (1, 16)
AT_WIDTH = 64  # the width of the batch sweep


def run_pinned(runner, x: np.ndarray, exits: np.ndarray, batch: int) -> int:
    """Run inputs ``x`` in batches of ``batch`` to their given exit layers (1-based), compacting
    after each layer; returns the row-layers run (the sum of the exits)."""
    evaluated = 0
    for start in range(0, len(x), batch):
        state, rows = runner.embed(x[start:start + batch]), exits[start:start + batch]
        for layer in range(int(rows.max())):
            state = runner.layer(layer, state)
            evaluated += len(rows)
            runner.head(layer, state)
            stay = rows > layer + 1
            if not stay.all():
                state, rows = {k: v[stay] for k, v in state.items()}, rows[stay]
    return evaluated


def _measure_at(width: int, batch: int, repeats: int, rng) -> list:
    model = MultiExitMLP(FEATURES, CLASSES, width=width, depth=DEPTH, rng=rng)
    runner = model.runner()
    inputs = rng.standard_normal((N_INPUTS, FEATURES)).astype(np.float32)
    exits = np.where(rng.random(N_INPUTS) < SHARE_EARLY, EARLY, DEPTH)
    assert run_pinned(runner, inputs, exits, batch) == exits.sum()

    def static():
        for start in range(0, N_INPUTS, batch):
            state = runner.embed(inputs[start:start + batch])
            for layer in range(DEPTH):
                state = runner.layer(layer, state)
            runner.head(DEPTH - 1, state)

    seconds = time_pair({"static": static,
                         "early exit": lambda: run_pinned(runner, inputs, exits, batch)}, repeats)
    # steps = calls per input: the static net runs DEPTH layers and one head, an exiting input
    # a layer and a head at every layer it passes
    return [{"method": "pinned exits (3/4 at layer 2)", "base_steps": DEPTH + 1,
             "steps": 2 * float(exits.mean()), "base_flops": float(exit_cost.static_flops(model)),
             "flops": float(exit_cost.exit_flops(model, exits).mean()),
             "base_seconds": seconds["static"] / N_INPUTS,
             "seconds": seconds["early exit"] / N_INPUTS}]


def measure(quick: bool = False, seed: int = 0, log=print) -> list[dict]:
    """Points against the width (batch 1) and the batch size (width 64)."""
    return sweep(FAMILY, _measure_at, sizes=QUICK_WIDTHS if quick else WIDTHS,
                 batches=QUICK_BATCHES if quick else BATCHES, at_size=AT_WIDTH,
                 size_name="width", quick=quick, seed=seed, log=log)
