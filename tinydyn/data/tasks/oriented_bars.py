"""Oriented bars: the context-dependent-filter images of dynamic convolution (spec B.3).

Each 16x16 image holds one short bar, horizontal or vertical, on a background that is slightly
bright or slightly dark, under strong pixel noise. The label says whether the bar has the
orientation the background asks for (bright -> horizontal, dark -> vertical)::

    label = (orientation == horizontal) == (background is bright)

The background is a *global* context: its offset (``contrast``, 0.07) is small against the
noise (std 0.35), so any small window cannot tell it, while the mean of the whole image (global
pooling, exactly what dynamic convolution's attention looks at) tells it reliably::

    window of w x w pixels: offset / (noise / w) = 0.07 / (0.35 / w)   -> 0.6 (3x3), 1.0 (5x5)
    the whole 16x16 image:  0.07 / (0.35 / 16)                         -> 3.2 standard errors

A static CNN of two 3x3 layers sees a 5x5 window when it detects the bar, and after global
pooling its linear head must combine "which bar" with "which background", an XOR it cannot
form from pooled features: it is left with the background of the bar's neighbourhood, which
even an ideal 5x5 estimator reads right only about 84% of the time (one standard error). A
dynamic convolution can instead pick the orientation-specific kernel from the global context.
(With a contrast of 0.25 a 5x5 window already sees the background at 3.6 standard errors, and
static CNNs solved the task on some seeds: that contrast did not need a context-dependent
filter.)
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_float, check_int, fail
from tinydyn.data.tasks.base import Task, check_sizes, register_task, split

__all__ = ["oriented_bars"]


@register_task("oriented_bars")
def oriented_bars(rng, *, n_train: int = 2000, n_val: int = 500, n_test: int = 500,
                   size: int = 16, bar_length: int = 5, contrast: float = 0.07,
                   noise: float = 0.35) -> Task:
    """Images (N, 1, size, size) float32 and labels in {0, 1} (see the module docstring).

    The bar has ``bar_length`` pixels of value 1 at a uniform position where it fits; the
    background is ``+contrast`` or ``-contrast``; Gaussian noise of std ``noise`` is added.
    Meta: ``context`` (1 = bright), ``horizontal`` (1 = horizontal bar), ``position`` (row, col
    of the bar's first pixel).
    """
    fn = "oriented_bars"
    sizes = check_sizes(fn, n_train, n_val, n_test)
    size = check_int(fn, "size", size, min_value=4)
    if size > 64:
        fail(fn, f"size must be <= 64 (these are meant to be small), got {size}")
    bar_length = check_int(fn, "bar_length", bar_length, min_value=2)
    if bar_length > size:
        fail(fn, f"bar_length must be at most size={size}, got {bar_length}")
    contrast = check_float(fn, "contrast", contrast, low=0.0)
    noise = check_float(fn, "noise", noise, low=0.0)

    n = sum(sizes)
    bright = rng.integers(0, 2, size=n)
    horizontal = rng.integers(0, 2, size=n)
    along = rng.integers(0, size - bar_length + 1, size=n)  # where the bar starts along its axis
    across = rng.integers(0, size, size=n)
    images = np.where(bright, contrast, -contrast)[:, None, None] * np.ones((n, size, size))
    images += noise * rng.standard_normal(images.shape)
    steps = np.arange(bar_length)
    for i in range(n):
        if horizontal[i]:
            images[i, across[i], along[i] + steps] = 1.0
        else:
            images[i, along[i] + steps, across[i]] = 1.0
    rows = np.where(horizontal, across, along)
    cols = np.where(horizontal, along, across)
    labels = (horizontal == bright).astype(np.int64)
    meta = {"context": bright, "horizontal": horizontal, "position": np.stack([rows, cols], 1)}
    train, val, test = split([images[:, None].astype(np.float32), labels], ("images", "label"),
                             meta, sizes)
    return Task("oriented_bars", f"{size}x{size} images of one bar on a bright or dark noisy "
                "background; the label is whether the bar's orientation is the one the "
                "background asks for (a global context choosing a local filter).", train, val,
                test, num_classes=2, input_shape=(1, size, size),
                info={"contrast": contrast, "noise": noise, "bar_length": bar_length})
