"""A two-term latency model: time = a * steps + b * FLOPs, and the speed-ups it predicts.

A FLOP count predicts time as if every FLOP cost the same and nothing else cost anything. On a
CPU at small sizes neither holds: each sequential step (an RNN step, a layer, a Python call
into a kernel) pays a fixed price for dispatch, memory traffic and bookkeeping, whatever its
FLOPs. The model adds that price: a is seconds per step, b seconds per FLOP. Fitted on a
static network measured at a few sizes, it predicts a dynamic network's time from the steps and
FLOPs its decisions leave, so it predicts where a FLOP saving turns into a time saving:

    speed-up = (a * S_base + b * F_base) / (a * S + b * F)

The fit minimises *relative* error (each measurement divided by its own time), so a 50 µs and a
5 ms measurement count alike, and keeps both coefficients non-negative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydyn._checks import fail

__all__ = ["LatencyModel", "count_ops", "fit_latency", "measured_speedups"]


def _vector(fn: str, name: str, values, n=None, positive=False) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim == 0:
        array = array[None]
    if array.ndim != 1 or not np.isfinite(array).all():
        fail(fn, f"{name} must be a finite number or 1-D array, got shape {array.shape}")
    if n is not None and array.shape[0] != n:
        fail(fn, f"{name} must have {n} entries like the first argument, got {array.shape[0]}")
    if (array < 0).any() or (positive and (array <= 0).any()):
        fail(fn, f"{name} must be {'positive' if positive else 'non-negative'}, got "
             f"min {array.min()}")
    return array


@dataclass(frozen=True)
class LatencyModel:
    """Seconds = ``per_step_s * steps + per_flop_s * flops`` (both coefficients >= 0)."""

    per_step_s: float
    per_flop_s: float

    def predict(self, steps, flops) -> np.ndarray:
        """Predicted seconds for each (steps, flops)."""
        steps = _vector("LatencyModel.predict", "steps", steps)
        flops = _vector("LatencyModel.predict", "flops", flops, n=steps.shape[0])
        return self.per_step_s * steps + self.per_flop_s * flops

    def speedup(self, base_steps, base_flops, steps, flops) -> np.ndarray:
        """Predicted speed-up of (steps, flops) over the baseline's (base_steps, base_flops)."""
        base = self.predict(base_steps, base_flops)
        return base / self.predict(steps, flops)

    def fixed_share(self, steps, flops) -> np.ndarray:
        """The share of the predicted time that the per-step cost takes."""
        steps = _vector("LatencyModel.fixed_share", "steps", steps)
        return self.per_step_s * steps / self.predict(steps, flops)


def count_ops(fn, *args, **kwargs) -> int:
    """How many autograd ops one call ``fn(*args, **kwargs)`` runs: the "steps" of code built
    from ops, each of which pays Python's dispatch whatever its size."""
    from tinydyn.autograd import function as _function

    if not callable(fn):
        fail("count_ops", f"fn must be callable, got {type(fn).__name__}", TypeError)
    calls = []

    def observe(fn_class, arrays, out, kwargs):
        calls.append(fn_class)

    _function.op_observers.append(observe)
    try:
        fn(*args, **kwargs)
    finally:
        _function.op_observers.remove(observe)
    return len(calls)


def fit_latency(steps, flops, seconds) -> LatencyModel:
    """Least squares in relative error of ``seconds ~ a * steps + b * flops`` with a, b >= 0.

    steps, flops, seconds: (n,) measurements, n >= 2, seconds > 0. A coefficient the
    unconstrained fit makes negative is set to 0 and the other refitted alone.
    """
    fn = "fit_latency"
    steps = _vector(fn, "steps", steps)
    flops = _vector(fn, "flops", flops, n=steps.shape[0])
    seconds = _vector(fn, "seconds", seconds, n=steps.shape[0], positive=True)
    if steps.shape[0] < 2:
        fail(fn, f"needs at least 2 measurements, got {steps.shape[0]}")
    design = np.stack([steps, flops], axis=1) / seconds[:, None]  # relative: rows / own time
    target = np.ones_like(seconds)
    coef = np.linalg.lstsq(design, target, rcond=None)[0]
    if (coef < 0).any():
        best, best_err = np.zeros(2), np.inf
        for keep in (0, 1):  # one coefficient alone (the constrained optimum is on an edge)
            column = design[:, keep]
            if not (column > 0).any():
                continue
            value = max(0.0, float(column @ target / (column @ column)))
            err = float(np.sum((column * value - target) ** 2))
            if err < best_err:
                best, best_err = np.zeros(2), err
                best[keep] = value
        coef = best
    return LatencyModel(float(coef[0]), float(coef[1]))


def measured_speedups(base_seconds, method_seconds, base_flops, method_flops) -> dict:
    """Measured speed-up (ratio of median times), FLOP speed-up and their ratio, the
    realisation: the share of the FLOP saving that showed up as time saved.

    base_seconds, method_seconds: samples of seconds per input (any number each);
    base_flops, method_flops: FLOPs per input. Returns a dict of floats.
    """
    fn = "measured_speedups"
    base = _vector(fn, "base_seconds", base_seconds, positive=True)
    method = _vector(fn, "method_seconds", method_seconds, positive=True)
    for name, value in (("base_flops", base_flops), ("method_flops", method_flops)):
        if not np.isscalar(value) or not float(value) > 0:
            fail(fn, f"{name} must be a positive number, got {value!r}")
    speedup = float(np.median(base) / np.median(method))
    flop_speedup = float(base_flops) / float(method_flops)
    return {"speedup": speedup, "flop_speedup": flop_speedup,
            "realisation": speedup / flop_speedup}
