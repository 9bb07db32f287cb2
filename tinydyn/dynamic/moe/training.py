"""Training MoE and dense classifiers on vector tasks, recording the routing as it goes.

One recipe (:func:`train_classifier`) for the bench, the lesson and the tests: Adam on
minibatches, loss = cross-entropy + every MoE layer's auxiliary loss (already weighted by
its router). Per step it records, for the first MoE layer, the fraction of assignments each
expert served (its *load*) and the fraction of assignments dropped by the capacity limit.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_float, check_int, fail
from tinydyn.autograd.function import no_grad
from tinydyn.autograd.ops_nn import cross_entropy
from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.moe.layer import MoELayer, aux_loss_of
from tinydyn.optim.adam import Adam

__all__ = ["evaluate", "moe_layers", "routing_summary", "train_classifier"]


def moe_layers(model) -> list:
    """The MoELayers of ``model``, in registration order."""
    return [m for m in model.modules() if isinstance(m, MoELayer)]


def _predict(model, x: np.ndarray, batch: int = 512) -> np.ndarray:
    model.eval()
    with no_grad():
        out = np.concatenate([model(Tensor(x[i:i + batch])).data
                              for i in range(0, len(x), batch)])
    model.train()
    return out


def evaluate(model, x: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy in [0, 1], in eval mode (no router noise or sampling)."""
    return float((_predict(model, x).argmax(axis=1) == labels).mean())


def routing_summary(model, x: np.ndarray, meta: np.ndarray | None = None) -> dict:
    """Eval-mode routing of the first MoE layer over ``x`` in one group: the per-expert load
    fraction, its coefficient of variation, the dropped fraction and, given per-example
    ``meta`` (e.g. the region), the table ``counts[m, e]`` of first choices."""
    layers = moe_layers(model)
    if not layers:
        fail("routing_summary", "model has no MoELayer")
    model.eval()
    with no_grad():
        model(Tensor(x))
    model.train()
    r = layers[0].last_routing
    load = r.load() / max(1, r.load().sum())
    out = {"load": load, "load_cv": float(load.std() / load.mean()) if load.mean() else 0.0,
           "dropped_fraction": r.n_dropped / max(1, r.n_assignments + r.n_dropped)}
    if meta is not None:
        first = r.rank == 0 if r.rank is not None else np.ones(r.n_assignments, bool)
        table = np.zeros((int(meta.max()) + 1, r.n_experts), dtype=np.int64)
        np.add.at(table, (meta[r.token[first]], r.expert[first]), 1)
        out["counts"] = table
    return out


def train_classifier(model, task, *, steps: int, batch: int = 128, lr: float = 3e-3,
                     rng=None) -> dict:
    """Train ``model`` on ``task.train`` for ``steps`` Adam steps of ``batch`` examples.

    Returns ``{"val_accuracy", "test_accuracy", "losses", "load" (steps, E) per-step load
    fractions of the first MoE layer (empty for a dense model), "dropped" (steps,)}``.
    """
    fn = "train_classifier"
    steps = check_int(fn, "steps", steps, min_value=1)
    batch = check_int(fn, "batch", batch, min_value=1)
    lr = check_float(fn, "lr", lr, low=0.0, low_open=True)
    if not isinstance(rng, np.random.Generator):
        fail(fn, f"rng must be a numpy.random.Generator, got {type(rng).__name__}", TypeError)
    x, labels = task.train.fields[0], task.train.fields[1]
    opt = Adam(model.parameters(), lr=lr)
    layers = moe_layers(model)
    losses, load, dropped = [], [], []
    model.train()
    for _ in range(steps):
        idx = rng.integers(0, len(labels), size=batch)
        loss = cross_entropy(model(Tensor(x[idx])), labels[idx])
        aux = aux_loss_of(model)
        total = loss + aux if aux is not None else loss
        opt.zero_grad()
        total.backward()
        opt.step()
        losses.append(float(loss.data))
        if layers:
            r = layers[0].last_routing
            load.append(r.load() / max(1, r.n_assignments))
            dropped.append(r.n_dropped / max(1, r.n_assignments + r.n_dropped))
    val, test = task.val, task.test
    return {"val_accuracy": evaluate(model, val.fields[0], val.fields[1]),
            "test_accuracy": evaluate(model, test.fields[0], test.fields[1]),
            "losses": losses, "load": np.array(load), "dropped": np.array(dropped)}
