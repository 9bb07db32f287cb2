"""Training recipes for multi-exit networks (spec C.1-C.5), one loop for all of them.

    recipe       loss, step by step                                        paper
    "joint"      sum_j j * CE_j / sum_j j  (deeper exits weigh more)         PABEE
    "two_stage"  first half: CE of the last exit (backbone + last head);     DeeBERT
                 second half: backbone and last head frozen, sum of the
                 other exits' CE
    "distill"    first half as two_stage; second half: frozen backbone and   FastBERT
                 teacher (last exit), sum_i KL(p_teacher || p_i) - no labels
    "sum"        sum_j CE_j, then one temperature per exit fitted on the     Right Tool
                 validation split (:func:`fit_temperatures`)
    "alternate"  even steps: CE_L + LTE loss; odd steps: sum_{j<L} CE_j +    BERxiT
                 LTE loss; LTE loss = mean_j (u_j - 1[argmax p_j != y])^2
                 with u_j = sigmoid(lte(h_j)) and the target detached

Frozen parts are run under ``no_grad`` (their outputs become constants), which is what
freezing means and saves their backward pass.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_int, fail
from tinydyn.autograd.function import no_grad
from tinydyn.autograd.ops_nn import cross_entropy, log_softmax
from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.early_exit.policies import stable_softmax
from tinydyn.optim.adam import Adam

__all__ = ["RECIPES", "all_exit_outputs", "distillation_loss", "fit_temperature",
           "fit_temperatures", "lte_loss", "lte_targets", "pabee_weights", "train_multi_exit",
           "weighted_exit_loss"]

RECIPES = ("joint", "two_stage", "distill", "sum", "alternate")


def pabee_weights(num_exits: int) -> np.ndarray:
    """PABEE's loss weights j / (L(L+1)/2) for exits j = 1..L (they sum to 1)."""
    num_exits = check_int("pabee_weights", "num_exits", num_exits, min_value=1)
    j = np.arange(1, num_exits + 1, dtype=np.float64)
    return j / j.sum()


def weighted_exit_loss(logits: list, target, weights=None) -> Tensor:
    """sum_j w_j CE(logits_j, target); PABEE's weights by default."""
    if not isinstance(logits, (list, tuple)) or not logits:
        fail("weighted_exit_loss", f"logits must be a non-empty list of (N, C) Tensors, got "
             f"{type(logits).__name__}", TypeError)
    weights = pabee_weights(len(logits)) if weights is None else np.asarray(weights, float)
    if weights.shape != (len(logits),):
        fail("weighted_exit_loss", f"weights must have {len(logits)} entries, got "
             f"{weights.shape}")
    total = None
    for w, z in zip(weights, logits):
        term = cross_entropy(z, target) * float(w)
        total = term if total is None else total + term
    return total


def distillation_loss(student: Tensor, teacher) -> Tensor:
    """KL(p_teacher || p_student) averaged over the batch; ``teacher`` logits are a constant
    (N, C) array (or a Tensor, detached here)."""
    t = teacher.data if isinstance(teacher, Tensor) else np.asarray(teacher)
    p = stable_softmax(t)
    log_p = np.log(np.clip(p, 1e-30, None))
    kl = (Tensor(p.astype(student.dtype)) * (Tensor(log_p.astype(student.dtype))
                                             - log_softmax(student, dim=1))).sum(1)
    return kl.mean()


def lte_targets(logits: list, target) -> np.ndarray:
    """BERxiT's learning-to-exit targets (L, N): 1 where exit j's prediction is wrong."""
    target = np.asarray(target)
    return np.stack([(np.asarray(z.data if isinstance(z, Tensor) else z).argmax(1) != target)
                     .astype(np.float64) for z in logits])


def lte_loss(model, hidden: list, logits: list, target) -> Tensor:
    """Mean over exits and samples of (sigmoid(lte(h_j)) - target_j)^2 (targets detached)."""
    targets = lte_targets(logits, target)
    total = None
    for h, t in zip(hidden, targets):
        u = model.lte(h).sigmoid().reshape(-1)
        term = ((u - Tensor(t.astype(u.dtype))) ** 2).mean()
        total = term if total is None else total + term
    return total * (1.0 / len(hidden))


def _hidden(model, x, mask):
    return model.hidden(x) if mask is None else model.hidden(x, mask)


