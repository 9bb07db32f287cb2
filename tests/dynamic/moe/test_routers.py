"""Learned routers: properties P-A1.x (noisy top-k), P-A2.x (GShard), P-A3.x (Switch, z-loss),
gradient checks of the gates and the auxiliary losses, and bad-input errors."""

import math

import numpy as np
import pytest

from tinydyn import Tensor, grad_check
from tinydyn.autograd.ops_nn import softmax
from tinydyn.dynamic.moe import (
    GShardRouter,
    MoELayer,
    NoisyTopKRouter,
    SwitchRouter,
    gshard_balance_loss,
    router_z_loss,
    switch_balance_loss,
)

F64 = np.float64


def _x(s=12, d=6, seed=0, dtype=F64):
    return Tensor(np.random.default_rng(seed).standard_normal((s, d)).astype(dtype))


def _gate_matrix(r):
    g = np.zeros((r.n_tokens, r.n_experts))
    g[r.token, r.expert] = r.gate.data
    return g


def _noisy(k=2, e=4, d=6, seed=0):
    router = NoisyTopKRouter(d, e, k=k, rng=np.random.default_rng(seed), dtype=F64)
    rng = np.random.default_rng(seed + 10)
    router.weight.data[...] = rng.standard_normal((d, e))
    router.noise_weight.data[...] = rng.standard_normal((d, e)) * 0.3
    return router


# ---- noisy top-k (A.1) ------------------------------------------------------------------------


@pytest.mark.parametrize("training", [True, False])
def test_noisy_top_k_gates_are_k_sparse_rows_summing_to_one(training):
    """P-A1.1 and P-A1.2 (softmax over the top k = full softmax restricted, renormalised)."""
    router = _noisy(k=2)
    router.train(training)
    r = router(_x())
    g = _gate_matrix(r)
    assert ((g > 0).sum(axis=1) == 2).all() and (g >= 0).all()
    np.testing.assert_allclose(g.sum(axis=1), 1.0, rtol=1e-12)
    if not training:
        full = softmax(Tensor(_x().data @ router.weight.data), dim=1).data
        restricted = np.where(g > 0, full, 0)
        np.testing.assert_allclose(g, restricted / restricted.sum(axis=1, keepdims=True),
                                   rtol=1e-12)


def test_noisy_top_k_with_k_equal_e_and_no_noise_is_the_dense_softmax_mixture():
    """P-A1.3."""
    router = _noisy(k=4)
    router.eval()
    layer = MoELayer(router, 6, 5, 4, rng=np.random.default_rng(1), dtype=F64)
    layer.eval()
    x = _x()
    y = layer(x).data
    probs = softmax(Tensor(x.data @ router.weight.data), dim=1).data
    experts = [np.maximum(x.data @ layer.w1.data[e] + layer.b1.data[e], 0) @ layer.w2.data[e]
               + layer.b2.data[e] for e in range(4)]
    np.testing.assert_allclose(y, sum(probs[:, [e]] * experts[e] for e in range(4)),
                               rtol=1e-10, atol=1e-12)


def test_cv_squared_is_zero_for_constants_and_scale_invariant():
    """P-A1.4."""
    from tinydyn.dynamic.moe import cv_squared
    assert float(cv_squared(Tensor(np.full(5, 3.0))).data) == 0.0
    v = np.array([1.0, 2.0, 5.0])
    a, b = cv_squared(Tensor(v)).data, cv_squared(Tensor(7.5 * v)).data
    assert a == pytest.approx(b, rel=1e-8) and a == pytest.approx(v.var() / v.mean() ** 2,
                                                                 rel=1e-8)
    assert float(cv_squared(Tensor(np.array([4.0]))).data) == 0.0


def test_load_probability_matches_monte_carlo_over_one_experts_noise():
    """P-A1.5: P(x, i) = probability that i stays in the top k when only eps_i is redrawn."""
    router = _noisy(k=2, e=4, seed=3)
    x = _x(s=3, seed=3)
    router._rng = np.random.default_rng(0)
    estimate = router(x).info["load_estimate"]
    clean = x.data @ router.weight.data
    std = np.log1p(np.exp(x.data @ router.noise_weight.data)) + router.noise_epsilon
    rng = np.random.default_rng(7)
    eps = np.random.default_rng(0).standard_normal((3, 4))   # the forward's noise, replayed
    noisy = clean + std * eps
    n = 20000
    probs = np.zeros((3, 4))
    for i in range(4):
        draws = noisy[:, None, :].repeat(n, axis=1)
        draws[:, :, i] = clean[:, None, i] + std[:, None, i] * rng.standard_normal((3, n))
        kth = np.sort(draws, axis=2)[:, :, -2]          # the 2nd largest
        probs[:, i] = (draws[:, :, i] >= kth).mean(axis=1)
    assert ((probs.sum(axis=0) > 0)).all()
    np.testing.assert_allclose(estimate, probs.sum(axis=0), atol=0.05)


