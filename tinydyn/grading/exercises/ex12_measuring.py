"""Exercise 12 (measuring dynamic networks): the library's references and solution.

The student writes the four measurements lesson 12 rests on:

* ``pareto_front(costs, accuracies)``: the indices of the non-dominated points;
* ``elue_score(costs, accuracies, ref_costs, ref_accuracies)``: the mean height of a method's
  points above a piecewise-linear reference curve;
* ``realisation(base_seconds, method_seconds, base_flops, method_flops)``: the measured
  speed-up (ratio of median times), the FLOP speed-up, and their ratio;
* ``fit_latency(steps, flops, seconds)``: the two-term latency model ``a * steps + b * flops``
  fitted in relative error.

The references come from :func:`tinydyn.measure.pareto.pareto_front`,
:func:`tinydyn.measure.elue.elue_score` and :mod:`tinydyn.measure.latency`.
"""

from __future__ import annotations

import numpy as np

from tinydyn.measure.elue import elue_score as _elue_score
from tinydyn.measure.latency import fit_latency as _fit_latency
from tinydyn.measure.latency import measured_speedups
from tinydyn.measure.pareto import pareto_front as _pareto_front

TITLE = "Measuring dynamic networks: Pareto fronts, the ELUE-style score, realisation, latency"
LESSON = "lessons/12_measuring.py"
PREREQUISITES = ("04", "10")  # realisation (04) and the ELUE-style score (10)
# What student.py may import (see tinydyn.grading.integrity); nothing from tinydyn.
ALLOWED_IMPORTS = ("numpy", "math")

N_POINTS, N_REF, N_CASES = 12, 5, 4


class SOLUTION:
    """The functions of ``exercises/12_measuring/student.py``, from the library."""

    @staticmethod
    def pareto_front(costs, accuracies):
        return _pareto_front(costs, accuracies)

    @staticmethod
    def elue_score(costs, accuracies, ref_costs, ref_accuracies):
        return _elue_score(costs, accuracies, ref_costs, ref_accuracies)

    @staticmethod
    def realisation(base_seconds, method_seconds, base_flops, method_flops):
        out = measured_speedups(base_seconds, method_seconds, base_flops, method_flops)
        return out["speedup"], out["flop_speedup"], out["realisation"]

    @staticmethod
    def fit_latency(steps, flops, seconds):
        model = _fit_latency(steps, flops, seconds)
        return model.per_step_s, model.per_flop_s


def _front_cases(rng) -> dict:
    """Point clouds (cost, accuracy) with a clear front; the last case has exact ties."""
    costs = rng.uniform(1e5, 1e7, size=(N_CASES, N_POINTS))
    accs = 0.5 + 0.4 * np.log(costs / 1e5) / np.log(100) + rng.normal(0, 0.05, costs.shape)
    # ties placed on purpose: a point at the same cost as another (less accurate), and an
    # exact duplicate of a front point (the one with the smaller index is kept)
    costs[-1, 3], accs[-1, 3] = costs[-1, 7], accs[-1, 7] - 0.01
    costs[-1, 9], accs[-1, 9] = costs[-1, 2], accs[-1, 2]
    fronts = [_pareto_front(c, a) for c, a in zip(costs, accs)]
    width = max(len(f) for f in fronts)
    padded = np.full((N_CASES, width), -1, np.int64)
    for i, f in enumerate(fronts):
        padded[i, :len(f)] = f
    return {"front_costs": costs, "front_accs": accs, "front_expected": padded}


def _elue_cases(rng) -> dict:
    """Reference curves (one with a duplicated cost) and methods partly outside their range."""
    ref_costs = np.sort(rng.uniform(1e6, 1e7, size=(N_CASES, N_REF)), axis=1)
    ref_accs = np.sort(rng.uniform(0.6, 0.9, size=(N_CASES, N_REF)), axis=1)
    ref_costs[-1, 2] = ref_costs[-1, 1]  # two reference points at one cost: the best counts
    costs = rng.uniform(0.5e6, 1.2e7, size=(N_CASES, 6))  # some below, some above the range
    accs = rng.uniform(0.6, 0.95, size=(N_CASES, 6))
    expected = np.array([_elue_score(c, a, rc, ra)
                         for c, a, rc, ra in zip(costs, accs, ref_costs, ref_accs)])
    return {"elue_costs": costs, "elue_accs": accs, "elue_ref_costs": ref_costs,
            "elue_ref_accs": ref_accs, "elue_expected": expected}


def _timing_cases(rng) -> dict:
    """Timing samples with outliers (the median ignores them), odd and even sample counts."""
    base = rng.uniform(1e-3, 2e-3, size=(N_CASES, 9))
    method = rng.uniform(2e-4, 6e-4, size=(N_CASES, 8))
    base[:, 0] *= 20  # one slow sample in each: a mean would move, a median does not
    flops = rng.uniform(1e6, 1e7, size=(N_CASES, 2))
    flops[:, 1] /= rng.uniform(2, 10, size=N_CASES)
    expected = np.array([SOLUTION.realisation(b, m, f[0], f[1])
                         for b, m, f in zip(base, method, flops)])
    return {"real_base": base, "real_method": method, "real_flops": flops,
            "real_expected": expected}


def _latency_cases(rng) -> dict:
    """Measurements of a model a * steps + b * FLOPs with noise; the last case has a negative
    unconstrained step price, which the fit must clip to 0."""
    steps = rng.integers(10, 200, size=(N_CASES, 8)).astype(float)
    flops = rng.uniform(1e5, 1e7, size=(N_CASES, 8))
    a, b = rng.uniform(1e-6, 5e-6, N_CASES), rng.uniform(2e-10, 2e-9, N_CASES)
    seconds = (a[:, None] * steps + b[:, None] * flops) * rng.uniform(0.95, 1.05, steps.shape)
    steps[-1] = np.arange(8, 0, -1) * 10.0  # fewer steps, more FLOPs ...
    flops[-1] = np.arange(1, 9) * 1e6
    seconds[-1] = 1e-9 * flops[-1] * (1 - 0.05 * steps[-1] / 80)  # ... more steps, less time
    expected = np.array([SOLUTION.fit_latency(s, f, t) for s, f, t in zip(steps, flops, seconds)])
    return {"lat_steps": steps, "lat_flops": flops, "lat_seconds": seconds,
            "lat_expected": expected}


def make_references(seed: int) -> dict:
    """All graded inputs and the library's outputs, float64, from ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    return {**_front_cases(rng), **_elue_cases(rng), **_timing_cases(rng),
            **_latency_cases(rng)}
