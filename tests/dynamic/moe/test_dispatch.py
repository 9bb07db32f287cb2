"""Dispatch -> experts -> combine: both forms against the per-token loop and the dense masks
(P-A0.3, P-A0.5), gradients of the fused op, and its input checks."""

import numpy as np
import pytest

from tinydyn import Tensor, grad_check
from tinydyn.dynamic.moe import (
    Routing,
    apply_capacity,
    dense_moe,
    moe_ffn,
    reference_moe_loop,
)
from tinydyn.kernels import use_backend

E, D, F, S = 4, 5, 6, 11


def _params(rng, dtype=np.float64, grad=False):
    shapes = [(E, D, F), (E, F), (E, F, D), (E, D)]
    return [Tensor(rng.standard_normal(s).astype(dtype) * 0.5, requires_grad=grad)
            for s in shapes]


def _routing(rng, k=2, dtype=np.float64, grad=False):
    """A top-k routing, rank-major, with random gates."""
    expert = np.stack([rng.choice(E, k, replace=False) for _ in range(S)])   # (S, k)
    token = np.tile(np.arange(S), k)
    gate = Tensor(rng.uniform(0.2, 1.0, S * k).astype(dtype), requires_grad=grad)
    return Routing(token, expert.T.reshape(-1), gate, None, S, E,
                   rank=np.repeat(np.arange(k), S))


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_both_forms_equal_the_per_token_loop_when_nothing_is_dropped(backend, activation):
    """P-A0.3 with C >= S, and P-A0.5 (slots = dropless = dense masks)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((S, D))
    params = _params(rng)
    r = apply_capacity(_routing(rng), S)       # C = S: nothing can drop
    assert r.n_dropped == 0
    arrays = [p.data for p in params]
    loop = reference_moe_loop(x, r, *arrays, activation=activation)
    with use_backend(backend):
        for form in ("dropless", "slots"):
            y = moe_ffn(Tensor(x), r, *params, activation=activation, form=form).data
            np.testing.assert_allclose(y, loop, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dense_moe(x, r, *arrays, activation=activation), loop,
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("capacity", [1, 2, 3])
def test_forms_agree_when_tokens_are_dropped_and_dropped_tokens_give_zero(capacity):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((S, D)).astype(np.float32)
    params = _params(rng, np.float32)
    r = apply_capacity(_routing(rng, dtype=np.float32), capacity)
    assert r.n_dropped > 0
    a = moe_ffn(Tensor(x), r, *params, form="dropless").data
    b = moe_ffn(Tensor(x), r, *params, form="slots").data
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(a, reference_moe_loop(x, r, *[p.data for p in params]),
                               rtol=1e-5, atol=1e-5)
    dropped = r.dropped_tokens()
    assert not a[dropped].any()


def test_dropless_form_without_capacity_equals_slots_with_queue_positions():
    rng = np.random.default_rng(2)
    x = Tensor(rng.standard_normal((S, D)))
    params = _params(rng)
    r = _routing(rng, k=3)
    np.testing.assert_allclose(moe_ffn(x, r, *params, form="dropless").data,
                               moe_ffn(x, r, *params, form="slots").data, rtol=1e-12)


@pytest.mark.parametrize("form", ["dropless", "slots"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_gradients_of_the_fused_op(form, activation):
    rng = np.random.default_rng(3)
    x = Tensor(rng.standard_normal((S, D)), requires_grad=True)
    params = _params(rng, grad=True)
    r = apply_capacity(_routing(rng), 4)

    def fn(x, gate, w1, b1, w2, b2):
        routed = Routing(r.token, r.expert, gate, None, S, E, slot=r.slot, capacity=4)
        return moe_ffn(x, routed, w1, b1, w2, b2, activation=activation, form=form)

    gate = Tensor(r.gate.data.copy(), requires_grad=True)   # a leaf for the check
    assert grad_check(fn, x, gate, *params)


def test_bad_inputs_raise_naming_the_argument():
    rng = np.random.default_rng(4)
    params = _params(rng)
    r = _routing(rng)
    with pytest.raises(ValueError, match="moe_ffn: routing is for 11 tokens but x has 3"):
        moe_ffn(Tensor(np.zeros((3, D))), r, *params)
    with pytest.raises(ValueError, match="moe_ffn: w1 must have shape"):
        moe_ffn(Tensor(np.zeros((S, D))), r, params[0][:, :2], *params[1:])
    with pytest.raises(ValueError, match="moe_ffn: form must be one of"):
        moe_ffn(Tensor(np.zeros((S, D))), r, *params, form="dense")
    with pytest.raises(TypeError, match="moe_ffn: w2 must have x's dtype"):
        moe_ffn(Tensor(np.zeros((S, D))), r, params[0], params[1],
                Tensor(params[2].data.astype(np.float32)), params[3])
    with pytest.raises(ValueError, match="moe_ffn: activation must be one of"):
        moe_ffn(Tensor(np.zeros((S, D))), r, *params, activation="tanh")
