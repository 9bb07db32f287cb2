"""Lesson 10 (early exit) figures: confidence per layer, policies side by side, exit-layer
histograms, and what a batch computes layer by layer under each engine.

Every function draws on a given Axes (or a new figure) and returns the Axes, so a lesson calls
it in one line and a test can inspect the artists.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_int, fail

__all__ = ["batch_occupancy", "layer_confidence", "plot_batch_occupancy",
           "plot_exit_histograms", "plot_layer_confidence", "plot_policy_sweeps"]


def _axes(ax, size=(6, 3.2)):
    import matplotlib.pyplot as plt

    return ax if ax is not None else plt.subplots(figsize=size)[1]


def layer_confidence(logits, labels) -> dict:
    """Per layer of a (L, N, C) stack: accuracy, mean top probability, mean entropy (nats)."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels)
    if z.ndim != 3 or y.shape != (z.shape[1],):
        fail("layer_confidence", f"logits must be (L, N, C) and labels (N,), got {z.shape} "
             f"and {y.shape}")
    shifted = z - z.max(axis=2, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=2, keepdims=True))
    p = np.exp(log_p)
    return {"accuracy": (z.argmax(2) == y).mean(1), "max_prob": p.max(2).mean(1),
            "entropy": -(p * log_p).sum(2).mean(1)}


def plot_layer_confidence(logits, labels, ax=None):
    """Accuracy and mean top probability of each exit, layer 1..L."""
    info = layer_confidence(logits, labels)
    ax = _axes(ax)
    layers = np.arange(1, len(info["accuracy"]) + 1)
    ax.plot(layers, info["accuracy"], "o-", label="accuracy of exit i")
    ax.plot(layers, info["max_prob"], "s--", label="mean top probability")
    ax.set_xlabel("layer i")
    ax.set_xticks(layers)
    ax.set_ylim(top=1.0)
    ax.legend()
    return ax


def plot_policy_sweeps(sweeps: dict, full_accuracy: float, depth: int, ax=None,
                       xlabel: str = "mean layers run"):
    """Accuracy against cost for each policy: ``sweeps`` maps a name to (costs, accuracies)
    over its knob; a dashed line marks the full model (cost ``depth``)."""
    if not isinstance(sweeps, dict) or not sweeps:
        fail("plot_policy_sweeps", f"sweeps must be a non-empty dict name -> (costs, "
             f"accuracies), got {sweeps!r}", TypeError)
    ax = _axes(ax)
    for name, (cost, acc) in sweeps.items():
        order = np.argsort(cost)
        ax.plot(np.asarray(cost)[order], np.asarray(acc)[order], "o-", ms=3, label=name)
    ax.axhline(full_accuracy, color="black", ls="--", lw=0.8, label="full model")
    ax.axvline(depth, color="grey", ls=":", lw=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=8)
    return ax


def plot_exit_histograms(groups: dict, depth: int, ax=None):
    """Share of samples exiting at each layer, one bar group per name -> exit layers (N,)."""
    depth = check_int("plot_exit_histograms", "depth", depth, min_value=1)
    ax = _axes(ax)
    width = 0.8 / max(len(groups), 1)
    layers = np.arange(1, depth + 1)
    for k, (name, exits) in enumerate(groups.items()):
        exits = np.asarray(exits)
        if exits.size == 0 or exits.min() < 1 or exits.max() > depth:
            fail("plot_exit_histograms", f"exit layers of {name!r} must lie in [1, {depth}]")
        share = np.bincount(exits, minlength=depth + 1)[1:] / len(exits)
        ax.bar(layers + (k - (len(groups) - 1) / 2) * width, share, width, label=name)
    ax.set_xticks(layers)
    ax.set_xlabel("exit layer")
    ax.set_ylabel("share of samples")
    ax.legend()
    return ax


def batch_occupancy(exit_layers, batch_size: int, depth: int) -> dict:
    """Rows computed at each layer 1..L, summed over the batches of ``batch_size``:
    ``"wait-for-all"`` (a batch runs every row until its deepest exit) and ``"compaction"``
    (only the rows still running), with ``"useful"`` = the compaction counts."""
    exits = np.asarray(exit_layers)
    batch_size = check_int("batch_occupancy", "batch_size", batch_size, min_value=1)
    depth = check_int("batch_occupancy", "depth", depth, min_value=1)
    wait = np.zeros(depth, np.int64)
    compact = np.zeros(depth, np.int64)
    for a in range(0, len(exits), batch_size):
        e = exits[a:a + batch_size]
        wait[:e.max()] += len(e)
        compact += (e[:, None] >= np.arange(1, depth + 1)[None]).sum(0)
    return {"wait-for-all": wait, "compaction": compact}


def plot_batch_occupancy(exit_layers, batch_size: int, depth: int, ax=None):
    """Bars: rows computed per layer under wait-for-all against compaction (= the work the
    exits ask for); the gap is the work wait-for-all wastes."""
    occ = batch_occupancy(exit_layers, batch_size, depth)
    ax = _axes(ax)
    layers = np.arange(1, depth + 1)
    ax.bar(layers - 0.2, occ["wait-for-all"], 0.4, label=f"wait-for-all "
           f"({occ['wait-for-all'].sum():,} row-layers)")
    ax.bar(layers + 0.2, occ["compaction"], 0.4, label=f"compaction / refill "
           f"({occ['compaction'].sum():,})")
    ax.set_xticks(layers)
    ax.set_xlabel("layer")
    ax.set_ylabel("rows computed")
    ax.set_title(f"batches of {batch_size}")
    ax.legend(fontsize=8)
    return ax