def _step_loss(model, recipe, step, steps, x, y, mask):
    """The loss of one step, and the parameters that step trains."""
    depth = model.depth
    heads = list(model.heads)
    stage_two = step >= steps // 2
    if recipe in ("two_stage", "distill") and stage_two:
        with no_grad():
            hidden = [Tensor(h.data) for h in _hidden(model, x, mask)]
            teacher = heads[-1](hidden[-1]).data
        logits = [heads[j](hidden[j]) for j in range(depth - 1)]
        if recipe == "two_stage":
            loss = weighted_exit_loss(logits, y, np.ones(depth - 1))
        else:
            loss = None
            for z in logits:
                term = distillation_loss(z, teacher)
                loss = term if loss is None else loss + term
        params = [p for h in heads[:-1] for p in h.parameters()]
        return loss, params
    hidden = _hidden(model, x, mask)
    logits = [head(h) for head, h in zip(heads, hidden)]
    if recipe in ("two_stage", "distill"):
        loss = cross_entropy(logits[-1], y)
    elif recipe == "joint":
        loss = weighted_exit_loss(logits, y)
    elif recipe == "sum":
        loss = weighted_exit_loss(logits, y, np.ones(depth))
    else:  # alternate: BERxiT's "alternate-lte"
        if step % 2 == 0:
            loss = cross_entropy(logits[-1], y)
        else:
            loss = weighted_exit_loss(logits[:-1], y, np.ones(depth - 1)) if depth > 1 else \
                cross_entropy(logits[-1], y)
        loss = loss + lte_loss(model, hidden, logits, y)
    params = [p for name, p in model.named_parameters() if recipe == "alternate" or
              not name.startswith("lte.")]
    return loss, params


def train_multi_exit(model, task, recipe: str = "joint", *, steps: int, batch: int = 64,
                     lr: float = 3e-3, rng=None, callback=None) -> dict:
    """Train a multi-exit ``model`` on ``task.train`` (fields inputs, label) with ``recipe``
    (one of RECIPES); ``callback(step, loss)`` runs after every step. Returns ``{"losses",
    "temperatures"}``; temperatures (L,) are fitted on the validation split for "sum" and are
    ones otherwise."""
    fn = "train_multi_exit"
    if recipe not in RECIPES:
        fail(fn, f"recipe must be one of {RECIPES}, got {recipe!r}")
    steps = check_int(fn, "steps", steps, min_value=2)
    batch = check_int(fn, "batch", batch, min_value=1)
    if not isinstance(rng, np.random.Generator):
        fail(fn, f"rng must be a numpy.random.Generator, got {type(rng).__name__}", TypeError)
    x_all, y_all = task.train.fields[0], task.train.fields[1]
    opts = {}
    losses = []
    model.train()
    for step in range(steps):
        idx = rng.integers(0, len(y_all), size=batch)
        loss, params = _step_loss(model, recipe, step, steps, x_all[idx], y_all[idx], None)
        key = (recipe in ("two_stage", "distill") and step >= steps // 2)
        if key not in opts:  # a fresh Adam for stage two, over the parameters it trains
            opts[key] = Adam(params, lr=lr)
        opt = opts[key]
        for p in model.parameters():
            p.grad = None
        loss.backward()
        opt.step()
        losses.append(float(loss.data))
        if callback is not None:
            callback(step, losses[-1])
    model.eval()
    temps = np.ones(model.depth)
    if recipe == "sum":
        logits, _ = all_exit_outputs(model, task.val.fields[0])
        temps = fit_temperatures(logits, task.val.fields[1])
    return {"losses": losses, "temperatures": temps}


def all_exit_outputs(model, x, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Every exit's logits (L, N, C) and features (L, N, d), in eval mode without gradients."""
    model.eval()
    zs, hs = [], []
    with no_grad():
        for a in range(0, len(x), batch):
            hidden = model.hidden(x[a:a + batch])
            zs.append(np.stack([head(h).data for head, h in zip(model.heads, hidden)]))
            hs.append(np.stack([h.data for h in hidden]))
    return np.concatenate(zs, axis=1), np.concatenate(hs, axis=1)


def _nll(z, y, t):
    shifted = z / t - (z / t).max(1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean())


def fit_temperature(logits, labels) -> float:
    """The T > 0 minimising the NLL of softmax(logits / T) (temperature scaling): a log grid
    that contains T = 1, then a golden-section refinement; never worse than T = 1 (P-C5.3)."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels)
    if z.ndim != 2 or y.shape != (len(z),):
        fail("fit_temperature", f"logits must be (N, C) and labels (N,), got {z.shape} and "
             f"{y.shape}")
    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 41))
    grid = np.append(grid, 1.0)
    best = grid[int(np.argmin([_nll(z, y, t) for t in grid]))]
    lo, hi = np.log(best) - 0.2, np.log(best) + 0.2
    g = (np.sqrt(5) - 1) / 2
    for _ in range(30):
        a, b = hi - g * (hi - lo), lo + g * (hi - lo)
        if _nll(z, y, np.exp(a)) < _nll(z, y, np.exp(b)):
            hi = b
        else:
            lo = a
    refined = float(np.exp(0.5 * (lo + hi)))
    return refined if _nll(z, y, refined) <= _nll(z, y, best) else float(best)


def fit_temperatures(logits, labels) -> np.ndarray:
    """One temperature per exit for logits (L, N, C)."""
    return np.array([fit_temperature(z, labels) for z in np.asarray(logits)])
