"""``regions``: an input space cut into distinct regions, each with its own labelling rule
(spec A.9, task 1): the task on which a mixture of experts should beat a dense network of
the same active cost, because each expert can learn one region's rule.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_float, check_int
from tinydyn.data.tasks.base import Task, check_sizes, register_task, split

__all__ = ["regions"]


@register_task("regions")
def regions(rng, *, n_train: int = 4000, n_val: int = 1000, n_test: int = 1000, dim: int = 8,
            num_regions: int = 8, num_classes: int = 4, separation: float = 5.0,
            noise: float = 1.0) -> Task:
    """Classify points drawn from ``num_regions`` Gaussian clusters; each cluster labels its
    points by its own random linear rule.

    Region k has a center ``c_k`` (norm ``separation``; orthogonal to the others when
    ``num_regions <= dim``, random unit directions otherwise) and a rule ``W_k``
    (num_classes, dim) with N(0, 1) entries: ``x = c_k + noise * z``, ``label = argmax(W_k z)``.
    Within a region the classes are linearly separable; across regions the rules disagree,
    so one small network must carve ``num_regions`` different partitions, while an expert per
    region needs only one. Regions are equally likely.

    Fields ``(x (N, dim) float32, label int64)``. Meta: ``region``. ``info``: centers, rules.
    """
    fn = "regions"
    sizes = check_sizes(fn, n_train, n_val, n_test)
    dim = check_int(fn, "dim", dim, min_value=1)
    num_regions = check_int(fn, "num_regions", num_regions, min_value=1)
    num_classes = check_int(fn, "num_classes", num_classes, min_value=2)
    separation = check_float(fn, "separation", separation, low=0.0)
    noise = check_float(fn, "noise", noise, low=0.0, low_open=True)

    if num_regions <= dim:
        q, _ = np.linalg.qr(rng.standard_normal((dim, num_regions)))
        directions = q.T
    else:
        directions = rng.standard_normal((num_regions, dim))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    centers = separation * directions
    rules = rng.standard_normal((num_regions, num_classes, dim))
    n = sum(sizes)
    region = rng.integers(0, num_regions, size=n)
    z = rng.standard_normal((n, dim))
    x = centers[region] + noise * z
    label = np.einsum("ncd,nd->nc", rules[region], z).argmax(axis=1)
    train, val, test = split([x.astype(np.float32), label.astype(np.int64)], ("x", "label"),
                             {"region": region.astype(np.int64)}, sizes)
    return Task("regions", "Gaussian clusters, each with its own linear labelling rule: an "
                "expert per region beats one small network.", train, val, test,
                num_classes=num_classes, input_shape=(dim,),
                info={"centers": centers, "rules": rules, "num_regions": num_regions})
