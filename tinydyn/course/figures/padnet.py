"""Lesson 11 (PAD-Net) figures: where the dynamic entries of a mask land, how IMP's rounds
shrink each layer, the density schedules, accuracy against stored parameters, lambda_d in
training.

Every function draws on a given Axes (or a new figure) and returns the Axes, so a lesson calls
it in one line and a test can inspect the artists.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import fail

__all__ = ["mask_image", "plot_accuracy_vs_params", "plot_lambda", "plot_layer_ratios",
           "plot_mask", "plot_schedules"]


def _axes(ax, figsize):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def mask_image(mask) -> np.ndarray:
    """A 2-D picture of a mask: a conv mask (O, C, kh, kw) becomes (O, C*kh*kw), one row per
    output channel; a 2-D mask is returned as it is."""
    mask = np.asarray(mask)
    if mask.ndim == 4:
        return mask.reshape(mask.shape[0], -1)
    if mask.ndim != 2:
        fail("mask_image", f"mask must be 2-D or 4-D (a conv kernel), got shape {mask.shape}")
    return mask


def plot_mask(mask, ax=None, title: str | None = None, xlabel: str = "input x kernel position"):
    """Dynamic entries dark, static entries light; the dynamic fraction in the title."""
    image = mask_image(mask)
    ax = _axes(ax, (6, 2))
    ax.imshow(image, cmap="Greys", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    ax.set_title(f"{title + ': ' if title else ''}{image.mean():.0%} dynamic", fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel("output", fontsize=8)
    return ax


def plot_layer_ratios(log: dict, names=None, ax=None):
    """IMP's log: each layer's dynamic fraction after each round, and the global target."""
    ratios = np.asarray(log.get("layer_ratios", []), dtype=float)
    if ratios.ndim != 2 or ratios.size == 0:
        fail("plot_layer_ratios", "log must hold 'layer_ratios' (rounds x layers), got "
                                  f"{ratios.shape}")
    ax = _axes(ax, (5, 3))
    rounds = np.arange(1, ratios.shape[0] + 1)
    names = names or [f"layer {i + 1}" for i in range(ratios.shape[1])]
    for i, name in enumerate(names):
        ax.plot(rounds, ratios[:, i], "o-", label=name)
    ax.plot(rounds, log["density"], "k--", label="global target kappa^(t/T)")
    ax.set_xlabel("IMP round t")
    ax.set_ylabel("dynamic fraction")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8)
    return ax


def plot_schedules(kappa: float, iterations: int, ax=None):
    """The exponential schedule kappa^(t/T) against the linear one, t = 0..T."""
    from tinydyn.dynamic.padnet import density_schedule

    ax = _axes(ax, (5, 3))
    t = np.arange(iterations + 1)
    for kind, style in (("exponential", "o-"), ("linear", "s--")):
        ax.plot(t, np.r_[1.0, density_schedule(kappa, iterations, kind)], style, label=kind)
    ax.set_xlabel("round t")
    ax.set_ylabel("target dynamic fraction")
    ax.legend(fontsize=8)
    return ax


def plot_accuracy_vs_params(points: dict, ax=None, xlabel: str = "stored parameters"):
    """``points``: method -> list of (parameters, accuracy) (a curve) or one pair (a star)."""
    ax = _axes(ax, (6, 4))
    for name, values in points.items():
        values = np.asarray(values, dtype=float).reshape(-1, 2)
        style = "*" if len(values) == 1 else "o-"
        ax.plot(values[:, 0], 100 * values[:, 1], style, markersize=10 if len(values) == 1
                else 5, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy %")
    ax.legend(fontsize=8)
    return ax


def plot_lambda(histories: dict, ax=None):
    """lambda_d against the training step, one curve per model; 1 is the start."""
    ax = _axes(ax, (5, 3))
    for name, values in histories.items():
        ax.plot(np.arange(len(values)), values, label=name)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xlabel("training step")
    ax.set_ylabel("lambda_d = 2 sigmoid(phi)")
    ax.legend(fontsize=8)
    return ax
