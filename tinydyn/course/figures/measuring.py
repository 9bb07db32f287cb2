"""Lesson 12 (measuring dynamic networks) figures and the summaries they draw from: every
method's FLOP speed-up against its measured speed-up, realisation against model and batch
size, and a latency model's predictions against the measurements.

Every function draws on a given Axes (or a new figure) and returns what it drew on.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import fail

__all__ = ["operating_points", "plot_predictions", "plot_speedup_map", "plot_survival"]


def _axes(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def operating_points(rows: list[dict], max_drop: float = 0.01) -> list[dict]:
    """Per (family, task): among the rows that save FLOPs (speed-up above 1.05) with accuracy
    at most ``max_drop`` below the baseline's (a fraction: 0.01 = 1 point), the one saving the
    most; where none does (a method that buys accuracy with FLOPs, or loses too much), the most
    accurate row. Rows of :mod:`tinydyn.bench.rows`; baselines left out."""
    if not 0 <= max_drop < 1:
        fail("operating_points", f"max_drop must be in [0, 1), got {max_drop}")
    chosen = []
    for key in sorted({(r["family"], r["task"]) for r in rows}):
        group = [r for r in rows if (r["family"], r["task"]) == key]
        base = next(r for r in group if r["baseline"])
        methods = [r for r in group if not r["baseline"] and r["accuracy"] is not None
                   and r["flop_speedup"] is not None]
        if not methods or base["accuracy"] is None:
            continue
        close = [r for r in methods if r["accuracy"] >= base["accuracy"] - max_drop
                 and r["flop_speedup"] > 1.05]
        best = (max(close, key=lambda r: r["flop_speedup"]) if close
                else max(methods, key=lambda r: r["accuracy"]))
        chosen.append({**best, "within_drop": bool(close),
                       "accuracy_drop": base["accuracy"] - best["accuracy"]})
    return chosen


def plot_speedup_map(rows: list[dict], ax=None, batched: bool = False):
    """FLOP speed-up (x) against measured speed-up (y), log-log, one colour per family; the
    diagonal is realisation 1, the horizontal line at 1 is "no faster than the baseline"."""
    ax = _axes(ax, (6, 4.5))
    key = "speedup_batched" if batched else "speedup_batch1"
    points = [r for r in rows if not r["baseline"] and r["flop_speedup"] and r[key]]
    if not points:
        fail("plot_speedup_map", f"no row has both a FLOP speed-up and a {key}")
    for family in sorted({r["family"] for r in points}):
        mine = [r for r in points if r["family"] == family]
        ax.plot([r["flop_speedup"] for r in mine], [r[key] for r in mine], "o", alpha=0.7,
                label=family)
    low = min(min(r["flop_speedup"], r[key]) for r in points) / 1.3
    high = max(max(r["flop_speedup"], r[key]) for r in points) * 1.3
    ax.plot([low, high], [low, high], "k--", lw=0.8, label="realisation 1")
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("FLOP speed-up over the baseline")
    ax.set_ylabel(("batched" if batched else "batch-1") + " measured speed-up")
    ax.legend(fontsize=8)
    return ax


def plot_survival(points: list[dict], axes=None):
    """Realisation against the size sweep (left) and the batch sweep (right), one line per
    method, from :mod:`tinydyn.bench.survival` points (with their ratios)."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, axis in zip(axes, ("size", "batch")):
        chosen = [p for p in points if p["axis"] == axis]
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.set_ylabel("realisation (speed-up / FLOP speed-up)")
        if not chosen:
            continue
        for method in sorted({p["method"] for p in chosen}):
            mine = sorted((p for p in chosen if p["method"] == method), key=lambda p: p["x"])
            ax.plot([p["x"] for p in mine], [p["realisation"] for p in mine], "o-",
                    label=method)
        ax.set_xscale("log", base=2)
        batch = chosen[0]["batch_size"] if axis == "size" else None
        ax.set_xlabel(chosen[0]["x_name"] + ("" if batch is None else f" (batch {batch})"))
        ax.legend(fontsize=8)
    return axes


def plot_predictions(predictions: list[dict], ax=None, label_key: str = "method"):
    """A latency model's predicted speed-ups (x) against the measured ones (y), log-log, with
    the diagonal and a ±25% band."""
    ax = _axes(ax, (5, 4.2))
    if not predictions:
        fail("plot_predictions", "predictions must not be empty")
    for name in sorted({p[label_key] for p in predictions}):
        mine = [p for p in predictions if p[label_key] == name]
        ax.plot([p["predicted"] for p in mine], [p["measured"] for p in mine], "o", label=name)
    values = [v for p in predictions for v in (p["predicted"], p["measured"])]
    grid = np.geomspace(min(values) / 1.3, max(values) * 1.3, 50)
    ax.plot(grid, grid, "k--", lw=0.8)
    ax.fill_between(grid, grid / 1.25, grid * 1.25, color="grey", alpha=0.15,
                    label="within 25%")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("speed-up predicted by the latency model")
    ax.set_ylabel("measured speed-up")
    ax.legend(fontsize=8)
    return ax
