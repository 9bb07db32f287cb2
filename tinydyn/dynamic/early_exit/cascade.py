"""A cascade of complete models (CascadeBERT, spec C.6): a small model answers when its top
probability exceeds a threshold, otherwise the next (larger) model is run on that input.

Built on the compaction idea: the rows the small model could not settle are gathered and only
they go through the large model. A sample that reaches model m pays models 1..m.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tinydyn._checks import fail
from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.early_exit.policies import _check_threshold, stable_softmax

__all__ = ["CascadeResult", "difficulty_labels", "ranking_loss", "run_cascade",
           "train_cascade_small"]


@dataclass
class CascadeResult:
    """predictions (N,), stage (N,) = index of the emitting model (0-based), flops (N,)."""

    predictions: np.ndarray
    stage: np.ndarray
    flops: np.ndarray


def _final_logits(runner, x):
    state = runner.embed(x)
    for i in range(runner.num_layers):
        state = runner.layer(i, state)
    return runner.head(runner.num_layers - 1, state)[0]


def run_cascade(runners, threshold: float, x, model_flops) -> CascadeResult:
    """Run ``runners`` (small to large, each used through its last exit) as a cascade.

    ``threshold`` in [0, 1]: model m < last emits when max softmax > threshold (>= 1 sends
    everything to the last model, P-C6.1). ``model_flops``: the FLOPs per input of each model,
    summed over the models a sample went through (P-C6.2)."""
    fn = "run_cascade"
    runners = list(runners)
    if len(runners) < 2:
        fail(fn, f"runners must hold at least 2 models, got {len(runners)}")
    threshold = _check_threshold(fn, "threshold", threshold, 0.0, 1.0)
    model_flops = np.asarray(model_flops, dtype=np.float64)
    if model_flops.shape != (len(runners),):
        fail(fn, f"model_flops must have one entry per model ({len(runners)}), got "
             f"{model_flops.shape}")
    x = np.asarray(x)
    n = len(x)
    preds = np.zeros(n, np.int64)
    stage = np.zeros(n, np.int64)
    flops = np.zeros(n)
    ids = np.arange(n)
    for m, runner in enumerate(runners):
        z = _final_logits(runner, x[ids])
        flops[ids] += model_flops[m]
        done = (stable_softmax(z).max(1) > threshold) if m < len(runners) - 1 else \
            np.ones(len(ids), bool)
        preds[ids[done]], stage[ids[done]] = z[done].argmax(1), m
        ids = ids[~done]
        if not len(ids):
            break
    return CascadeResult(preds, stage, flops)


def ranking_loss(conf_easy: Tensor, conf_hard: Tensor, margin: float = 0.5) -> Tensor:
    """CascadeBERT's difficulty-aware regulariser: mean over pairs of
    max(0, margin - (conf_easy_i - conf_hard_i)); inputs (P,) confidences of paired easy and
    hard instances."""
    if conf_easy.shape != conf_hard.shape or conf_easy.ndim != 1:
        fail("ranking_loss", f"conf_easy and conf_hard must be (P,) of the same shape, got "
             f"{conf_easy.shape} and {conf_hard.shape}")
    return (Tensor(np.asarray(margin, dtype=conf_easy.dtype)) - (conf_easy - conf_hard)).relu() \
        .mean()


def difficulty_labels(model, x, y) -> np.ndarray:
    """CascadeBERT's per-instance difficulty: True where ``model``'s last exit is wrong."""
    from tinydyn.dynamic.early_exit.training import all_exit_outputs

    z, _ = all_exit_outputs(model, x)
    return z[-1].argmax(1) != np.asarray(y)


def train_cascade_small(model, task, hard, *, steps: int, batch: int = 64, lr: float = 3e-3,
                        margin: float = 0.5, weight: float = 1.0, rng=None) -> list:
    """Train the cascade's small model with cross-entropy plus CascadeBERT's difficulty-aware
    ranking loss: each step pairs ``batch`` easy instances with hard ones drawn with
    replacement and asks conf_easy >= conf_hard + margin (conf = the last exit's top
    probability). ``hard`` (N_train,) bool, e.g. :func:`difficulty_labels` of a plainly
    trained small model. Returns the losses."""
    from tinydyn._checks import check_int
    from tinydyn.autograd.ops_nn import cross_entropy, softmax
    from tinydyn.optim.adam import Adam

    fn = "train_cascade_small"
    steps = check_int(fn, "steps", steps, min_value=1)
    if not isinstance(rng, np.random.Generator):
        fail(fn, f"rng must be a numpy.random.Generator, got {type(rng).__name__}", TypeError)
    x_all, y_all = task.train.fields[0], task.train.fields[1]
    hard = np.asarray(hard, bool)
    if hard.shape != (len(y_all),) or hard.all() or not hard.any():
        fail(fn, f"hard must be a (N_train,) bool array with both easy and hard instances, "
             f"got shape {hard.shape} with {int(hard.sum())} hard")
    easy_idx, hard_idx = np.flatnonzero(~hard), np.flatnonzero(hard)
    opt = Adam(model.parameters(), lr=lr)
    losses = []
    model.train()
    for _ in range(steps):
        e = rng.choice(easy_idx, size=batch)
        h = rng.choice(hard_idx, size=batch)  # with replacement, as in the paper's code
        idx = np.concatenate([e, h])
        z = model(x_all[idx])[-1]
        conf = softmax(z, dim=1).max(1)
        loss = cross_entropy(z, y_all[idx]) + ranking_loss(conf[:batch], conf[batch:],
                                                           margin) * float(weight)
        for p in model.parameters():
            p.grad = None
        loss.backward()
        opt.step()
        losses.append(float(loss.data))
    model.eval()
    return losses
