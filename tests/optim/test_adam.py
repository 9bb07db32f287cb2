"""Adam and AdamW against their update equations written out in NumPy."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinydyn import Tensor
from tinydyn.optim import Adam, AdamW

FAST = settings(derandomize=True, deadline=None, max_examples=25)


def _grads(seed, shape, steps):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for _ in range(steps)]


def _run(opt, p, grads):
    for g in grads:
        p.grad = Tensor(g.astype(p.dtype))
        opt.step()


def _reference(w, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    """Kingma & Ba's Algorithm 1, with L2 (Adam) or decoupled (AdamW) weight decay."""
    b1, b2 = betas
    w = w.copy()
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        if decoupled:
            w = w - lr * weight_decay * w
        else:
            g = g + weight_decay * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps)
    return w


def test_first_adam_step_moves_each_weight_by_lr():
    # with bias correction, m_hat = g and v_hat = g**2 at t = 1: the step is lr * sign(g)
    p = Tensor(np.zeros(3), requires_grad=True)
    _run(Adam([p], lr=0.01, eps=0.0), p, [np.array([5.0, -0.001, 2.0])])
    np.testing.assert_allclose(p.data, [-0.01, 0.01, -0.01])


@pytest.mark.parametrize("options", [
    dict(),
    dict(betas=(0.5, 0.9), eps=1e-3),
    dict(weight_decay=0.1),
    dict(betas=(0.0, 0.99), weight_decay=0.01),
])
def test_adam_matches_textbook_equations_over_four_steps(options):
    w0 = np.random.default_rng(0).standard_normal((4, 3))
    grads = _grads(1, (4, 3), 4)
    p = Tensor(w0.copy(), requires_grad=True)
    _run(Adam([p], lr=0.1, **options), p, grads)
    np.testing.assert_allclose(p.data, _reference(w0, grads, 0.1, **options), rtol=1e-12)


@pytest.mark.parametrize("options", [dict(), dict(weight_decay=0.3, betas=(0.8, 0.95))])
def test_adamw_matches_decoupled_equations_over_four_steps(options):
    w0 = np.random.default_rng(2).standard_normal(5)
    grads = _grads(3, 5, 4)
    p = Tensor(w0.copy(), requires_grad=True)
    _run(AdamW([p], lr=0.1, **options), p, grads)
    expected = _reference(w0, grads, 0.1, decoupled=True,
                          **{"weight_decay": 1e-2, **options})
    np.testing.assert_allclose(p.data, expected, rtol=1e-12)


def test_adamw_decay_shrinks_weights_geometrically_when_gradients_vanish():
    # decoupled: with g = 0 the moments stay 0 and only w <- w * (1 - lr * wd) acts
    p = Tensor(np.array([4.0, -0.01]), requires_grad=True)
    _run(AdamW([p], lr=0.1, weight_decay=0.5), p, [np.zeros(2)] * 3)
    np.testing.assert_allclose(p.data, np.array([4.0, -0.01]) * 0.95**3, rtol=1e-12)


def test_adam_l2_decay_is_normalised_like_a_gradient():
    # coupled: g = wd * w is rescaled by 1 / sqrt(v_hat), so the first step is lr * sign(w),
    # the same for a large and a tiny weight
    p = Tensor(np.array([4.0, -0.01]), requires_grad=True)
    _run(Adam([p], lr=0.1, eps=0.0, weight_decay=0.5), p, [np.zeros(2)])
    np.testing.assert_allclose(p.data, [3.9, 0.09], rtol=1e-12)


def test_adam_and_adamw_differ_with_weight_decay():
    w0 = np.array([2.0, -1.0])
    grads = _grads(4, 2, 3)
    a = Tensor(w0.copy(), requires_grad=True)
    b = Tensor(w0.copy(), requires_grad=True)
    _run(Adam([a], lr=0.1, weight_decay=0.1), a, grads)
    _run(AdamW([b], lr=0.1, weight_decay=0.1), b, grads)
    assert not np.allclose(a.data, b.data)