def test_noisy_top_k_eval_is_deterministic_and_uses_hard_counts():
    """P-A1.7."""
    router = _noisy()
    router.noise_weight.data[...] = -50.0   # softplus ~ 0: only the floor keeps std > 0
    router.eval()
    a, b = router(_x()), router(_x())
    np.testing.assert_array_equal(a.expert, b.expert)
    np.testing.assert_array_equal(a.info["load_estimate"], a.load())
    assert np.isfinite(float(a.aux_loss.data))


def test_noisy_top_k_gates_and_losses_have_correct_gradients():
    """P-A1.8: the gates and L_imp + L_load, into W_g and W_noise."""
    router = _noisy()
    x = _x(s=8)

    def fn(w_g, w_noise):
        router.weight, router.noise_weight = w_g, w_noise
        router._rng = np.random.default_rng(0)   # the same noise at every evaluation
        r = router(x)
        return r.aux_loss * 100.0 + (r.gate * r.gate).sum()

    from tinydyn.nn.module import Parameter
    w_g, w_n = Parameter(router.weight.data), Parameter(router.noise_weight.data)
    assert grad_check(fn, w_g, w_n)


# ---- GShard (A.2) ----------------------------------------------------------------------------


def _gshard(random_routing=True, seed=0, e=4):
    router = GShardRouter(6, e, random_routing=random_routing, rng=np.random.default_rng(seed),
                          dtype=F64)
    router.weight.data[...] = np.random.default_rng(seed + 1).standard_normal((6, e))
    return router


def test_gshard_two_distinct_experts_with_gates_summing_to_one():
    """P-A2.1, P-A2.2."""
    r = _gshard(random_routing=False)(_x())
    first, second = r.expert[r.rank == 0], r.expert[r.rank == 1]
    assert (first != second).all() and r.experts_per_token().max() == 2
    np.testing.assert_allclose(_gate_matrix(r).sum(axis=1), 1.0, rtol=1e-12)


def test_gshard_second_expert_is_dispatched_at_rate_two_g2():
    """P-A2.4 (Monte-Carlo over the router's generator)."""
    router = _gshard(seed=2)
    x = _x(s=4, seed=2)
    g2 = None
    hits = np.zeros(4)
    n = 4000
    for _ in range(n):
        r = router(x)
        second = r.rank == 1
        hits[r.token[second]] += 1
        if g2 is None:
            g2 = np.sort(_gate_matrix(router.eval()(x)), axis=1)[:, -2]
            router.train()
    np.testing.assert_allclose(hits / n, np.minimum(2 * g2, 1), atol=0.03)
    router.eval()
    assert router(x).n_assignments == 8   # no sampling at evaluation


def test_gshard_loss_is_one_under_uniform_probabilities_and_flows_only_through_m():
    """P-A2.5, P-A2.6."""
    probs = Tensor(np.full((10, 5), 0.2), requires_grad=True)
    first = np.array([0, 0, 0, 1, 2, 2, 2, 2, 4, 4])
    loss = gshard_balance_loss(probs, first)
    assert float(loss.data) == pytest.approx(1.0)
    loss.backward()
    counts = np.bincount(first, minlength=5) / 10
    np.testing.assert_allclose(probs.grad.data, np.tile(5 * counts / 10, (10, 1)))


# ---- Switch (A.3) ----------------------------------------------------------------------------


def test_switch_output_is_top_probability_times_expert_and_zero_when_dropped():
    """P-A3.1, P-A3.2."""
    router = SwitchRouter(6, 4, rng=np.random.default_rng(0), dtype=F64)
    for cf, drops in ((4.0, False), (0.5, True)):
        layer = MoELayer(router, 6, 5, 4, capacity_factor=cf, rng=np.random.default_rng(1),
                         dtype=F64)
        x = _x(s=16)
        y = layer(x).data
        r = layer.last_routing
        assert (r.n_dropped > 0) == drops and r.experts_per_token().max() <= 1
        probs = r.probs
        for s in range(16):
            if r.dropped_tokens()[s]:
                assert not y[s].any()
            else:
                e = int(np.argmax(probs[s]))
                expert = np.maximum(x.data[s] @ layer.w1.data[e] + layer.b1.data[e], 0) \
                    @ layer.w2.data[e] + layer.b2.data[e]
                np.testing.assert_allclose(y[s], probs[s, e] * expert, rtol=1e-10)


