"""Small image tasks for dynamic convolution and PAD-Net: procedurally drawn shapes, and
scikit-learn's bundled 8x8 digits when scikit-learn is installed."""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_float, check_int, fail
from tinydyn.data.tasks.base import Task, check_sizes, register_task, split

__all__ = ["shapes", "digits", "SHAPES"]


# Each drawer maps pixel-centre offsets (dy, dx) from the shape's centre and its radius r to a
# boolean mask of the pixels it covers. Radii are in pixels.
def _square(dy, dx, r, angle):
    return np.maximum(np.abs(dy), np.abs(dx)) <= 0.8 * r  # 0.8: area close to the circle's


def _circle(dy, dx, r, angle):
    return dy ** 2 + dx ** 2 <= r ** 2


def _triangle(dy, dx, r, angle):
    # apex at the top (dy = -r), base at dy = +r whose half-width is r
    return (dy >= -r) & (dy <= r) & (np.abs(dx) <= (dy + r) / 2)


def _cross(dy, dx, r, angle):
    arm = 0.75  # half-thickness: always at least one pixel wide
    return ((np.abs(dx) < arm) & (np.abs(dy) <= r)) | ((np.abs(dy) < arm) & (np.abs(dx) <= r))


def _line(dy, dx, r, angle):
    along = dx * np.cos(angle) + dy * np.sin(angle)
    across = -dx * np.sin(angle) + dy * np.cos(angle)
    return (np.abs(across) < 0.75) & (np.abs(along) <= r)


SHAPES = {"square": _square, "circle": _circle, "triangle": _triangle, "cross": _cross,
          "line": _line}


@register_task("shapes")
def shapes(rng, *, n_train: int = 2000, n_val: int = 500, n_test: int = 500, size: int = 12,
           classes=("square", "circle", "triangle", "cross", "line"), noise: float = 0.1,
           min_scale: float = 0.25, max_scale: float = 0.45) -> Task:
    """Grey-scale images of one shape each, at a random position and size, with noise.

    The shape's radius is ``scale * size`` (at most ``(size - 1) / 2``) with ``scale`` uniform
    in ``[min_scale, max_scale]``; its centre is uniform over the positions where it fits; its
    brightness is uniform in [0.6, 1]; Gaussian noise of std ``noise`` is added and values are
    clipped to [0, 1].

    Fields ``(images (N, 1, size, size) float32, label)``; ``label`` indexes ``classes``
    (available: square, circle, triangle, cross, line). Meta: ``center`` ((N, 2) row, col),
    ``radius``.
    """
    fn = "shapes"
    sizes = check_sizes(fn, n_train, n_val, n_test)
    size = check_int(fn, "size", size, min_value=8)
    if size > 64:
        fail(fn, f"size must be <= 64 (these are meant to be small), got {size}")
    if isinstance(classes, str):
        fail(fn, f"classes must be a list of shape names, got the str {classes!r}", TypeError)
    classes = tuple(classes)
    if len(classes) < 2 or len(set(classes)) != len(classes):
        fail(fn, f"classes must be at least 2 distinct shape names, got {classes}")
    for name in classes:
        if name not in SHAPES:
            fail(fn, f"unknown shape {name!r}; available: {', '.join(SHAPES)}")
    noise = check_float(fn, "noise", noise, low=0.0)
    min_scale = check_float(fn, "min_scale", min_scale, low=0.1, high=0.5)
    max_scale = check_float(fn, "max_scale", max_scale, low=min_scale, high=0.5)

    n = sum(sizes)
    labels = rng.integers(0, len(classes), size=n)
    # at most (size - 1) / 2, the largest radius that fits between the outermost pixel centres
    radius = np.minimum(rng.uniform(min_scale, max_scale, size=n) * size, (size - 1) / 2)
    # keep the whole shape inside the image: centre at least r from each border
    center = rng.uniform(radius[:, None], size - 1 - radius[:, None], size=(n, 2))
    angle = rng.uniform(0.0, np.pi, size=n)
    brightness = rng.uniform(0.6, 1.0, size=n)
    rows, cols = np.mgrid[0:size, 0:size].astype(np.float64)
    images = np.empty((n, 1, size, size), dtype=np.float64)
    for i in range(n):
        draw = SHAPES[classes[labels[i]]]
        mask = draw(rows - center[i, 0], cols - center[i, 1], radius[i], angle[i])
        images[i, 0] = brightness[i] * mask
    images += noise * rng.standard_normal(images.shape)
    images = np.clip(images, 0.0, 1.0).astype(np.float32)
    meta = {"center": center, "radius": radius}
    train, val, test = split([images, labels.astype(np.int64)], ("images", "label"), meta, sizes)
    return Task("shapes", f"{size}x{size} images of {', '.join(classes)} at random positions "
                "and sizes: some inputs need other kernels than others.", train, val, test,
                num_classes=len(classes), input_shape=(1, size, size),
                info={"classes": classes})


@register_task("digits")
def digits(rng, *, n_val: int = 300, n_test: int = 300) -> Task:
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, nothing downloaded).

    Shuffled with the seed, then cut into train (the rest), val and test. Fields
    ``(images (N, 1, 8, 8) float32 in [0, 1], label)``.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as err:
        raise ImportError("load_task: the 'digits' task needs scikit-learn, which is not "
                          "installed; run `pip install scikit-learn`, or use the 'shapes' task "
                          "instead") from err
    n_val = check_int("digits", "n_val", n_val, min_value=0)
    n_test = check_int("digits", "n_test", n_test, min_value=0)
    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.float64) / 16.0  # pixel values are 0..16
    labels = np.asarray(bunch.target, dtype=np.int64)
    n = len(labels)
    if n_val + n_test >= n:
        fail("digits", f"n_val + n_test must leave training examples (< {n}), got "
             f"{n_val} + {n_test}")
    order = rng.permutation(n)
    images, labels = images[order][:, None].astype(np.float32), labels[order]
    sizes = (n - n_val - n_test, n_val, n_test)
    train, val, test = split([images, labels], ("images", "label"), {}, sizes)
    return Task("digits", "scikit-learn's 8x8 handwritten digits.", train, val, test,
                num_classes=10, input_shape=(1, 8, 8))
