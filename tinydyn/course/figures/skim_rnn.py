"""Figures for the Skim-RNN lesson: Gumbel-softmax samples, which tokens a trained model read,
where its FLOPs go, and the accuracy/cost trade-off of the threshold knob.

Each function draws one figure from numbers the lesson computed and returns the matplotlib
Figure; none of them trains or times anything.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_int, fail
from tinydyn.measure import plot_pareto

__all__ = ["plot_flop_shares", "plot_gumbel_samples", "plot_skim_tokens",
           "plot_threshold_tradeoff"]


def plot_gumbel_samples(logits, taus, rng, draws: int = 20_000):
    """Histograms of the soft Gumbel-softmax sample ``y[1]`` of two ``logits`` (read, skim),
    one panel per temperature in ``taus``; ``rng`` is a NumPy Generator for the noise."""
    import matplotlib.pyplot as plt

    fn = "plot_gumbel_samples"
    logits = np.asarray(logits, dtype=float)
    if logits.shape != (2,):
        fail(fn, f"logits must hold 2 values (read, skim), got shape {logits.shape}")
    if not isinstance(rng, np.random.Generator):
        fail(fn, f"rng must be a numpy Generator, got {type(rng).__name__}", TypeError)
    taus = [float(t) for t in taus]
    if not taus or min(taus) <= 0:
        fail(fn, f"taus must be a non-empty list of temperatures > 0, got {taus}")
    draws = check_int(fn, "draws", draws, min_value=1)
    g = rng.gumbel(size=(draws, 2))
    fig, axes = plt.subplots(1, len(taus), figsize=(3.4 * len(taus), 2.6), sharey=True,
                             squeeze=False)
    for ax, tau in zip(axes[0], taus):
        s = (logits + g) / tau
        y_skim = 1 / (1 + np.exp(np.clip(s[:, 0] - s[:, 1], -700, 700)))
        ax.hist(y_skim, bins=40, range=(0, 1), color="tab:blue")
        ax.set_title(f"tau = {tau:g}: mean {y_skim.mean():.2f}, "
                     f"{(y_skim > 0.5).mean():.2f} above 1/2", fontsize=9)
        ax.set_xlabel("soft sample y(skim)")
    axes[0, 0].set_ylabel("draws")
    fig.tight_layout()
    return fig


def plot_skim_tokens(tokens, lengths, skims, is_signal, labels=None, width: int = 50):
    """One square per token of each row: red read, grey skimmed, a black frame on signal
    tokens; the first ``width`` tokens of each row. ``tokens``, ``skims`` and ``is_signal``
    are (B, T) arrays, ``lengths`` (B,), ``labels`` (B,) or None."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    fn = "plot_skim_tokens"
    tokens, skims, is_signal = np.asarray(tokens), np.asarray(skims, bool), np.asarray(is_signal,
                                                                                      bool)
    lengths = np.asarray(lengths)
    if tokens.ndim != 2 or skims.shape != tokens.shape or is_signal.shape != tokens.shape:
        fail(fn, f"tokens, skims and is_signal must be (B, T) arrays of one shape, got "
                 f"{tokens.shape}, {skims.shape} and {is_signal.shape}")
    n = tokens.shape[0]
    if lengths.shape != (n,):
        fail(fn, f"lengths must have shape ({n},), got {lengths.shape}")
    width = check_int(fn, "width", width, min_value=1)
    fig, ax = plt.subplots(figsize=(11, 0.55 * n + 0.6))
    for row in range(n):
        y = n - 1 - row
        for col in range(min(width, int(lengths[row]))):
            skimmed = skims[row, col]
            ax.add_patch(Rectangle((col, y), 0.92, 0.85,
                                   facecolor="lightgray" if skimmed else "tab:red",
                                   edgecolor="black" if is_signal[row, col] else "none",
                                   lw=1.5))
            ax.text(col + 0.46, y + 0.42, str(tokens[row, col]), ha="center", va="center",
                    fontsize=6, color="black" if skimmed else "white")
        n_read = int(lengths[row] - skims[row, :lengths[row]].sum())
        label = "" if labels is None else f"label {labels[row]}, "
        ax.text(-0.5, y + 0.42, f"{label}read {n_read}/{lengths[row]}", ha="right",
                va="center", fontsize=8)
    ax.set_xlim(-9, width)
    ax.set_ylim(0, n)
    ax.axis("off")
    ax.set_title(f"First {width} tokens: red = read (big cell), grey = skimmed (small cell), "
                 f"framed = signal token", fontsize=9)
    return fig


