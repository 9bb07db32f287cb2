"""Graded tests of exercise 07 (MoE routing): 10 points.

Every test calls the functions of ``student.py`` (fixture ``impl``) on the stored inputs
(fixture ``refs``) and compares with the library's results (fixture ``check``): the top-k of
the library's softmax, its queue positions and capacity, Switch's balancing loss with its
autograd gradient, and the fused MoE op on the kept assignments.
"""

import numpy as np
import pytest

pytestmark = pytest.mark.exercise("07")

CASES = ("a", "b")  # a: top-2, some assignments dropped; b: top-1, a tight capacity


def _array(received, name):
    assert received is not None, f"{name}: the function returned None"
    return np.asarray(received)


def _pair(received, name):
    assert received is not None and len(received) == 2, f"{name}: return a pair"
    return _array(received[0], name), _array(received[1], name)


# ---- top-k routing ------------------------------------------------------------------------------


@pytest.mark.points(0.5)
@pytest.mark.parametrize("case", CASES)
def test_top_k_experts(impl, refs, check, case):
    experts, _ = _pair(impl.top_k_choices(refs[f"{case}_logits"].copy(),
                                          int(refs[f"{case}_k"])), "top_k_choices")
    check.equal(experts.astype(np.int64), refs[f"{case}_experts"],
                f"chosen experts, case {case} (best first; row 0 has logits near 300)")


@pytest.mark.points(0.5)
@pytest.mark.parametrize("case", CASES)
def test_top_k_gates(impl, refs, check, case):
    _, gates = _pair(impl.top_k_choices(refs[f"{case}_logits"].copy(),
                                        int(refs[f"{case}_k"])), "top_k_choices")
    check.allclose(gates.astype(np.float64), refs[f"{case}_gates"], f"gates, case {case}")


# ---- capacity -----------------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.parametrize("case", CASES)
def test_capacity_positions(impl, refs, check, case):
    positions, _ = _pair(impl.capacity_positions(refs[f"{case}_experts"].copy(),
                                                 int(refs[f"{case}_capacity"])),
                         "capacity_positions")
    check.equal(positions.astype(np.int64), refs[f"{case}_positions"],
                f"queue positions, case {case} (first choices queue before second choices)")


@pytest.mark.points(0.5)
@pytest.mark.parametrize("case", CASES)
def test_capacity_keep(impl, refs, check, case):
    _, keep = _pair(impl.capacity_positions(refs[f"{case}_experts"].copy(),
                                            int(refs[f"{case}_capacity"])),
                    "capacity_positions")
    check.equal(keep.astype(bool), refs[f"{case}_keep"], f"kept assignments, case {case}")


# ---- the balancing loss -------------------------------------------------------------------------


@pytest.mark.points(1)
def test_load_balancing_loss(impl, refs, check):
    for case in CASES:
        received = impl.load_balancing_loss(refs[f"{case}_probs"].copy(),
                                            refs[f"{case}_experts"].copy())
        assert received is not None, "load_balancing_loss: the function returned None"
        check.allclose(np.asarray(float(received)), refs[f"{case}_loss"],
                       f"balancing loss, case {case}")


@pytest.mark.points(2)
def test_load_balancing_grad(impl, refs, check):
    for case in CASES:
        received = _array(impl.load_balancing_grad(refs[f"{case}_logits"].copy(),
                                                   refs[f"{case}_experts"].copy()),
                          "load_balancing_grad")
        check.allclose(received.astype(np.float64), refs[f"{case}_dlogits"],
                       f"gradient of the balancing loss w.r.t. the logits, case {case}")


# ---- the layer ----------------------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.parametrize("case", CASES)
def test_moe_forward(impl, refs, check, case):
    args = [refs[f"{case}_{name}"].copy() for name in ("x", "experts", "gates", "keep")]
    args += [refs[name].copy() for name in ("w1", "b1", "w2", "b2")]
    received = _array(impl.moe_forward(*args), "moe_forward")
    check.allclose(received.astype(np.float64), refs[f"{case}_y"],
                   f"MoE output, case {case} (dropped assignments must not contribute)")