def test_switch_balance_loss_values():
    """P-A3.3 (alpha under uniform, any tie-break), P-A3.4 (-> alpha N under collapse),
    P-A3.5 (not bounded below by alpha)."""
    uniform = Tensor(np.full((6, 4), 0.25))
    for experts in (np.zeros((6, 1), int), np.arange(6)[:, None] % 4):
        assert float(switch_balance_loss(uniform, experts).data) == pytest.approx(1.0)
    collapsed = np.tile([0.97, 0.01, 0.01, 0.01], (8, 1))
    assert float(switch_balance_loss(Tensor(collapsed), np.zeros((8, 1), int)).data) == \
        pytest.approx(3.88)
    p = np.array([[0.35, 0.30, 0.349], [0.30, 0.35, 0.349]])
    p = p / p.sum(axis=1, keepdims=True)
    below = float(switch_balance_loss(Tensor(p), np.array([[0], [1]])).data)
    assert below < 0.99


def test_z_loss_value_gradient_and_shift():
    """P-A3.7."""
    assert float(router_z_loss(Tensor(np.zeros((5, 4)))).data) == pytest.approx(math.log(4) ** 2)
    z = np.random.default_rng(0).standard_normal((5, 4))
    t = Tensor(z, requires_grad=True)
    router_z_loss(t).backward()
    lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(t.grad.data, 2 / 5 * lse * np.exp(z - lse), rtol=1e-10)
    assert float(router_z_loss(Tensor(z + 3.0)).data) != pytest.approx(
        float(router_z_loss(Tensor(z)).data))


def test_switch_jitter_only_in_training():
    """P-A3.8."""
    router = SwitchRouter(6, 4, jitter=0.5, rng=np.random.default_rng(0), dtype=F64)
    x = _x(s=64)
    a, b = router(x), router(x)
    assert float(a.info["balance_loss"]) != float(b.info["balance_loss"])
    router.eval()
    np.testing.assert_array_equal(router(x).gate.data, router(x).gate.data)


@pytest.mark.parametrize("make", [lambda: SwitchRouter(6, 4, k=2, z_loss_coef=1e-3,
                                                       rng=np.random.default_rng(0),
                                                       dtype=F64),
                                  lambda: _gshard(random_routing=False)])
def test_router_gates_and_losses_have_correct_gradients(make):
    router = make()
    x = _x(s=10)

    def fn(w):
        router.weight = w
        r = router(x)
        return r.aux_loss * 10.0 + (r.gate * r.gate).sum()

    from tinydyn.nn.module import Parameter
    assert grad_check(fn, Parameter(router.weight.data))


def test_batch_prioritised_routing_drops_the_least_confident_tokens():
    router = SwitchRouter(6, 2, batch_prioritized=True, rng=np.random.default_rng(0), dtype=F64)
    router.weight.data[:, 0] = 3.0   # push everything towards expert 0
    router.weight.data[:, 1] = -3.0
    layer = MoELayer(router, 6, 4, 2, capacity_factor=0.5, dtype=F64)
    x = Tensor(np.abs(_x(s=16).data))
    layer(x)
    r = layer.last_routing
    top1 = r.probs.max(axis=1)
    kept = ~r.dropped_tokens()
    assert r.n_dropped > 0
    assert top1[kept].min() >= top1[~kept & (r.probs.argmax(axis=1) == 0)].max()


def test_bad_router_arguments_raise_naming_the_argument():
    with pytest.raises(ValueError, match="SwitchRouter: k must be <= n_experts"):
        SwitchRouter(6, 4, k=5)
    with pytest.raises(ValueError, match="NoisyTopKRouter: k must be <= n_experts"):
        NoisyTopKRouter(6, 2, k=3)
    with pytest.raises(ValueError, match=r"SwitchRouter: x must have shape \(S, 6\)"):
        SwitchRouter(6, 4)(_x(d=5))
    with pytest.raises(ValueError, match="GShardRouter: n_experts must be >= 2"):
        GShardRouter(6, 1)
    with pytest.raises(TypeError, match="SwitchRouter: token_ids must be None or an integer"):
        SwitchRouter(6, 4)(_x(), token_ids=np.zeros(12))
