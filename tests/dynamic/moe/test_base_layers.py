"""BASE layers: balanced assignment by auction in training, argmax at test time (spec A.4)."""

import numpy as np
import pytest

from tinydyn import Tensor, grad_check
from tinydyn.dynamic.moe.auction import (
    assignment_score,
    greedy_capacity_assignment,
    hungarian_assignment,
)
from tinydyn.dynamic.moe.base_layers import BaseRouter, orthogonal_centroids

F64 = np.float64


def _x(s=16, d=6, seed=0):
    return Tensor(np.random.default_rng(seed).standard_normal((s, d)), requires_grad=True)


def _router(d=6, e=4, **kw):
    return BaseRouter(d, e, rng=np.random.default_rng(2), dtype=F64, **kw)


@pytest.mark.parametrize("seed", range(4))
def test_training_assignment_is_balanced_and_optimal(seed):
    router = _router(eps=1e-9)
    x = _x(s=16, seed=seed)
    routing = router(x)
    np.testing.assert_array_equal(routing.load(), [4, 4, 4, 4])
    scores = x.data @ router.weight.data.T
    exact = assignment_score(scores, hungarian_assignment(scores))
    assert assignment_score(scores, routing.expert) == pytest.approx(exact, abs=1e-6)
    assert exact >= assignment_score(scores, greedy_capacity_assignment(scores)) - 1e-12
    assert router.last_n_bids >= 16


def test_eval_routing_is_rowwise_argmax_and_need_not_balance():
    router = _router()
    router.eval()
    x = _x(s=10)  # 10 is not divisible by 4: fine at test time
    routing = router(x)
    np.testing.assert_array_equal(routing.expert,
                                  np.argmax(x.data @ router.weight.data.T, axis=1))


def test_permuting_tokens_permutes_the_assignment():
    router = _router(eps=1e-9)
    x = _x(s=12, seed=5)
    perm = np.random.default_rng(0).permutation(12)
    a = router(x).expert
    b = router(Tensor(x.data[perm])).expert
    np.testing.assert_array_equal(b, a[perm])


def test_gate_is_the_sigmoid_of_the_tokens_affinity_to_its_expert():
    router = _router()
    x = _x()
    routing = router(x)
    aff = (x.data @ router.weight.data.T)[np.arange(16), routing.expert]
    np.testing.assert_allclose(routing.gate.data, 1 / (1 + np.exp(-aff)), rtol=1e-12)


def test_gate_gradients_reach_centroids_and_input():
    router = _router()
    assert grad_check(lambda x, w: router(x).gate, _x(s=8), router.weight)


def test_centroids_are_orthogonal_with_the_gain():
    w = orthogonal_centroids(4, 6, gain=0.1, rng=np.random.default_rng(0), dtype=F64)
    np.testing.assert_allclose(w @ w.T, 0.01 * np.eye(4), atol=1e-12)
    wide = orthogonal_centroids(8, 3, gain=1.0, rng=np.random.default_rng(0), dtype=F64)
    np.testing.assert_allclose(wide.T @ wide, np.eye(3), atol=1e-12)


def test_bad_input_raises_naming_the_router():
    router = _router()
    with pytest.raises(ValueError, match="BaseRouter: in training the number of tokens S "
                                         "must be divisible by n_experts=4"):
        router(_x(s=10))
    with pytest.raises(ValueError, match=r"BaseRouter: x must have shape \(S, 6\)"):
        router(_x(d=3))
    with pytest.raises(ValueError, match="BaseRouter: eps must be > 0"):
        BaseRouter(6, 4, eps=0.0)


def test_in_a_layer_each_token_gets_its_gate_times_its_experts_ffn():
    from tinydyn.dynamic.moe import MoELayer, reference_moe_loop
    router = _router()
    layer = MoELayer(router, 6, 5, 4, rng=np.random.default_rng(3), dtype=F64)
    x = _x(s=8)
    y = layer(x)
    routing = layer.last_routing
    np.testing.assert_array_equal(routing.load(), [2, 2, 2, 2])
    ref = reference_moe_loop(x.data, routing, *(p.data for p in (layer.w1, layer.b1,
                                                                 layer.w2, layer.b2)))
    np.testing.assert_allclose(y.data, ref, rtol=1e-10, atol=1e-12)
    layer.eval()  # argmax routing: a finite-difference step cannot reshuffle an assignment
    assert grad_check(lambda x, w: layer(x), _x(s=8, seed=2), router.weight)
    # a gate forced to 0 (a very negative affinity) leaves only the residual: y = 0
    router.weight.data[:] = 0.0
    router.weight.data[:, 0] = -1e3
    x0 = Tensor(np.abs(x.data) + 1.0)
    np.testing.assert_allclose(layer(x0).data, 0.0, atol=1e-12)
