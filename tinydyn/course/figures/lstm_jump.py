"""Lesson 05 (LSTM-Jump) figures: the tokens read and jumped over, and the time of a call
against the tokens it reads. The accuracy/cost panels are lesson 04's :func:`plot_tradeoff`.

Every function draws on a given Axes (or a new figure) and returns the Axes, so a lesson calls
it in one line and a test can inspect the artists.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import fail
from tinydyn.course.figures.vcrnn import moving_average, plot_tradeoff

__all__ = ["READ_COLOURS", "moving_average", "plot_call_time", "plot_reads", "plot_tradeoff",
           "read_grid"]

# grid value -> colour: padding, jumped over, read, a signal jumped over, a signal read
READ_COLOURS = {-1: "white", 0: "#eeeeee", 1: "#7fb3d5", 2: "#e74c3c", 3: "#1e8449"}


def read_grid(lengths, positions, signal_positions=None) -> np.ndarray:
    """What each position of a padded batch was: -1 padding, 0 jumped over, 1 read, and 2 more
    where a signal token sits (2: a signal jumped over, 3: a signal read).

    ``positions`` (B, T'): the positions read per row, -1 for none (``LSTMJump.infer``'s
    ``"positions"``); ``signal_positions`` (B, S), -1 for none."""
    lengths = np.asarray(lengths)
    positions = np.asarray(positions)
    if positions.ndim != 2 or lengths.shape != (positions.shape[0],):
        fail("read_grid", f"positions must be (B, T) and lengths (B,), got {positions.shape} "
                          f"and {lengths.shape}")
    T = int(lengths.max())
    grid = np.where(np.arange(T)[None] < lengths[:, None], 0, -1)
    for b, row in enumerate(positions):
        grid[b, row[row >= 0]] = 1
    if signal_positions is not None:
        for b, row in enumerate(np.asarray(signal_positions)):
            grid[b, row[row >= 0]] += 2
    return grid


def plot_reads(tokens, lengths, positions, signal_positions=None, ax=None,
               title: str | None = None):
    """One row per sequence, one cell per token: read (blue), jumped over (grey), and, with
    ``signal_positions``, the signal tokens read (green) or jumped over (red). Token ids are
    written in the cells when the sequences are short (at most 40 tokens)."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    grid = read_grid(lengths, positions, signal_positions)
    B, T = grid.shape
    if ax is None:
        _, ax = plt.subplots(figsize=(min(12, 0.3 * T + 1), 0.45 * B + 0.9))
    ax.imshow(grid, cmap=ListedColormap(list(READ_COLOURS.values())), vmin=-1.5, vmax=3.5,
              aspect="auto", interpolation="nearest")
    if T <= 40:
        for (b, t), token in np.ndenumerate(np.asarray(tokens)[:, :T]):
            if grid[b, t] >= 0:
                ax.text(t, b, str(token), ha="center", va="center", fontsize=6)
    legend = "grey: jumped over, blue: read"
    if signal_positions is not None:
        legend += ", green: signal read, red: signal jumped over"
    ax.set(xlabel=f"position ({legend})", yticks=range(B), ylabel="sequence")
    if title:
        ax.set_title(title)
    return ax


def plot_call_time(n_read, seconds, fit, lstm=None, ax=None):
    """Measured time of one batch-1 call against the tokens it read (one point per budget),
    with the fitted line ``a + b n`` (``fit = (a, b)``), and optionally the full LSTM as a
    point ``lstm = (tokens, seconds)``. Times in seconds, drawn in µs."""
    n_read, seconds = np.asarray(n_read, float), np.asarray(seconds, float)
    if n_read.shape != seconds.shape or n_read.ndim != 1:
        fail("plot_call_time", f"n_read and seconds must be 1-D of one length, got "
                               f"{n_read.shape} and {seconds.shape}")
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    a, b = fit
    ax.plot(n_read, 1e6 * seconds, "o", label="LSTM-Jump, one budget N each (measured)")
    span = np.array([0.0, max(n_read.max(), lstm[0] if lstm else 0.0)])
    ax.plot(span, 1e6 * (a + b * span), ":",
            label=f"fit a + b n: {1e6 * a:.1f} + {1e6 * b:.2f} n µs")
    if lstm is not None:
        ax.plot([lstm[0]], [1e6 * lstm[1]], "s", color="black", label="full LSTM (measured)")
    ax.set(xlabel="tokens read per sequence n", ylabel="µs per sequence", xlim=(0, None),
           ylim=(0, None), title="the time of one call")
    ax.legend(fontsize=8)
    return ax
