"""Speed/accuracy trade-offs: Pareto fronts, the area under them, and plots.

A point is (cost, accuracy): cost is FLOPs or seconds (lower is better), accuracy higher is
better. A point is on the front when no other point is at least as cheap *and* at least as
accurate, with one of the two strictly better.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import fail


def _points(fn, costs, accuracies):
    costs = np.asarray(costs, dtype=float)
    accuracies = np.asarray(accuracies, dtype=float)
    if costs.ndim != 1 or costs.shape != accuracies.shape:
        fail(fn, f"costs and accuracies must be 1-D and of equal length, got shapes "
             f"{costs.shape} and {accuracies.shape}")
    if costs.size == 0:
        fail(fn, "need at least one point, got none")
    if not (np.isfinite(costs).all() and np.isfinite(accuracies).all()):
        fail(fn, "costs and accuracies must be finite")
    return costs, accuracies


def pareto_front(costs, accuracies) -> np.ndarray:
    """Indices of the non-dominated points, ordered by increasing cost."""
    costs, accuracies = _points("pareto_front", costs, accuracies)
    order = np.lexsort((-accuracies, costs))  # by cost, ties: most accurate first
    front, best = [], -np.inf
    for i in order:
        if accuracies[i] > best:
            front.append(i)
            best = accuracies[i]
    return np.array(front, dtype=np.int64)


def area_under_front(costs, accuracies, cost_range=None, log_cost: bool = False) -> float:
    """Mean accuracy reachable within budget c, averaged over c in ``cost_range``.

    The front is read as a step function: with budget c you get the best accuracy among the
    points costing at most c (0 below the cheapest). ``cost_range`` defaults to the span of the
    given costs; with ``log_cost`` budgets are averaged on a log scale (fair across methods
    whose costs span orders of magnitude). The result lies in [0, max accuracy].
    """
    costs, accuracies = _points("area_under_front", costs, accuracies)
    low, high = (costs.min(), costs.max()) if cost_range is None else map(float, cost_range)
    if not high > low:
        fail("area_under_front", f"cost_range must have high > low, got ({low}, {high})")
    if log_cost:
        if low <= 0:
            fail("area_under_front", f"log_cost needs positive costs, got low={low}")
        costs, low, high = np.log(costs), np.log(low), np.log(high)
    idx = pareto_front(costs, accuracies)
    xs = np.clip(costs[idx], low, high)
    area = 0.0
    for j, i in enumerate(idx):
        end = xs[j + 1] if j + 1 < len(idx) else high
        area += accuracies[i] * max(0.0, end - xs[j])
    return area / (high - low)


def _bars(fn, name, which, bars, n):
    """An error-bar array for one method: (n,) symmetric or (2, n) below/above, >= 0."""
    bars = np.asarray(bars, dtype=float)
    if bars.shape not in ((n,), (2, n)):
        fail(fn, f"{which}[{name!r}] must have shape ({n},) or (2, {n}) (one bar per point), "
             f"got {bars.shape}")
    if not np.isfinite(bars).all() or (bars < 0).any():
        fail(fn, f"{which}[{name!r}] must hold finite lengths >= 0")
    return bars


def plot_pareto(methods: dict, xlabel: str = "FLOPs", ylabel: str = "accuracy", ax=None,
                log_x: bool = True, title: str | None = None, yerr: dict | None = None,
                xerr: dict | None = None):
    """Plot each method's points and its front. ``methods`` maps a name to (costs, accuracies).

    ``yerr`` / ``xerr`` (optional) map a method's name to its error bars, one per point: an
    (n,) array of half-lengths or a (2, n) array of lengths below and above (for results over
    seeds: the points are means, the bars span the seeds, see
    :func:`tinydyn.bench.seeds.error_bars`). The front is drawn through the means.
    Returns the matplotlib Axes. Needs matplotlib (``pip install tinydyn[plot]``).
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plot_pareto needs matplotlib: pip install matplotlib") from None
    if not isinstance(methods, dict) or not methods:
        fail("plot_pareto", "methods must be a non-empty dict name -> (costs, accuracies)",
             TypeError)
    for which, bars in (("yerr", yerr), ("xerr", xerr)):
        if bars is not None and not isinstance(bars, dict):
            fail("plot_pareto", f"{which} must be a dict name -> error bars or None, got "
                 f"{type(bars).__name__}", TypeError)
        unknown = sorted(set(bars or {}) - set(methods))
        if unknown:
            fail("plot_pareto", f"{which} names methods not in methods: {unknown}")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4))
    for name, (costs, accuracies) in methods.items():
        costs, accuracies = _points("plot_pareto", costs, accuracies)
        line = ax.plot(costs, accuracies, "o", alpha=0.35)[0]
        y = None if not yerr or name not in yerr else _bars("plot_pareto", name, "yerr",
                                                            yerr[name], len(costs))
        x = None if not xerr or name not in xerr else _bars("plot_pareto", name, "xerr",
                                                            xerr[name], len(costs))
        if y is not None or x is not None:
            ax.errorbar(costs, accuracies, yerr=y, xerr=x, fmt="none", ecolor=line.get_color(),
                        alpha=0.6, capsize=3)
        idx = pareto_front(costs, accuracies)
        ax.plot(costs[idx], accuracies[idx], "-o", color=line.get_color(), label=name)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax
