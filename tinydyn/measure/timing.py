"""Wall-clock timing that reports a median and a spread, after warm-up.

A single run of a fast function is below the clock's useful resolution, so each *sample* times a
loop of ``number`` calls, with ``number`` chosen during warm-up so that a sample lasts at least
``min_sample_s``. The median of the samples resists the odd slow sample (another process, the
garbage collector); the interquartile range shows how noisy the machine was. Several candidates
are compared with :func:`time_fns`, in warm blocks that alternate between them (see there why
not sample by sample).
"""

from __future__ import annotations

import dataclasses
import gc
import time

import numpy as np

from tinydyn._checks import check_float, check_int, fail


@dataclasses.dataclass(frozen=True)
class Timing:
    """Seconds per call: median and quartiles over ``repeats`` samples of ``number`` calls."""

    median: float
    q25: float
    q75: float
    repeats: int
    number: int
    samples: tuple = dataclasses.field(default=(), repr=False, compare=False)  # seconds/call

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median (0.05 = 5%)."""
        return (self.q75 - self.q25) / self.median if self.median > 0 else 0.0

    def __str__(self) -> str:
        return f"{format_seconds(self.median)} ±{100 * self.spread:.0f}%"

    @classmethod
    def from_samples(cls, samples, number: int) -> Timing:
        """The median and quartiles of ``samples`` (seconds per call, each of ``number`` calls)."""
        q25, median, q75 = np.percentile(samples, [25, 50, 75])
        return cls(float(median), float(q25), float(q75), len(samples), number, tuple(samples))


def format_seconds(seconds: float) -> str:
    """A duration with a unit that keeps 3 significant figures: 31.2 µs, 16.4 ms, 1.20 s."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            value = seconds / scale
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")


def time_fn(fn, *, repeats: int = 15, warmup: int = 2, min_sample_s: float = 2e-3,
            max_number: int = 100_000, clock=time.perf_counter) -> Timing:
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeats`` timed samples.

    Garbage collection is disabled while sampling (as ``timeit`` does) so that one sample does
    not pay for the garbage of all the others.
    """
    if not callable(fn):
        fail("time_fn", f"fn must be callable, got {type(fn).__name__}", TypeError)
    repeats = check_int("time_fn", "repeats", repeats, min_value=1)
    warmup = check_int("time_fn", "warmup", warmup, min_value=0)
    check_float("time_fn", "min_sample_s", min_sample_s, low=0.0)
    return time_fns({"fn": fn}, repeats=repeats, block=repeats, warmup=warmup,
                    min_sample_s=min_sample_s, max_number=max_number, clock=clock)["fn"]


def time_fns(fns: dict, *, repeats: int = 15, block: int = 5, warmup: int = 2,
             min_sample_s: float = 2e-3, max_number: int = 100_000,
             clock=time.perf_counter) -> dict:
    """Time several zero-argument callables fairly: in *warm blocks*, alternating.

    Each round gives every candidate one block: a warm-up call (untimed), then ``block``
    samples back to back. Rounds repeat until each candidate has ``repeats`` samples, and the
    order of the candidates is reversed every other round, so neither always follows the
    other. Why blocks and not one sample of each in turn: a candidate can leave threads
    spinning (OpenBLAS, Numba, PyTorch's OpenMP pool) that slow whatever runs next; the warm-up
    call of each block absorbs that, while the alternation still spreads a change in machine
    load over every candidate. ``clock`` is the timer (tests pass a fake one).
    Returns name -> :class:`Timing` (median and quartiles over the samples).
    """
    for name, fn in fns.items():
        if not callable(fn):
            fail("time_fns", f"fns[{name!r}] must be callable, got {type(fn).__name__}",
                 TypeError)
    repeats = check_int("time_fns", "repeats", repeats, min_value=1)
    block = check_int("time_fns", "block", block, min_value=1)
    warmup = check_int("time_fns", "warmup", warmup, min_value=0)
    check_float("time_fns", "min_sample_s", min_sample_s, low=0.0)
    numbers = {}
    for name, fn in fns.items():
        for _ in range(warmup):
            fn()
        number = 1
        while number < max_number:  # grow the loop until one sample is long enough to measure
            start = clock()
            for _ in range(number):
                fn()
            if clock() - start >= min_sample_s:
                break
            number *= 2
        numbers[name] = number
    samples = {name: [] for name in fns}
    order = list(fns)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for round_ in range(-(-repeats // block)):
            for name in (order if round_ % 2 == 0 else order[::-1]):
                fn, number = fns[name], numbers[name]
                fn()  # the block's warm-up: pays for whatever the previous candidate left
                for _ in range(min(block, repeats - len(samples[name]))):
                    start = clock()
                    for _ in range(number):
                        fn()
                    samples[name].append((clock() - start) / number)
    finally:
        if was_enabled:
            gc.enable()
    return {name: Timing.from_samples(values, numbers[name]) for name, values in samples.items()}
