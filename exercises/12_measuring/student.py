"""Exercise 12 (measuring dynamic networks): Pareto fronts, the ELUE-style score, realisation,
and a latency model.

Work through lesson 12 (``lessons/12_measuring.py``) first. Four functions, each on plain
NumPy arrays of float64; none may modify its inputs.

Check your work with ``tinydyn grade 12`` (or ``pytest exercises/12_measuring``).
"""

import numpy as np  # noqa: F401  (you will need it)


def pareto_front(costs, accuracies):
    """Indices of the points no other point dominates, ordered by increasing cost.

    costs, accuracies: (n,) arrays, n >= 1; a lower cost and a higher accuracy are better.
    Point j dominates point i when it is at least as cheap and at least as accurate, and
    strictly better in one of the two. Walk the points by increasing cost (at equal cost, the
    most accurate first) and keep a point when it is strictly more accurate than every point
    kept so far. Two points with the same cost and the same accuracy: keep only the one with
    the smaller index. Returns an int64 array of indices into the inputs.
    """
    raise NotImplementedError("exercise 12 (measuring): implement pareto_front — see lesson 12")


def elue_score(costs, accuracies, ref_costs, ref_accuracies):
    """Mean height of a method's points above a reference curve (positive = above it).

    costs, accuracies: (m,) the method's points. ref_costs, ref_accuracies: (r,) the reference
    points, in any order; where several share a cost, the most accurate of them counts. The
    reference accuracy at a cost is read by linear interpolation between the reference points
    sorted by cost, and is held constant beyond the cheapest and the dearest of them.
    Returns ``mean_i(accuracies[i] - reference(costs[i]))`` as a float.
    """
    raise NotImplementedError("exercise 12 (measuring): implement elue_score — see lesson 12")


def realisation(base_seconds, method_seconds, base_flops, method_flops):
    """The measured speed-up, the FLOP speed-up, and the realisation ratio.

    base_seconds, method_seconds: 1-D arrays of timing samples (seconds per input; their
    lengths may differ). base_flops, method_flops: FLOPs per input (floats). The measured
    speed-up compares the *median* times (a slow outlier must not move it); the FLOP speed-up
    is the baseline's FLOPs over the method's; the realisation is the first over the second.
    Returns the tuple ``(speedup, flop_speedup, realisation)`` of floats.
    """
    raise NotImplementedError("exercise 12 (measuring): implement realisation — see lesson 12")


def fit_latency(steps, flops, seconds):
    """Fit ``seconds ~ a * steps + b * flops`` in relative error, with a >= 0 and b >= 0.

    steps, flops, seconds: (n,) measurements, n >= 2, seconds > 0. Relative error: divide each
    measurement's equation by its own time, so the least-squares problem is
    ``min over (a, b) of sum_i (a * steps[i] / seconds[i] + b * flops[i] / seconds[i] - 1)**2``
    (``np.linalg.lstsq`` solves it). If that solution has a negative coefficient, set it to 0
    and refit the other alone (a one-variable least squares); of the two one-coefficient
    fits, keep the one with the smaller sum of squares. Returns the tuple ``(a, b)`` of floats.
    """
    raise NotImplementedError("exercise 12 (measuring): implement fit_latency — see lesson 12")
