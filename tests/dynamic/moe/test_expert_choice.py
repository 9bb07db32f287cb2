"""Expert Choice routing: experts pick their top-C tokens (spec A.5)."""

import numpy as np
import pytest

from tinydyn import Tensor, grad_check
from tinydyn.dynamic.moe.expert_choice import (
    ExpertChoiceRouter,
    expert_choice_capacity,
    expert_choice_select,
)

F64 = np.float64


def _x(s=16, d=6, seed=0, dtype=F64):
    return Tensor(np.random.default_rng(seed).standard_normal((s, d)).astype(dtype),
                  requires_grad=True)


def _router(d=6, e=4, c=2.0, dtype=F64, seed=1):
    return ExpertChoiceRouter(d, e, capacity_factor=c, rng=np.random.default_rng(seed),
                              dtype=dtype)


def test_select_takes_each_experts_top_tokens_in_order_and_breaks_ties_by_index():
    scores = np.array([[0.1, 0.9], [0.5, 0.5], [0.5, 0.2], [0.3, 0.9]])
    token, expert = expert_choice_select(scores, 2)
    np.testing.assert_array_equal(expert, [0, 0, 1, 1])
    np.testing.assert_array_equal(token, [1, 2, 0, 3])  # 0.5 = 0.5: token 1 before token 2


@pytest.mark.parametrize("c, s", [(1.0, 16), (2.0, 16), (0.5, 12), (3.0, 10)])
def test_every_expert_gets_exactly_its_capacity(c, s):
    router = _router(c=c)
    routing = router(_x(s=s))
    expected = expert_choice_capacity(s, 4, c)
    assert expected == min(s, int(np.ceil(s * c / 4 - 1e-9)))
    np.testing.assert_array_equal(routing.load(), np.full(4, expected))
    assert routing.info["capacity"] == expected


def test_experts_per_token_ranges_over_zero_to_e_and_averages_c():
    routing = _router(c=2.0)(_x(s=32, seed=3))
    per_token = routing.experts_per_token()
    assert per_token.min() >= 0 and per_token.max() <= 4
    assert per_token.mean() == pytest.approx(2.0)  # S * c / E is an integer here


def test_gate_is_the_router_probability_of_the_pair():
    router = _router()
    routing = router(_x())
    np.testing.assert_allclose(routing.gate.data, routing.probs[routing.token, routing.expert])
    # and the probabilities are a softmax over experts of x w
    x = _x().data
    logits = x @ router.weight.data
    p = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(routing.probs, p / p.sum(1, keepdims=True), rtol=1e-12)


def test_c_equal_to_e_gives_every_expert_every_token():
    routing = _router(c=4.0)(_x(s=8))
    assert routing.n_assignments == 32
    np.testing.assert_array_equal(routing.experts_per_token(), np.full(8, 4))


def test_a_later_token_can_change_an_earlier_tokens_routing():
    # non-causal: token 0 loses its place when a later token outbids it
    router = _router(d=2, e=2, c=0.5)  # C = 1: each expert takes one token
    router.weight.data[:] = [[1.0, -1.0], [0.0, 0.0]]
    x = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [-1.0, 0.0]])
    before = router(Tensor(x))
    x[1, 0] = 3.0  # a later token with a higher score for expert 0
    after = router(Tensor(x))
    assert list(before.token[before.expert == 0]) == [0]
    assert list(after.token[after.expert == 0]) == [1]


def test_gradient_flows_to_router_weight_and_input():
    router = _router()
    x = _x(s=8)
    assert grad_check(lambda x, w: router(x).gate, x, router.weight)


@pytest.mark.parametrize("kwargs, exc, words", [
    (dict(capacity_factor=0.0), ValueError, "capacity_factor must be > 0"),
    (dict(capacity_factor=-1.0), ValueError, "capacity_factor must be > 0"),
    (dict(capacity_factor=5.0), ValueError, "capacity_factor must be <= n_experts=4"),
    (dict(rounding="round"), ValueError, "rounding must be one of"),
])
def test_bad_construction_raises(kwargs, exc, words):
    with pytest.raises(exc, match=f"ExpertChoiceRouter: {words}"):
        ExpertChoiceRouter(6, 4, **kwargs)


def test_wrong_width_and_bad_select_arguments_raise():
    with pytest.raises(ValueError, match=r"ExpertChoiceRouter: x must have shape \(S, 6\)"):
        _router()(_x(d=5))
    with pytest.raises(ValueError, match="expert_choice_select: capacity must be <= "):
        expert_choice_select(np.zeros((3, 2)), 4)
    with pytest.raises(TypeError, match="expert_choice_select: scores must be a 2-D"):
        expert_choice_select(np.zeros(3), 1)


def _layer(router, d=6, f=5, e=4):
    from tinydyn.dynamic.moe import MoELayer
    return MoELayer(router, d, f, e, rng=np.random.default_rng(9), dtype=F64)


def _ffn(x, layer, e):
    h = np.maximum(x @ layer.w1.data[e] + layer.b1.data[e], 0)
    return h @ layer.w2.data[e] + layer.b2.data[e]


def test_in_a_layer_c_equal_to_e_is_the_dense_mixture():
    router = _router(c=4.0)
    layer = _layer(router)
    x = _x(s=8)
    y = layer(x).data
    probs = layer.last_routing.probs
    dense = sum(probs[:, [e]] * _ffn(x.data, layer, e) for e in range(4))
    np.testing.assert_allclose(y, dense, rtol=1e-10, atol=1e-12)


def test_in_a_layer_tokens_no_expert_chose_get_zero_and_gradients_reach_the_router():
    router = _router(c=1.0)
    layer = _layer(router)
    x = _x(s=12, seed=4)
    y = layer(x).data
    routing = layer.last_routing
    assert routing.dropped_tokens().any()
    np.testing.assert_array_equal(y[routing.dropped_tokens()], 0.0)
    from tinydyn.dynamic.moe import reference_moe_loop
    ref = reference_moe_loop(x.data, routing, *(p.data for p in (layer.w1, layer.b1,
                                                                 layer.w2, layer.b2)))
    np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-12)
    assert grad_check(lambda x, w: layer(x), x, router.weight)
