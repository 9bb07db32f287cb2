"""A method's inference paths timed *against* the full LSTM's, not each on its own.

Timing the LSTM once and each method later, each alone, lets a change in machine load (another
process, a thermal limit) land on one side of a speed-up only. :func:`time_paired` hands every
path, the LSTM's batch-1 and batched paths included, to :func:`tinydyn.measure.time_fns`, which
times them in warm blocks that alternate between candidates (a warm-up call per block absorbs
threads the previous candidate left spinning), in the same process, and takes medians. So each
speed-up is a ratio of two medians measured side by side.
"""

from __future__ import annotations

from tinydyn._checks import fail
from tinydyn.dynamic.skimming.common import lstm_batched, lstm_predictor, pad_tokens
from tinydyn.measure.timing import time_fns

__all__ = ["batch1_runner", "time_paired"]


def batch1_runner(predict, sequences):
    """A zero-argument callable that runs ``predict(seq)`` on every sequence, one at a time."""
    def run():
        for seq in sequences:
            predict(seq)
    return run


def time_paired(lstm, candidates: dict, sequences, repeats: int = 7, block: int = 2) -> dict:
    """Seconds per sequence of each candidate's paths and of the LSTM's, timed together.

    Args:
        lstm: the baseline :class:`~tinydyn.dynamic.skimming.common.LSTMClassifier`.
        candidates: name -> dict of path -> zero-argument callable; a path named
            ``"time_b1"`` runs every sequence at batch 1 (see :func:`batch1_runner`), any other
            path (``"time_batched"``...) runs all of them as one batch.
        sequences: the 1-D token arrays the callables run on (for the per-sequence scale and
            the LSTM's own paths).
        repeats, block: samples per path, and samples per warm block (:func:`time_fns`).

    Returns:
        ``{"LSTM": {"time_b1", "time_batched"}, name: {path: seconds per sequence}}``, medians.
    """
    if not isinstance(candidates, dict):
        fail("time_paired", f"candidates must be a dict name -> {{path: callable}}, got "
             f"{type(candidates).__name__}", TypeError)
    if "LSTM" in candidates:
        fail("time_paired", "candidates must not be named 'LSTM' (the baseline's own name)")
    padded, lengths = pad_tokens(sequences)
    paths = {"LSTM": {"time_b1": batch1_runner(lstm_predictor(lstm), sequences),
                      "time_batched": lambda: lstm_batched(lstm, padded, lengths)},
             **candidates}
    fns = {}
    for name, fs in paths.items():
        if not isinstance(fs, dict) or not fs:
            fail("time_paired", f"candidates[{name!r}] must be a non-empty dict path -> "
                 f"callable, got {fs!r}", TypeError)
        for path, fn in fs.items():
            fns[(name, path)] = fn
    timings = time_fns(fns, repeats=repeats, block=min(block, repeats), warmup=1)
    out = {name: {} for name in paths}
    for (name, path), timing in timings.items():
        out[name][path] = timing.median / len(sequences)
    return out
