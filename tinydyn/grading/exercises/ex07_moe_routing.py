"""Exercise 07 (MoE routing): top-k routing with capacity, the balancing loss, the layer.

The student writes the pieces of lesson 07 that route tokens to experts and keep the load even:

* ``top_k_choices(logits, k)``: each token's k best experts and their gates (probabilities);
* ``capacity_positions(experts, capacity)``: queue positions by an exclusive cumulative sum,
  first choices before second choices, and which assignments fit;
* ``load_balancing_loss(probs, experts)`` and ``load_balancing_grad(logits, experts)``:
  Switch's ``E * sum_i f_i P_i`` and its gradient with respect to the router logits;
* ``moe_forward(...)``: the layer's output from the kept assignments.

The references come from the library's real paths: ``topk`` of the library's ``softmax``,
:func:`~tinydyn.dynamic.moe.routing.queue_positions` on the rank-major assignments,
:func:`~tinydyn.dynamic.moe.routers.switch_balance_loss` with its autograd backward, and the
fused op :func:`~tinydyn.dynamic.moe.dispatch.moe_ffn`.
"""

from __future__ import annotations

import numpy as np

from tinydyn.autograd.ops_estimators import topk
from tinydyn.autograd.ops_nn import softmax
from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.moe.dispatch import moe_ffn
from tinydyn.dynamic.moe.routers import switch_balance_loss
from tinydyn.dynamic.moe.routing import Routing, queue_positions

TITLE = "MoE routing: top-k with capacity, the load-balancing loss, the layer"
LESSON = "lessons/07_moe_learned_routing.py"
PREREQUISITES = ("01", "02")  # lessons to have done first (the instructors' syllabus)
# What student.py may import (see tinydyn.grading.integrity); nothing from tinydyn.
ALLOWED_IMPORTS = ("numpy", "math")

S, E, D, F = 12, 4, 5, 6
# case -> (k, capacity): top-2 with C = 5 (< k*S/E = 6: some drop), top-1 with C = 2
CASES = {"a": (2, 5), "b": (1, 2)}
MARGIN = 1e-6  # every compared choice is this far from a tie in probability


def _top_k(logits, k):
    top = topk(softmax(Tensor(np.asarray(logits, np.float64)), dim=1), int(k), dim=1)
    return top.indices.data.astype(np.int64), top.values.data.copy()


def _positions(experts, capacity):
    experts = np.asarray(experts, np.int64)
    s, k = experts.shape
    flat = experts.T.reshape(-1)                       # rank-major: first choices first
    pos = queue_positions(flat, int(flat.max()) + 1).reshape(k, s).T
    return pos.astype(np.int64), pos < int(capacity)


def _loss(probs, experts):
    return float(switch_balance_loss(Tensor(np.asarray(probs, np.float64)),
                                     np.asarray(experts, np.int64)).data)


def _grad(logits, experts):
    z = Tensor(np.asarray(logits, np.float64), requires_grad=True)
    switch_balance_loss(softmax(z, dim=1), np.asarray(experts, np.int64)).backward()
    return z.grad.data.copy()


def _forward(x, experts, gates, keep, w1, b1, w2, b2):
    experts, keep = np.asarray(experts, np.int64), np.asarray(keep, bool)
    s, k = experts.shape
    token = np.tile(np.arange(s), k)
    rank = np.repeat(np.arange(k), s)
    kept = keep[token, rank]
    token, rank = token[kept], rank[kept]
    routing = Routing(token, experts[token, rank], Tensor(np.asarray(gates)[token, rank]),
                      None, s, np.asarray(w1).shape[0])
    arrays = [Tensor(np.asarray(a, np.float64)) for a in (w1, b1, w2, b2)]
    return moe_ffn(Tensor(np.asarray(x, np.float64)), routing, *arrays).data.copy()


class SOLUTION:
    """The functions of ``exercises/07_moe_routing/student.py``, implemented with the library."""

    top_k_choices = staticmethod(_top_k)
    capacity_positions = staticmethod(_positions)
    load_balancing_loss = staticmethod(_loss)
    load_balancing_grad = staticmethod(_grad)
    moe_forward = staticmethod(_forward)


def _clear_logits(rng, k):
    """(S, E) logits whose softmax has every compared gap (between the k chosen, and between
    the k-th and the next) above MARGIN: rows are redrawn until they do."""
    logits = rng.normal(0.0, 1.5, size=(S, E))
    for s in range(S):
        while True:
            p = np.sort(np.exp(logits[s] - logits[s].max()))[::-1]
            p /= p.sum()
            if np.min(-np.diff(p)[:k]) > MARGIN:
                break
            logits[s] = rng.normal(0.0, 1.5, size=E)
    logits[0] += 300.0  # overflows a naive exp
    return logits


def make_references(seed: int) -> dict:
    """Inputs and the library's outputs (int64 choices and positions, float64 values)."""
    rng = np.random.default_rng(seed)
    out = {"w1": rng.normal(0, 0.5, (E, D, F)), "b1": rng.normal(0, 0.5, (E, F)),
           "w2": rng.normal(0, 0.5, (E, F, D)), "b2": rng.normal(0, 0.5, (E, D))}
    for case, (k, capacity) in CASES.items():
        logits = _clear_logits(rng, k)
        experts, gates = _top_k(logits, k)
        positions, keep = _positions(experts, capacity)
        probs = softmax(Tensor(logits), dim=1).data
        x = rng.normal(0.0, 1.0, size=(S, D))
        out.update({f"{case}_logits": logits, f"{case}_k": np.array(k),
                    f"{case}_capacity": np.array(capacity), f"{case}_experts": experts,
                    f"{case}_gates": gates, f"{case}_positions": positions,
                    f"{case}_keep": keep, f"{case}_probs": probs,
                    f"{case}_loss": np.array(_loss(probs, experts)),
                    f"{case}_dlogits": _grad(logits, experts), f"{case}_x": x,
                    f"{case}_y": _forward(x, experts, gates, keep, out["w1"], out["b1"],
                                          out["w2"], out["b2"])})
        assert not keep.all(), f"case {case}: the capacity must drop something"
    return out
