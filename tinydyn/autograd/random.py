"""Seeded randomness. Every random op takes ``rng=`` (a ``numpy.random.Generator``); when it
is omitted the module-wide generator is used, which :func:`manual_seed` resets. Same seed,
same bits."""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_int, fail

_default = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reset the default generator to ``seed`` and return it."""
    global _default
    seed = check_int("manual_seed", "seed", seed, min_value=0)
    _default = np.random.default_rng(seed)
    return _default


def default_generator() -> np.random.Generator:
    """The generator used when a random op gets no ``rng=``."""
    return _default


def get_rng(rng, fn: str = "rng") -> np.random.Generator:
    """``rng`` itself if it is a Generator, the default generator if None, else a TypeError."""
    if rng is None:
        return _default
    if not isinstance(rng, np.random.Generator):
        fail(fn, f"rng must be a numpy.random.Generator or None, got {type(rng).__name__}",
             TypeError)
    return rng
