"""Graded tests of exercise 01 (autograd): 10 points.

Every test feeds the functions of ``student.py`` (fixture ``impl``) the stored inputs
(fixture ``refs``) and compares with the library's outputs (fixture ``check``).
"""

import sys

import numpy as np
import pytest

pytestmark = pytest.mark.exercise("01")


def _graph(refs, name):
    """The reference graph ``name`` as the dict ``topological_order`` receives."""
    graph = {int(node): [] for node in refs[f"graph_{name}_nodes"]}
    for child, parent in refs[f"graph_{name}_edges"]:
        graph[int(child)].append(int(parent))
    return graph


def _check_order(order, graph, name):
    """Assert ``order`` lists every node of ``graph`` once, each after all its parents."""
    assert order is not None, f"{name}: topological_order returned None"
    order = list(order)
    assert len(order) == len(graph), \
        f"{name}: expected {len(graph)} nodes in the order, received {len(order)}"
    position = {}
    for i, node in enumerate(order):
        assert node in graph, f"{name}: position {i} holds {node!r}, which is not a node"
        assert node not in position, \
            f"{name}: node {node} appears twice (positions {position[node]} and {i})"
        position[node] = i
    for node, parents in graph.items():
        for parent in parents:
            assert position[parent] < position[node], \
                (f"{name}: node {node} (position {position[node]}) comes before its parent "
                 f"{parent} (position {position[parent]})")


# ---- softmax + cross-entropy ------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.parametrize("case", ["a", "b"])
def test_cross_entropy_backward_values(impl, refs, check, case):
    received = impl.softmax_cross_entropy_backward(refs[f"ce_{case}_logits"],
                                                   refs[f"ce_{case}_targets"])
    check.allclose(received, refs[f"ce_{case}_dlogits"], f"dlogits (case {case})")


@pytest.mark.points(1)
def test_cross_entropy_backward_large_logits_stay_finite(impl, refs, check):
    # rows near +1e4 and -1e4: exp overflows (or underflows to 0/0) without the max shift
    received = impl.softmax_cross_entropy_backward(refs["ce_large_logits"],
                                                   refs["ce_large_targets"])
    finite = np.isfinite(np.asarray(received, dtype=np.float64))
    assert finite.all(), (f"dlogits (|logits| ~ 1e4): {int((~finite).sum())} values are not "
                          f"finite; subtract each row's max before exp")
    check.allclose(received, refs["ce_large_dlogits"], "dlogits (|logits| ~ 1e4)")


@pytest.mark.points(1)
def test_cross_entropy_backward_shape_and_inputs_unchanged(impl, refs):
    logits, targets = refs["ce_b_logits"], refs["ce_b_targets"]
    logits_before, targets_before = logits.copy(), targets.copy()
    received = impl.softmax_cross_entropy_backward(logits, targets)
    assert np.shape(received) == logits.shape, \
        f"dlogits: expected shape {logits.shape} (N, C), received {np.shape(received)}"
    assert np.array_equal(logits, logits_before), \
        "logits were modified by the call: compute on a copy (e.g. logits - max), not in place"
    assert np.array_equal(targets, targets_before), "targets were modified by the call"


# ---- layer norm ---------------------------------------------------------------------------------


def _layer_norm(impl, refs, case):
    return impl.layer_norm_backward(refs[f"ln_{case}_x"], refs[f"ln_{case}_gamma"],
                                    refs[f"ln_{case}_dout"], refs[f"ln_{case}_eps"].item())


def _unpack(received, case):
    assert isinstance(received, (tuple, list)) and len(received) == 3, \
        (f"layer_norm_backward (case {case}): expected a tuple (dx, dgamma, dbeta), received "
         f"{type(received).__name__}" + (f" of length {len(received)}"
                                         if isinstance(received, (tuple, list)) else ""))
    return received


@pytest.mark.points(1)
@pytest.mark.parametrize("case", ["a", "b"])
def test_layer_norm_backward_dx(impl, refs, check, case):
    dx, _, _ = _unpack(_layer_norm(impl, refs, case), case)
    check.allclose(dx, refs[f"ln_{case}_dx"], f"dx (case {case})")


@pytest.mark.points(1)
def test_layer_norm_backward_dgamma_dbeta(impl, refs, check):
    for case in ("a", "b"):
        _, dgamma, dbeta = _unpack(_layer_norm(impl, refs, case), case)
        check.allclose(dgamma, refs[f"ln_{case}_dgamma"], f"dgamma (case {case})")
        check.allclose(dbeta, refs[f"ln_{case}_dbeta"], f"dbeta (case {case})")


@pytest.mark.points(1)
def test_layer_norm_backward_uses_eps(impl, refs, check):
    # eps = 0.5 is comparable to the variance, so leaving it out changes every gradient
    dx, dgamma, dbeta = _unpack(_layer_norm(impl, refs, "c"), "c")
    check.allclose(dx, refs["ln_c_dx"], f"dx (eps = {refs['ln_c_eps'].item()})")
    check.allclose(dgamma, refs["ln_c_dgamma"], f"dgamma (eps = {refs['ln_c_eps'].item()})")


# ---- topological order --------------------------------------------------------------------------


@pytest.mark.points(1)
def test_topological_order_puts_parents_first(impl, refs):
    for name in ("a", "b"):
        graph = _graph(refs, name)
        _check_order(impl.topological_order(graph), graph, f"graph {name}")


@pytest.mark.points(1)
def test_topological_order_handles_a_10000_deep_chain(impl):
    # node k's parent is k + 1, listed in ascending order: neither the listing order nor sorted
    # labels is valid, and a recursive walk exceeds Python's recursion limit
    n = 10_000
    graph = {k: [k + 1] for k in range(n - 1)}
    graph[n - 1] = []
    limit = sys.getrecursionlimit()
    try:
        order = impl.topological_order(graph)
    finally:
        sys.setrecursionlimit(limit)  # a solution that raised the limit must not leak it
    _check_order(order, graph, f"chain of {n} nodes")
