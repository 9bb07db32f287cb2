"""Vector tasks whose examples need different amounts or kinds of computation.

``mixed_difficulty`` mixes examples a shallow layer classifies with examples that need depth
(early exit should stop early on the first kind); ``multi_domain`` mixes inputs from several
latent domains, each with its own function (mixture-of-experts routers should find the domains).
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_float, check_int, fail
from tinydyn.data.tasks.base import Task, check_sizes, register_task, split

__all__ = ["mixed_difficulty", "multi_domain", "checkerboard_label"]


def _orthonormal(rng, dim: int, count: int) -> np.ndarray:
    """``count`` random orthonormal vectors in R^dim, as rows."""
    q, _ = np.linalg.qr(rng.standard_normal((dim, count)))
    return q.T


def checkerboard_label(x, directions, frequency: float, num_classes: int) -> np.ndarray:
    """The hard examples' rule: project on two directions, cut the plane into unit cells
    (scaled by ``frequency``), and colour the cells ``(i + j) mod num_classes``.

    No single linear boundary fits a checkerboard; a network needs several layers (or many
    units) to carve it, which is what makes these examples hard.
    """
    cells = np.floor(frequency * (np.asarray(x) @ np.asarray(directions).T)).astype(np.int64)
    return (cells.sum(axis=1) % num_classes).astype(np.int64)


@register_task("mixed_difficulty")
def mixed_difficulty(rng, *, n_train: int = 2000, n_val: int = 500, n_test: int = 500,
                     dim: int = 8, num_classes: int = 2, easy_fraction: float = 0.7,
                     margin: float = 4.0, noise: float = 1.0, hard_frequency: float = 0.5) -> Task:
    """Classify vectors, of which a known fraction are easy and the rest hard.

    - easy (``difficulty`` 0): ``x = margin * p_y + noise * N(0, I)`` with orthonormal class
      prototypes ``p_c``; the projections on the prototypes separate them (a shallow layer
      suffices, and is confident).
    - hard (``difficulty`` 1): ``x = noise * N(0, I)``, labelled by :func:`checkerboard_label`
      on two directions orthogonal to every prototype; the prototype projections say nothing.

    With the defaults (checked with a PyTorch MLP, width 64, 40 epochs) easy examples are ~99%
    right at any depth, while hard ones go from chance with no hidden layer to ~73% with one
    and ~83% with three: depth pays off only on the hard ones. A higher ``hard_frequency``
    (more, smaller cells) or a larger ``dim`` (more nuisance dimensions) makes them harder.

    Each split has exactly ``round(easy_fraction * size)`` easy examples, in random order.
    Fields ``(x (N, dim) float32, label)``. Meta: ``difficulty``. ``info`` holds the prototypes
    and the checkerboard directions.
    """
    fn = "mixed_difficulty"
    sizes = check_sizes(fn, n_train, n_val, n_test)
    num_classes = check_int(fn, "num_classes", num_classes, min_value=2)
    dim = check_int(fn, "dim", dim, min_value=2)
    if dim < num_classes + 2:
        fail(fn, f"dim must be >= num_classes + 2 = {num_classes + 2} (room for the prototypes "
             f"and two hard directions), got {dim}")
    easy_fraction = check_float(fn, "easy_fraction", easy_fraction, low=0.0, high=1.0)
    margin = check_float(fn, "margin", margin, low=0.0, low_open=True)
    noise = check_float(fn, "noise", noise, low=0.0, low_open=True)
    hard_frequency = check_float(fn, "hard_frequency", hard_frequency, low=0.0, low_open=True)

    basis = _orthonormal(rng, dim, num_classes + 2)
    prototypes, directions = basis[:num_classes], basis[num_classes:]
    parts = {"x": [], "label": [], "difficulty": []}
    for size in sizes:  # per split, so that every split has the exact easy fraction
        n_easy = int(round(easy_fraction * size))
        y_easy = rng.integers(0, num_classes, size=n_easy)
        x_easy = margin * prototypes[y_easy] + noise * rng.standard_normal((n_easy, dim))
        x_hard = noise * rng.standard_normal((size - n_easy, dim))
        y_hard = checkerboard_label(x_hard, directions, hard_frequency, num_classes)
        order = rng.permutation(size)
        parts["x"].append(np.concatenate([x_easy, x_hard])[order])
        parts["label"].append(np.concatenate([y_easy, y_hard])[order])
        parts["difficulty"].append(np.repeat([0, 1], [n_easy, size - n_easy])[order])
    x, y, difficulty = (np.concatenate(parts[k]) for k in ("x", "label", "difficulty"))
    train, val, test = split([x.astype(np.float32), y.astype(np.int64)], ("x", "label"),
                             {"difficulty": difficulty.astype(np.int64)}, sizes)
    info = {"easy_fraction": easy_fraction, "prototypes": prototypes,
            "hard_directions": directions, "hard_frequency": hard_frequency, "margin": margin}
    return Task("mixed_difficulty", "Easy examples sit far out along a class prototype; hard "
                "ones near the origin follow a checkerboard: exit early on the easy ones.",
                train, val, test, num_classes=num_classes, input_shape=(dim,), info=info)


@register_task("multi_domain")
def multi_domain(rng, *, n_train: int = 2000, n_val: int = 500, n_test: int = 500,
                 dim: int = 8, num_domains: int = 4, kind: str = "classification",
                 num_classes: int = 2, out_dim: int = 1, hidden: int = 16,
                 separation: float = 4.0) -> Task:
    """Inputs from ``num_domains`` latent domains, each mapped by its own random function.

    Domain ``k`` has a center ``c_k`` (norm ``separation``; orthogonal to the others when
    ``num_domains <= dim``) and inputs ``x = c_k + N(0, I)``, so the domain is inferable from
    the input. Its function is a random one-hidden-layer tanh network applied to ``x - c_k``:
    ``s = A_k tanh(W_k (x - c_k) + b_k)``.

    - ``kind="classification"``: the label is the quantile bin of ``s[:, 0]`` within the
      domain (``num_classes`` equally filled bins, so classes are balanced in every domain).
    - ``kind="regression"``: the target is ``s`` (N, out_dim) float32, standardised per domain.

    Fields ``(x (N, dim) float32, target)``. Meta: ``domain``. ``info`` holds the centers.
    """
    fn = "multi_domain"
    sizes = check_sizes(fn, n_train, n_val, n_test)
    dim = check_int(fn, "dim", dim, min_value=1)
    num_domains = check_int(fn, "num_domains", num_domains, min_value=1)
    if kind not in ("classification", "regression"):
        fail(fn, f"kind must be 'classification' or 'regression', got {kind!r}")
    num_classes = check_int(fn, "num_classes", num_classes, min_value=2)
    out_dim = check_int(fn, "out_dim", out_dim, min_value=1)
    hidden = check_int(fn, "hidden", hidden, min_value=1)
    separation = check_float(fn, "separation", separation, low=0.0)

    if num_domains <= dim:
        directions = _orthonormal(rng, dim, num_domains)
    else:
        directions = rng.standard_normal((num_domains, dim))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    centers = separation * directions
    w = rng.standard_normal((num_domains, hidden, dim)) * (2.0 / np.sqrt(dim))
    b = rng.standard_normal((num_domains, hidden)) * 0.5
    a = rng.standard_normal((num_domains, out_dim, hidden)) / np.sqrt(hidden)

    n = sum(sizes)
    domain = rng.integers(0, num_domains, size=n)
    z = rng.standard_normal((n, dim))
    x = centers[domain] + z
    s = np.einsum("noh,nh->no", a[domain], np.tanh(np.einsum("nhd,nd->nh", w[domain], z)
                                                    + b[domain]))
    if kind == "classification":
        target = np.zeros(n, dtype=np.int64)
        for k in range(num_domains):
            rows = np.flatnonzero(domain == k)
            # rank within the domain -> equally filled bins, i.e. balanced classes
            ranks = np.argsort(np.argsort(s[rows, 0], kind="stable"), kind="stable")
            target[rows] = ranks * num_classes // max(len(rows), 1)
    else:
        target = np.zeros((n, out_dim), dtype=np.float32)
        for k in range(num_domains):
            rows = domain == k
            if rows.any():
                mean, std = s[rows].mean(axis=0), s[rows].std(axis=0) + 1e-8
                target[rows] = (s[rows] - mean) / std
    train, val, test = split([x.astype(np.float32), target], ("x", "target"),
                             {"domain": domain.astype(np.int64)}, sizes)
    info = {"kind": kind, "centers": centers, "num_domains": num_domains}
    return Task("multi_domain", "Each input comes from one of several latent domains with its "
                "own function: experts can specialise, and routing can be compared with the "
                "true domain.", train, val, test,
                num_classes=num_classes if kind == "classification" else None,
                input_shape=(dim,), info=info)
