"""Lesson 08 (balanced and unlearned routing) figures: an assignment drawn over its scores,
and which hidden groups of tokens each expert serves.

Every function draws on a given Axes (or a new figure) and returns what it drew on, so a
lesson calls it in one line and a test can inspect the artists.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_int, fail

__all__ = ["expert_group_counts", "plot_assignments", "plot_expert_groups"]


def _axes(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_assignments(scores: np.ndarray, assignments: dict, ax=None):
    """The scores (T, E) as a heat map (tokens down, experts across), and one marker per
    token for each assignment in ``assignments`` (name -> int (T,) expert per token), each
    labelled with its total score. Returns the Axes."""
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2:
        fail("plot_assignments", f"scores must be 2-D (T, E), got shape {scores.shape}")
    ax = _axes(ax, (4, 5))
    image = ax.imshow(scores, cmap="Greys", aspect="auto")
    ax.figure.colorbar(image, ax=ax, label="score")
    rows = np.arange(scores.shape[0])
    markers = ("o", "x", "+", "s")
    for k, (name, expert) in enumerate(assignments.items()):
        expert = np.asarray(expert)
        if expert.shape != (scores.shape[0],):
            fail("plot_assignments", f"assignment {name!r} must have shape "
                 f"({scores.shape[0]},), got {expert.shape}")
        total = scores[rows, expert].sum()
        offset = 0.18 * (k - (len(assignments) - 1) / 2)
        marker = markers[k % len(markers)]
        style = ({"facecolors": "none", "edgecolors": f"C{k}"} if marker in "os"
                 else {"color": f"C{k}"})  # hollow circles and squares, coloured crosses
        ax.scatter(expert + offset, rows, marker=marker, s=45,
                   label=f"{name}: total {total:.2f}", **style)
    ax.set_xticks(range(scores.shape[1]))
    ax.set_xlabel("expert")
    ax.set_ylabel("token")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    return ax


def expert_group_counts(expert: np.ndarray, group: np.ndarray, n_experts: int,
                        n_groups: int) -> np.ndarray:
    """int64 (E, G): how many of the routed tokens of hidden group g went to expert e."""
    fn = "expert_group_counts"
    n_experts = check_int(fn, "n_experts", n_experts, min_value=1)
    n_groups = check_int(fn, "n_groups", n_groups, min_value=1)
    expert, group = np.asarray(expert).reshape(-1), np.asarray(group).reshape(-1)
    if expert.shape != group.shape:
        fail(fn, f"expert and group must have the same length, got {expert.size} and "
                 f"{group.size}")
    counts = np.zeros((n_experts, n_groups), dtype=np.int64)
    np.add.at(counts, (expert, group), 1)
    return counts


def plot_expert_groups(counts: np.ndarray, title: str = "", ax=None):
    """A (E, G) count matrix (:func:`expert_group_counts`), each expert's row normalised to
    the share of its tokens from each group: a router that specialises by group shows one dark
    cell per row. Returns the Axes."""
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 2:
        fail("plot_expert_groups", f"counts must be 2-D (E, G), got shape {counts.shape}")
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    ax = _axes(ax, (3.2, 3))
    ax.imshow(share, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xlabel("hidden group of the token")
    ax.set_ylabel("expert")
    ax.set_title(title, fontsize=9)
    return ax
