"""Lesson 07 (learned routing) figures: a routing drawn as a token-by-expert table, the load
per expert over training, and which regions each expert serves.

Every function draws on a given Axes (or a new figure) and returns what it drew on, so a
lesson calls it in one line and a test can inspect the artists.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import fail

__all__ = ["plot_load", "plot_routing", "plot_specialisation"]


def _axes(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_routing(routing, kept=None, ax=None):
    """A Routing as a table, tokens down and experts across: each wanted assignment's gate
    written in its cell, with its queue slot; assignments missing from ``kept`` (the Routing
    after capacity) are struck through in red. Returns the Axes."""
    s, e = routing.n_tokens, routing.n_experts
    ax = _axes(ax, (0.9 * e + 1.5, 0.45 * s + 1))
    grid = np.zeros((s, e))
    grid[routing.token, routing.expert] = routing.gate.data
    ax.imshow(grid, cmap="Blues", vmin=0, vmax=max(1e-9, grid.max()) * 1.6, aspect="auto")
    kept_pairs = None if kept is None else set(zip(kept.token.tolist(), kept.expert.tolist()))
    slots = dict(zip(zip(kept.token.tolist(), kept.expert.tolist()), kept.slot.tolist())) \
        if kept is not None and kept.slot is not None else {}
    for t, x, g in zip(routing.token, routing.expert, routing.gate.data):
        dropped = kept_pairs is not None and (t, x) not in kept_pairs
        label = f"{g:.2f}" + (f"\nslot {slots[(t, x)]}" if (t, x) in slots else "")
        ax.text(x, t, label + ("\ndropped" if dropped else ""), ha="center", va="center",
                fontsize=7, color="red" if dropped else "black")
    ax.set_xticks(range(e))
    ax.set_yticks(range(s))
    ax.set_xlabel("expert")
    ax.set_ylabel("token")
    return ax


def plot_load(load: np.ndarray, ax=None, title: str | None = None, smooth: int = 20):
    """Per-step load fractions (steps, E), one line per expert (a running mean over ``smooth``
    steps), with the even share 1/E dashed. Returns the Axes."""
    load = np.asarray(load, dtype=float)
    if load.ndim != 2 or load.shape[0] == 0:
        fail("plot_load", f"load must be 2-D (steps, E) with at least one step, got shape "
             f"{load.shape}")
    ax = _axes(ax, (5, 3))
    w = max(1, min(int(smooth), load.shape[0]))
    kernel = np.ones(w) / w
    for e in range(load.shape[1]):
        ax.plot(np.convolve(load[:, e], kernel, mode="valid"), lw=1, label=f"expert {e}")
    ax.axhline(1 / load.shape[1], color="k", ls="--", lw=0.8)
    ax.set(xlabel="step", ylabel="share of assignments", ylim=(0, 1))
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_specialisation(counts: np.ndarray, ax=None, title: str | None = None):
    """counts (R, E): how many points of region r went to expert e; drawn as each region's
    share per expert (rows sum to 1). Returns the Axes."""
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 2:
        fail("plot_specialisation", f"counts must be 2-D (regions, experts), got shape "
             f"{counts.shape}")
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    ax = _axes(ax, (4, 3.2))
    image = ax.imshow(share, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.figure.colorbar(image, ax=ax, label="share of the region's points")
    ax.set(xlabel="expert", ylabel="region")
    if title:
        ax.set_title(title, fontsize=9)
    return ax
