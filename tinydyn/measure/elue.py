"""An ELUE-style score: how far a method's (cost, metric) points lie above a reference curve.

ELUE (Liu et al., NAACL 2022) scores a submission by the mean vertical distance of its points
(FLOPs f_i, performance p_i) above the ElasticBERT baseline interpolated at f_i. Here the
reference is any piecewise-linear curve in (cost, metric) space; for a dynamic network the
natural one is the static models obtained by truncating the same backbone to 1..L layers:

    score = (1/m) sum_i [ p_i - p_ref(f_i) ]        (positive = above the reference)

``p_ref`` interpolates linearly between reference points and is held constant beyond the
cheapest and the dearest of them (a model cheaper than every reference point is compared
with the cheapest one, which is lenient; say so when it matters).

Every family can use it: pass any method's points and any reference (lesson 12 does).
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import fail
from tinydyn.measure.pareto import pareto_front

__all__ = ["elue_score", "front_curve", "interpolate_reference", "plot_against_reference",
           "reference_curve"]


def _pair(fn, costs, metrics, what):
    costs = np.asarray(costs, dtype=float)
    metrics = np.asarray(metrics, dtype=float)
    if costs.ndim != 1 or costs.shape != metrics.shape or costs.size == 0:
        fail(fn, f"{what} costs and metrics must be 1-D, non-empty and of equal length, got "
             f"shapes {costs.shape} and {metrics.shape}")
    if not (np.isfinite(costs).all() and np.isfinite(metrics).all()):
        fail(fn, f"{what} costs and metrics must be finite")
    return costs, metrics


def reference_curve(costs, metrics) -> tuple[np.ndarray, np.ndarray]:
    """Reference points sorted by cost; points at the same cost keep the best metric."""
    costs, metrics = _pair("reference_curve", costs, metrics, "reference")
    unique = np.unique(costs)
    best = np.array([metrics[costs == c].max() for c in unique])
    return unique, best


def interpolate_reference(ref_costs, ref_metrics, costs) -> np.ndarray:
    """The reference's metric at each cost: linear between points, constant beyond the ends;
    exact at every reference point's own cost."""
    rc, rm = reference_curve(ref_costs, ref_metrics)
    costs = np.asarray(costs, dtype=float)
    if not np.isfinite(costs).all():
        fail("interpolate_reference", "costs must be finite")
    return np.interp(costs, rc, rm)


def elue_score(costs, metrics, ref_costs, ref_metrics) -> float:
    """Mean of ``metric_i - p_ref(cost_i)`` over the method's points (same metric units)."""
    costs, metrics = _pair("elue_score", costs, metrics, "method")
    return float(np.mean(metrics - interpolate_reference(ref_costs, ref_metrics, costs)))


def front_curve(costs, metrics) -> tuple[np.ndarray, np.ndarray]:
    """The Pareto-optimal points (cheaper and better), sorted by cost, for plotting or for
    scoring only a method's best operating points."""
    costs, metrics = _pair("front_curve", costs, metrics, "method")
    idx = pareto_front(costs, metrics)
    return costs[idx], metrics[idx]


def plot_against_reference(methods: dict, reference: tuple, ax=None,
                           xlabel: str = "FLOPs per input", ylabel: str = "accuracy",
                           reference_label: str = "static (truncated)"):
    """Each method's points (name -> (costs, metrics)) over the reference curve, the legend
    giving each method's score. Returns the axes."""
    import matplotlib.pyplot as plt

    ax = ax or plt.subplots(figsize=(6, 4))[1]
    rc, rm = reference_curve(*reference)
    ax.plot(rc, rm, "k--o", ms=4, label=reference_label)
    for name, (c, m) in methods.items():
        order = np.argsort(c)
        score = elue_score(c, m, rc, rm)
        ax.plot(np.asarray(c)[order], np.asarray(m)[order], "o-", ms=3,
                label=f"{name} (score {score:+.3g})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    return ax