@FAST
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple),
       lr=st.floats(0.0, 0.5), beta1=st.floats(0.0, 0.99), beta2=st.floats(0.0, 0.999),
       weight_decay=st.floats(0.0, 0.1), decoupled=st.booleans(), seed=st.integers(0, 99))
def test_adam_matches_reference_over_random_shapes_and_options(shape, lr, beta1, beta2,
                                                              weight_decay, decoupled, seed):
    w0 = np.random.default_rng(seed).standard_normal(shape)
    grads = _grads(seed + 1, shape, 3)
    p = Tensor(w0.copy(), requires_grad=True)
    cls = AdamW if decoupled else Adam
    _run(cls([p], lr=lr, betas=(beta1, beta2), eps=1e-6, weight_decay=weight_decay), p, grads)
    expected = _reference(w0, grads, lr, (beta1, beta2), 1e-6, weight_decay, decoupled)
    np.testing.assert_allclose(p.data, expected, rtol=1e-9, atol=1e-12)


def test_adam_counts_steps_per_parameter():
    p = Tensor(np.ones(2), requires_grad=True)
    q = Tensor(np.ones(2), requires_grad=True)
    opt = Adam([p, q])
    p.grad = Tensor(np.ones(2))
    opt.step()
    opt.step()
    q.grad = Tensor(np.ones(2))
    opt.step()
    assert opt.state[p]["step"] == 3 and opt.state[q]["step"] == 1


def test_adam_keeps_float32_state_and_params():
    p = Tensor(np.ones((3, 2), dtype=np.float32), requires_grad=True)
    opt = Adam([p], lr=0.1, weight_decay=0.1)
    _run(opt, p, _grads(0, (3, 2), 3))
    assert p.data.dtype == np.float32
    assert opt.state[p]["exp_avg"].dtype == np.float32
    assert opt.state[p]["exp_avg_sq"].dtype == np.float32


def test_adam_does_not_write_into_the_gradient():
    p = Tensor(np.ones(3), requires_grad=True)
    g = np.array([1.0, -2.0, 3.0])
    p.grad = Tensor(g.copy())
    Adam([p], weight_decay=0.5).step()
    np.testing.assert_array_equal(p.grad.data, g)


def test_adam_rejects_beta_equal_to_one():
    p = Tensor(np.ones(1), requires_grad=True)
    with pytest.raises(ValueError, match=r"^Adam: betas\[1\] must be in \[0, 1\), got 1.0$"):
        Adam([p], betas=(0.9, 1.0))


def test_adam_rejects_negative_beta():
    p = Tensor(np.ones(1), requires_grad=True)
    with pytest.raises(ValueError, match=r"AdamW: betas\[0\] must be in \[0, 1\), got -0.1"):
        AdamW([p], betas=(-0.1, 0.9))


def test_adam_rejects_betas_that_are_not_a_pair():
    p = Tensor(np.ones(1), requires_grad=True)
    with pytest.raises(TypeError, match=r"Adam: betas must be a pair \(beta1, beta2\), got 0.9"):
        Adam([p], betas=0.9)


def test_adam_rejects_negative_eps():
    p = Tensor(np.ones(1), requires_grad=True)
    with pytest.raises(ValueError, match="Adam: eps must be >= 0, got -1e-08"):
        Adam([p], eps=-1e-8)


def test_adamw_rejects_negative_weight_decay():
    p = Tensor(np.ones(1), requires_grad=True)
    with pytest.raises(ValueError, match="AdamW: weight_decay must be >= 0, got -0.01"):
        AdamW([p], weight_decay=-0.01)


def test_adamw_default_weight_decay_is_one_hundredth():
    p = Tensor(np.ones(1), requires_grad=True)
    assert AdamW([p]).param_groups[0]["weight_decay"] == 0.01
    assert Adam([p]).param_groups[0]["weight_decay"] == 0.0