def plot_flop_shares(read_cost: float, skim_cost: float, decide_cost: float,
                     read_rate: float | None = None):
    """A Skim-RNN step's FLOPs as a fraction of an LSTM step's, against the read rate r:
    ``r·read + (1 - r)·skim + decision``, stacked by part; ``read_rate`` marks a model."""
    import matplotlib.pyplot as plt

    fn = "plot_flop_shares"
    if not 0 < skim_cost <= read_cost or decide_cost < 0:
        fail(fn, f"need 0 < skim_cost <= read_cost and decide_cost >= 0, got read "
                 f"{read_cost}, skim {skim_cost}, decision {decide_cost}")
    r = np.linspace(0, 1, 101)
    parts = {"decision (every token)": np.full_like(r, decide_cost / read_cost),
             "small cell (skimmed tokens)": (1 - r) * skim_cost / read_cost,
             "big cell (read tokens)": r}
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    ax.stackplot(r, *parts.values(), labels=list(parts),
                 colors=("tab:orange", "lightgray", "tab:red"))
    ax.axhline(1, color="black", lw=1, ls="--", label="full LSTM")
    if read_rate is not None:
        total = read_rate + (1 - read_rate) * skim_cost / read_cost + decide_cost / read_cost
        ax.plot([read_rate], [total], "o", color="black", ms=6,
                label=f"this model: read {read_rate:.1%}, {total:.1%} of the FLOPs")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.12)
    ax.set_xlabel("read rate r (fraction of tokens read by the big cell)")
    ax.set_ylabel("FLOPs per token / LSTM's")
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def _readable_log_ticks(ax) -> None:
    """Label a log x axis at 1, 2 and 5 times each power of ten, as 200k or 50 (no minor
    labels, which overlap when the axis spans less than a decade)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    def label(value, _position):
        for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if value >= scale:
                return f"{value / scale:g}{suffix}"
        return f"{value:g}"

    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1, 2, 5)))
    ax.xaxis.set_major_formatter(FuncFormatter(label))
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_threshold_tradeoff(rows, lstm):
    """Accuracy against FLOPs and against measured time, one point per threshold.

    ``rows``: dicts with ``threshold``, ``accuracy``, ``flops`` and ``seconds`` (per
    sequence); ``lstm``: one dict with ``accuracy``, ``flops`` and ``seconds``."""
    import matplotlib.pyplot as plt

    fn = "plot_threshold_tradeoff"
    keys = ("accuracy", "flops", "seconds")
    for i, row in enumerate([*rows, lstm]):
        if not isinstance(row, dict) or any(k not in row for k in keys):
            fail(fn, f"every row and lstm must be a dict with {keys}, got {row!r} (item {i})",
                 TypeError)
    if any("threshold" not in row for row in rows):
        fail(fn, "every row must name its threshold")
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    accuracy = [row["accuracy"] for row in rows]
    for ax, key, unit, scale in ((axes[0], "flops", "FLOPs per sequence", 1.0),
                                 (axes[1], "seconds", "batch-1 µs per sequence", 1e6)):
        costs = [row[key] * scale for row in rows]
        plot_pareto({"Skim-RNN, one point per threshold": (costs, accuracy),
                     "full LSTM": ([lstm[key] * scale], [lstm["accuracy"]])},
                    xlabel=unit + " (log)", ylabel="test accuracy", ax=ax)
        for row, cost in zip(rows, costs):
            ax.annotate(f"{row['threshold']:g}", (cost, row["accuracy"]), fontsize=8,
                        xytext=(4, -10), textcoords="offset points")
        _readable_log_ticks(ax)
    axes[0].set_title("accuracy against FLOPs")
    axes[1].set_title("accuracy against measured time")
    fig.tight_layout()
    return fig
