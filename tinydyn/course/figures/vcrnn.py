"""Lesson 04 (VCRNN) figures: the soft mask, the rows updated per token, the time of a step,
and the accuracy/cost trade-off (also used by lesson 05).

Every function draws on a given Axes (or a new figure) and returns what it drew on, so a
lesson calls it in one line and a test can inspect the artists.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_int, fail
from tinydyn.kernels.vcrnn import soft_mask
from tinydyn.measure import plot_pareto

__all__ = ["moving_average", "plot_rows_updated", "plot_soft_mask", "plot_step_time",
           "plot_tradeoff"]


def _axes(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def moving_average(values, width: int = 10) -> np.ndarray:
    """The mean of each ``width`` consecutive values (a noisy per-step log, smoothed)."""
    width = check_int("moving_average", "width", width, min_value=1)
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or values.size < width:
        fail("moving_average", f"values must be 1-D with at least width = {width} entries, "
                               f"got shape {values.shape}")
    return np.convolve(values, np.ones(width) / width, mode="valid")


def _short(value: float) -> str:
    """1500000 -> "1.5M", 20000 -> "20k", 0.05 -> "0.05"."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def _plain_log_ticks(ax):
    """Label a log x axis at 1, 2 and 5 times each power of ten, as plain numbers."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: _short(value)))
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_soft_mask(m: float, d: int, sharpness, eps: float = 0.0, ax=None):
    """The soft mask ``e_j`` over the rows ``j = 0 .. d-1`` for one ratio ``m``: one line per
    sharpness in ``sharpness``, labelled with the mask's sum, and a dotted line where a hard
    decision puts the boundary (``m d - 1/2``). Returns the Axes."""
    d = check_int("plot_soft_mask", "d", d, min_value=1)
    ax = _axes(ax, (6, 3))
    for lam in sharpness:
        e = soft_mask(np.array([m], np.float64), d, float(lam), eps)[0]
        ax.plot(e, ".-", label=f"λ = {lam:g}: Σe = {e.sum():.2f}")
    ax.axvline(m * d - 0.5, color="gray", ls=":", label=f"m d - 1/2 = {m * d - 0.5:g}")
    ax.set(xlabel="row j", ylabel="mask $e_j$", ylim=(-0.05, 1.05),
           title=f"soft mask for m = {m:g}, d = {d}, ε = {eps:g}")
    ax.legend(fontsize=8)
    return ax


def plot_rows_updated(ks, lengths, d: int, signal_positions=None, ax=None):
    """A heat map of the rows each token updated, as a fraction of d: one row per sequence
    (``ks`` (B, T), padding past ``lengths`` left blank); ``signal_positions`` (B, S), -1
    for none, circles the tokens that carry the label. Returns the Axes."""
    ks = np.asarray(ks)
    lengths = np.asarray(lengths)
    if ks.ndim != 2 or lengths.shape != (ks.shape[0],):
        fail("plot_rows_updated", f"ks must be (B, T) and lengths (B,), got {ks.shape} and "
                                  f"{lengths.shape}")
    ax = _axes(ax, (10, 0.4 * ks.shape[0] + 1.2))
    real = np.arange(ks.shape[1])[None] < lengths[:, None]
    share = np.where(real, ks / d, np.nan)
    image = ax.imshow(share, aspect="auto", cmap="viridis", interpolation="nearest", vmin=0,
                      vmax=max(0.25, float(np.nanmax(share))))
    if signal_positions is not None:
        rows, cols = np.nonzero(np.asarray(signal_positions) >= 0)
        xs = np.asarray(signal_positions)[rows, cols]
        ax.plot(xs, rows, "o", mfc="none", mec="red", ms=9, mew=1.5, label="signal token")
        ax.legend(fontsize=8, loc="upper right")
    ax.figure.colorbar(image, ax=ax, fraction=0.03, label="rows updated / d")
    ax.set(xlabel="token position", ylabel="sequence", yticks=range(ks.shape[0]))
    return ax


def plot_step_time(ks, seconds, fit, lstm_seconds: float, flop_fraction, ax=None):
    """Measured time of one hard step against the rows it recomputes ``ks``, with the fitted
    line ``a + b k`` (``fit = (a, b)``), the LSTM step's time, and the time the VCRNN step
    would take if it ran at the LSTM's FLOPs per second (``lstm_seconds * flop_fraction``,
    the fraction of an LSTM step's FLOPs at each k). Times in seconds, drawn in ns."""
    ks, seconds, flop_fraction = (np.asarray(v, float) for v in (ks, seconds, flop_fraction))
    if not (ks.shape == seconds.shape == flop_fraction.shape and ks.ndim == 1):
        fail("plot_step_time", f"ks, seconds and flop_fraction must be 1-D of one length, got "
                               f"{ks.shape}, {seconds.shape}, {flop_fraction.shape}")
    a, b = fit
    ax = _axes(ax, (6, 3.5))
    ax.plot(ks, 1e9 * seconds, "o", label="hard VCRNN step (measured)")
    ax.plot(ks, 1e9 * (a + b * ks), ":", label=f"fit a + b k: {1e9 * a:.0f} + {1e9 * b:.1f} k ns")
    ax.plot(ks, 1e9 * lstm_seconds * flop_fraction, "--",
            label="at the LSTM kernel's FLOPs per ns")
    ax.axhline(1e9 * lstm_seconds, color="black", lw=1, label="LSTM step (measured)")
    ax.set(xlabel="rows recomputed k", ylabel="ns per step", ylim=(0, None),
           title="the time of one step")
    ax.legend(fontsize=8)
    return ax


def plot_tradeoff(methods: dict, names=None, axes=None):
    """Accuracy against FLOPs and against measured time, side by side, with each method's
    Pareto front (:func:`tinydyn.measure.plot_pareto`).

    ``methods`` maps a name to ``(flops, seconds, accuracies)``, three equal-length sequences
    (one point per knob value or per model). ``names`` optionally labels the points of each
    method (name -> a label per point). Returns the two Axes.
    """
    if not isinstance(methods, dict) or not methods:
        fail("plot_tradeoff", "methods must be a non-empty dict name -> (flops, seconds, "
                              "accuracies)", TypeError)
    for name, columns in methods.items():
        if len(columns) != 3 or len({len(c) for c in columns}) != 1:
            fail("plot_tradeoff", f"methods[{name!r}] must be (flops, seconds, accuracies) of "
                                  f"one length, got {[len(c) for c in columns]}")
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    panels = (("FLOPs", 1.0, "FLOPs per sequence"), ("measured time", 1e3, "ms per sequence"))
    for i, (ax, (what, scale, unit)) in enumerate(zip(axes, panels)):
        points = {name: ([scale * x for x in columns[i]], list(columns[2]))
                  for name, columns in methods.items()}
        plot_pareto(points, xlabel=f"{unit} (log)", ax=ax, title=f"accuracy vs {what}")
        _plain_log_ticks(ax)
        for name, labels in (names or {}).items():
            for x, y, label in zip(*points[name], labels):
                ax.annotate(label, (x, y), fontsize=7, textcoords="offset points",
                            xytext=(4, -10))
        ax.legend(fontsize=8)
    return axes
