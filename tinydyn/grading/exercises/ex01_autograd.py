"""Exercise 01 (autograd): the library's references and solution.

The student writes two backwards by hand, softmax + cross-entropy and layer norm, and the
iterative topological order that every backward pass walks. The references are the engine's own
answers: the gradients come from ``tinydyn.cross_entropy(...).backward()`` and
``tinydyn.layer_norm(...).backward(dout)`` in float64.
"""

from __future__ import annotations

import numpy as np

import tinydyn

TITLE = "Backward passes by hand: softmax + cross-entropy, layer norm, topological order"
LESSON = "lessons/01_autograd.py"
PREREQUISITES = ()  # lessons to have done first (the instructors' syllabus)
# What student.py may import (see tinydyn.grading.integrity); nothing from tinydyn.
ALLOWED_IMPORTS = ("numpy", "math")

# (rows, classes) of each cross-entropy case; "large" gets logits of size 1e4
CE_CASES = {"a": (4, 3), "b": (16, 10), "large": (6, 5)}
# (rows, features, eps) of each layer-norm case; "c" has an eps large enough to matter a lot
LN_CASES = {"a": (3, 5, 1e-5), "b": (8, 16, 1e-5), "c": (4, 6, 0.5)}
# (nodes, most parents per node) of each graph
GRAPH_CASES = {"a": (8, 3), "b": (120, 4)}


# ---- the solution ---------------------------------------------------------------------------


def _leaf(array: np.ndarray) -> tinydyn.Tensor:
    return tinydyn.Tensor(np.array(array, dtype=np.float64), requires_grad=True)


class SOLUTION:
    """The functions of ``exercises/01_autograd/student.py``, computed by the library."""

    @staticmethod
    def softmax_cross_entropy_backward(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
        x = _leaf(logits)
        tinydyn.cross_entropy(x, tinydyn.Tensor(np.asarray(targets, dtype=np.int64))).backward()
        return x.grad.data

    @staticmethod
    def layer_norm_backward(x: np.ndarray, gamma: np.ndarray, dout: np.ndarray,
                            eps: float = 1e-5) -> tuple:
        xt, g = _leaf(x), _leaf(gamma)
        # beta does not change any gradient; it is here so the library reports dbeta
        b = _leaf(np.zeros_like(gamma, dtype=np.float64))
        y = tinydyn.layer_norm(xt, xt.shape[-1], g, b, eps=float(eps))
        y.backward(np.array(dout, dtype=np.float64))
        return xt.grad.data, g.grad.data, b.grad.data

    @staticmethod
    def topological_order(graph: dict) -> list:
        # Kahn's algorithm: a node is ready once all its parents are placed. The library walks
        # Tensors rather than dicts, so this is the one function written out here.
        waiting = {node: len(parents) for node, parents in graph.items()}
        children = {node: [] for node in graph}
        for node, parents in graph.items():
            for parent in parents:
                children[parent].append(node)
        ready = [node for node, count in waiting.items() if count == 0]
        order = []
        while ready:
            node = ready.pop()
            order.append(node)
            for child in children[node]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    ready.append(child)
        if len(order) != len(graph):
            raise ValueError("topological_order: graph has a cycle")
        return order


# ---- references -----------------------------------------------------------------------------


def random_dag(rng: np.random.Generator, n: int, max_parents: int) -> tuple:
    """A random DAG on ``n`` nodes as (nodes (n,), edges (E, 2) of [child, parent]), int64.

    Node labels are a random permutation, and ``nodes`` lists them in another random order, so
    neither sorting the labels nor keeping the listing order is a topological order.
    """
    hidden = rng.permutation(n)  # hidden[k] is the k-th node of a valid order
    edges = []
    for k in range(1, n):
        count = int(rng.integers(1, min(k, max_parents) + 1))
        for p in rng.choice(k, size=count, replace=False):
            edges.append((hidden[k], hidden[p]))
    return rng.permutation(n).astype(np.int64), np.array(edges, dtype=np.int64).reshape(-1, 2)


def make_references(seed: int) -> dict:
    """Inputs and library outputs for every graded case, float64 and int64."""
    rng = np.random.default_rng(seed)
    refs = {}
    for name, (n, c) in CE_CASES.items():
        logits = rng.standard_normal((n, c))
        if name == "large":
            # rows offset by +-1e4: exp overflows unless the row max is subtracted first, and the
            # noise keeps the probabilities away from a trivial one-hot
            logits += 1e4 * rng.choice([-1.0, 1.0], size=(n, 1))
        targets = rng.integers(0, c, size=n).astype(np.int64)
        refs[f"ce_{name}_logits"] = logits
        refs[f"ce_{name}_targets"] = targets
        refs[f"ce_{name}_dlogits"] = SOLUTION.softmax_cross_entropy_backward(logits, targets)
    for name, (n, d, eps) in LN_CASES.items():
        x = 3.0 + 2.0 * rng.standard_normal((n, d))  # not already normalised
        gamma = 1.0 + 0.5 * rng.standard_normal(d)
        dout = rng.standard_normal((n, d))
        dx, dgamma, dbeta = SOLUTION.layer_norm_backward(x, gamma, dout, eps)
        # eps is stored as a 1-element array (read it with .item())
        refs.update({f"ln_{name}_x": x, f"ln_{name}_gamma": gamma, f"ln_{name}_dout": dout,
                     f"ln_{name}_eps": np.array([eps]), f"ln_{name}_dx": dx,
                     f"ln_{name}_dgamma": dgamma, f"ln_{name}_dbeta": dbeta})
    for name, (n, max_parents) in GRAPH_CASES.items():
        nodes, edges = random_dag(rng, n, max_parents)
        refs[f"graph_{name}_nodes"], refs[f"graph_{name}_edges"] = nodes, edges
    return refs
