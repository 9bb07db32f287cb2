"""Wall-clock timing that reports a median and a spread, after warm-up.

A single run of a fast function is below the clock's useful resolution, so each *sample* times a
loop of ``number`` calls, with ``number`` chosen during warm-up so that a sample lasts at least
``min_sample_s``. The median of the samples resists the odd slow sample (another process, the
garbage collector); the interquartile range shows how noisy the machine was.
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

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median (0.05 = 5%)."""
        return (self.q75 - self.q25) / self.median if self.median > 0 else 0.0

    def __str__(self) -> str:
        return f"{format_seconds(self.median)} ±{100 * self.spread:.0f}%"


def format_seconds(seconds: float) -> str:
    """A duration with a unit that keeps 3 significant figures: 31.2 µs, 16.4 ms, 1.20 s."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            value = seconds / scale
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")


def time_fn(fn, *, repeats: int = 15, warmup: int = 2, min_sample_s: float = 2e-3,
            max_number: int = 100_000) -> Timing:
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeats`` timed samples.

    Garbage collection is disabled while sampling (as ``timeit`` does) so that one sample does
    not pay for the garbage of all the others.
    """
    if not callable(fn):
        fail("time_fn", f"fn must be callable, got {type(fn).__name__}", TypeError)
    repeats = check_int("time_fn", "repeats", repeats, min_value=1)
    warmup = check_int("time_fn", "warmup", warmup, min_value=0)
    check_float("time_fn", "min_sample_s", min_sample_s, low=0.0)
    return time_fns({"fn": fn}, repeats=repeats, warmup=warmup, min_sample_s=min_sample_s,
                    max_number=max_number)["fn"]


def time_fns(fns: dict, *, repeats: int = 15, warmup: int = 2, min_sample_s: float = 2e-3,
             max_number: int = 100_000) -> dict:
    """Time several zero-argument callables *interleaved*: sample 1 of each, then sample 2 of
    each, and so on. A change in machine load during the run then hits every candidate alike,
    which keeps their ratio honest on a shared machine. Returns name -> :class:`Timing`."""
    for name, fn in fns.items():
        if not callable(fn):
            fail("time_fns", f"fns[{name!r}] must be callable, got {type(fn).__name__}",
                 TypeError)
    repeats = check_int("time_fns", "repeats", repeats, min_value=1)
    warmup = check_int("time_fns", "warmup", warmup, min_value=0)
    check_float("time_fns", "min_sample_s", min_sample_s, low=0.0)
    numbers = {}
    for name, fn in fns.items():
        for _ in range(warmup):
            fn()
        number = 1
        while number < max_number:  # grow the loop until one sample is long enough to measure
            start = time.perf_counter()
            for _ in range(number):
                fn()
            if time.perf_counter() - start >= min_sample_s:
                break
            number *= 2
        numbers[name] = number
    samples = {name: np.empty(repeats) for name in fns}
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for i in range(repeats):
            for name, fn in fns.items():
                number = numbers[name]
                start = time.perf_counter()
                for _ in range(number):
                    fn()
                samples[name][i] = (time.perf_counter() - start) / number
    finally:
        if was_enabled:
            gc.enable()
    timings = {}
    for name, values in samples.items():
        q25, median, q75 = np.percentile(values, [25, 50, 75])
        timings[name] = Timing(float(median), float(q25), float(q75), repeats, numbers[name])
    return timings
