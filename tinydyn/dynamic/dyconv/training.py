"""Training and evaluating the small CNNs: Adam on minibatches, the temperature schedule
applied every step, and the attention's entropy recorded along the way.

One function, :func:`train_classifier`, serves the bench, the lesson and the tests, so they all
run the same recipe (the baseline gets the same budget: same steps, batch and learning rate).
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_int, fail
from tinydyn.autograd.function import no_grad
from tinydyn.autograd.ops_nn import cross_entropy
from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.dyconv.schedule import set_temperature, temperature_schedule
from tinydyn.nn.conv import BatchNorm2d
from tinydyn.optim.adam import Adam

__all__ = ["attention_entropy", "evaluate", "predict", "recalibrate_batch_norm",
           "train_classifier"]


def attention_entropy(weights: np.ndarray) -> float:
    """Mean entropy (nats) of the rows of a (N, K) softmax attention; log K when uniform."""
    p = np.clip(np.asarray(weights, dtype=np.float64), 1e-12, 1.0)
    return float(-(p * np.log(p)).sum(axis=1).mean())


def predict(model, images: np.ndarray, batch: int = 256) -> np.ndarray:
    """Logits (N, classes) in eval mode, batch by batch."""
    model.eval()
    outs = []
    with no_grad():
        for i in range(0, len(images), batch):
            outs.append(model(Tensor(images[i:i + batch])).data)
    return np.concatenate(outs)


def evaluate(model, images: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy in [0, 1]."""
    return float((predict(model, images).argmax(1) == labels).mean())


def recalibrate_batch_norm(model, images: np.ndarray, batch: int = 256) -> int:
    """Recompute every BatchNorm2d's running statistics as the average over ``images`` at the
    final weights ("precise BN"); return how many layers were reset.

    Why: the running averages of training mix statistics from many past weights. With Adam at
    a high learning rate and kernels that change with the temperature, they lag behind the
    final network far enough to cost these tiny nets several points in eval mode.
    """
    layers = [m for m in model.modules() if isinstance(m, BatchNorm2d)]
    if not layers:
        return 0
    saved = [m.momentum for m in layers]
    for m in layers:
        m.momentum = None  # a cumulative average over the passes below
        m.running_mean = np.zeros_like(m.running_mean)
        m.running_var = np.ones_like(m.running_var)
        m.num_batches_tracked = np.zeros((), dtype=np.int64)
    model.train()
    with no_grad():
        for i in range(0, len(images) - batch + 1, batch):  # equal batches: an unweighted mean
            model(Tensor(images[i:i + batch]))
    for m, momentum in zip(layers, saved):
        m.momentum = momentum
    return len(layers)


def train_classifier(model, task, *, steps: int, batch: int = 64, lr: float = 1e-2,
                     anneal_steps: int | None = None, tau0: float = 30.0, rng=None,
                     log_every: int = 0) -> dict:
    """Train ``model`` on ``task.train`` for ``steps`` Adam steps of ``batch`` examples.

    The temperature of every DynamicConv2d follows ``temperature_schedule(anneal_steps, tau0)``
    (30 -> 1 by default; ``anneal_steps=0`` keeps tau = 1 throughout; None anneals over the
    first third of training). Returns ``{"val_accuracy", "test_accuracy", "losses",
    "entropy"}``; ``entropy`` is the attention entropy of the first dynamic layer per step
    (empty for a static net). BatchNorm statistics are recomputed at the end
    (:func:`recalibrate_batch_norm`) before evaluating.
    """
    fn = "train_classifier"
    steps = check_int(fn, "steps", steps, min_value=1)
    batch = check_int(fn, "batch", batch, min_value=1)
    if not isinstance(rng, np.random.Generator):
        fail(fn, f"rng must be a numpy.random.Generator, got {type(rng).__name__}", TypeError)
    images, labels = task.train.fields[0], task.train.fields[1]
    anneal_steps = steps // 3 if anneal_steps is None else anneal_steps
    schedule = temperature_schedule(anneal_steps, start=tau0)
    opt = Adam(model.parameters(), lr=lr)
    losses, entropy = [], []
    model.train()
    for step in range(steps):
        set_temperature(model, schedule(step))
        idx = rng.integers(0, len(labels), size=batch)
        loss = cross_entropy(model(Tensor(images[idx])), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.data))
        weights = model.attention() if hasattr(model, "attention") else []
        if weights:
            entropy.append(attention_entropy(weights[0]))
    set_temperature(model, schedule(steps))
    recalibrate_batch_norm(model, images, batch=min(256, len(images)))
    val, test = task.val, task.test
    return {"val_accuracy": evaluate(model, val.fields[0], val.fields[1]),
            "test_accuracy": evaluate(model, test.fields[0], test.fields[1]),
            "losses": losses, "entropy": entropy}
