"""A seeded two-class task whose samples range from easy to hard, for early exit (spec C.10).

Each sample is a short sequence of ``length`` tokens of ``features`` numbers: every token is
the class mean ``±mu`` plus Gaussian noise whose standard deviation is drawn per sample,
log-uniformly over a wide range. A low-noise sample is decided by the first layer of any
network; a high-noise one stays uncertain however deep the network goes. So "easy" and "hard"
are defined by construction, and a good exit rule sends them to different depths.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_float, check_int, fail
from tinydyn.data.tasks.base import Task, check_sizes, register_task, split

__all__ = ["easy_hard"]


@register_task("easy_hard")
def easy_hard(rng, *, n_train: int = 2000, n_val: int = 500, n_test: int = 500,
              length: int = 8, features: int = 8, separation: float = 1.0,
              min_noise: float = 0.3, max_noise: float = 6.0) -> Task:
    """Two Gaussian classes with a per-sample noise level.

    ``mu`` is a random direction in R^features scaled to norm ``separation``; sample ``n`` of
    class ``y`` is ``(2y - 1) * mu + noise_n * eps`` at each of its ``length`` tokens, with
    ``noise_n`` log-uniform in [min_noise, max_noise] and ``eps`` standard normal.

    Fields ``(inputs (N, length, features) float32, label)``. Meta: ``noise`` (N,) and
    ``hard`` (N,) bool, True when the noise is above the geometric mean of the range.
    """
    fn = "easy_hard"
    sizes = check_sizes(fn, n_train, n_val, n_test)
    length = check_int(fn, "length", length, min_value=1)
    features = check_int(fn, "features", features, min_value=1)
    separation = check_float(fn, "separation", separation, low=0.0, low_open=True)
    min_noise = check_float(fn, "min_noise", min_noise, low=0.0, low_open=True)
    max_noise = check_float(fn, "max_noise", max_noise, low=0.0, low_open=True)
    if max_noise < min_noise:
        fail(fn, f"max_noise must be >= min_noise ({min_noise}), got {max_noise}")
    n = sum(sizes)
    mu = rng.standard_normal(features)
    mu *= separation / np.linalg.norm(mu)
    labels = rng.integers(0, 2, size=n)
    noise = np.exp(rng.uniform(np.log(min_noise), np.log(max_noise), size=n))
    eps = rng.standard_normal((n, length, features))
    inputs = (2.0 * labels - 1.0)[:, None, None] * mu + noise[:, None, None] * eps
    hard = noise > np.sqrt(min_noise * max_noise)
    meta = {"noise": noise, "hard": hard}
    train, val, test = split([inputs.astype(np.float32), labels.astype(np.int64)],
                             ("inputs", "label"), meta, sizes)
    return Task("easy_hard", "Two Gaussian classes with per-sample noise from low (easy: the "
                "first layer decides) to high (hard: no depth decides well).", train, val, test,
                num_classes=2, input_shape=(length, features),
                info={"mu": mu, "min_noise": min_noise, "max_noise": max_noise})
