"""Figures for the token-pruning lesson: which tokens survive each layer, and how many.

Each function draws one figure from numbers the lesson computed and returns the matplotlib
Figure; none of them trains or times anything.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_int, fail

__all__ = ["plot_kept_per_layer", "plot_surviving_tokens"]


def plot_surviving_tokens(positions, lengths, signal_positions, titles=None, width: int = 64):
    """Tokens x layers, one panel per example: a filled cell where the token is still in the
    layer's input, a red frame on the signal tokens, the [CLS] token at column 0.

    ``positions``: per layer l, a list over examples of the original positions layer l ran
    on (``HardResult.positions``); ``lengths`` (B,) real lengths; ``signal_positions``: per
    example, the token indices (0-based, [CLS] not counted) that carry the label; only the
    first ``width`` positions are drawn.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    fn = "plot_surviving_tokens"
    if not isinstance(positions, (list, tuple)) or not positions:
        fail(fn, "positions must be a non-empty list (one entry per layer)", TypeError)
    lengths = np.asarray(lengths)
    B, L = len(lengths), len(positions)
    if any(len(layer) != B for layer in positions) or len(signal_positions) != B:
        fail(fn, f"positions (per layer) and signal_positions must hold {B} examples "
             "(one per length)")
    width = check_int(fn, "width", width, min_value=2)
    fig, axes = plt.subplots(B, 1, figsize=(9, 0.9 + 0.32 * L * B), squeeze=False)
    for b, ax in enumerate(axes[:, 0]):
        n = min(width, int(lengths[b]) + 1)
        grid = np.zeros((L, n))
        for layer in range(L):
            kept = np.asarray(positions[layer][b])
            grid[layer, kept[kept < n]] = 1
        ax.imshow(grid, aspect="auto", cmap="Greys", vmin=0, vmax=1.4, interpolation="none")
        for p in np.asarray(signal_positions[b]):
            if 0 <= p + 1 < n:
                ax.add_patch(Rectangle((p + 0.5, -0.5), 1, L, fill=False, edgecolor="red",
                                       linewidth=1.5))
        ax.set_yticks(range(L))
        ax.set_yticklabels([f"layer {layer}" for layer in range(L)], fontsize=7)
        ax.set_xticks([0])
        ax.set_xticklabels(["CLS"], fontsize=7)
        if titles is not None:
            ax.set_title(titles[b], fontsize=9, loc="left")
    axes[-1, 0].set_xlabel(f"token position (first {width}); dark = in the layer's input, "
                           "red frame = signal token")
    fig.tight_layout()
    return fig


def plot_kept_per_layer(kept: dict, full_length: float):
    """Mean tokens entering each layer, one line per method (``kept``: name -> (L,) means),
    against the full sequence (``full_length``, [CLS] included)."""
    import matplotlib.pyplot as plt

    fn = "plot_kept_per_layer"
    if not isinstance(kept, dict) or not kept:
        fail(fn, "kept must be a non-empty dict name -> tokens per layer", TypeError)
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for name, values in kept.items():
        values = np.asarray(values, dtype=float)
        if values.ndim != 1:
            fail(fn, f"kept[{name!r}] must be 1-D (one value per layer), got {values.shape}")
        ax.plot(range(len(values)), values, "-o", label=name)
    ax.axhline(full_length, color="k", linestyle="--", linewidth=1, label="full sequence")
    ax.set_yscale("log")
    ax.set_xlabel("layer")
    ax.set_ylabel("tokens in the layer's input (mean)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
