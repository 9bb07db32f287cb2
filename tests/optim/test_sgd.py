"""SGD against its update equations written out in NumPy."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinydyn import Tensor
from tinydyn.optim import SGD

FAST = settings(derandomize=True, deadline=None, max_examples=25)


def _grads(seed, shape, steps):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for _ in range(steps)]


def _run(opt, p, grads):
    for g in grads:
        p.grad = Tensor(g.astype(p.dtype))
        opt.step()


def _reference(w, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    """PyTorch's SGD, step by step."""
    w = w.copy()
    buf = None
    for g in grads:
        d = g + weight_decay * w
        if momentum:
            buf = d.copy() if buf is None else momentum * buf + (1 - dampening) * d
            d = d + momentum * buf if nesterov else buf
        w = w - lr * d
    return w


def test_plain_sgd_steps_against_the_gradient():
    p = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    grads = [np.array([0.5, 1.0]), np.array([-1.0, 2.0]), np.array([3.0, 0.0])]
    _run(SGD([p], lr=0.1), p, grads)
    np.testing.assert_allclose(p.data, [1.0 - 0.1 * 2.5, -2.0 - 0.1 * 3.0])


def test_momentum_buffer_starts_at_the_first_gradient():
    p = Tensor(np.zeros(1), requires_grad=True)
    opt = SGD([p], lr=1.0, momentum=0.9, dampening=0.5)
    _run(opt, p, [np.array([2.0])])
    # first step: buf = g (no dampening yet), w = -lr * g
    np.testing.assert_allclose(opt.state[p]["momentum_buffer"], [2.0])
    np.testing.assert_allclose(p.data, [-2.0])
    _run(opt, p, [np.array([2.0])])
    # second: buf = 0.9 * 2 + 0.5 * 2 = 2.8
    np.testing.assert_allclose(p.data, [-2.0 - 2.8])


@pytest.mark.parametrize("options", [
    dict(momentum=0.9),
    dict(momentum=0.9, nesterov=True),
    dict(momentum=0.5, dampening=0.3),
    dict(weight_decay=0.1),
    dict(momentum=0.9, weight_decay=0.01, nesterov=True),
    dict(momentum=0.8, dampening=0.1, weight_decay=0.05),
])
def test_sgd_matches_textbook_equations_over_four_steps(options):
    w0 = np.random.default_rng(0).standard_normal((3, 4))
    grads = _grads(1, (3, 4), 4)
    p = Tensor(w0.copy(), requires_grad=True)
    _run(SGD([p], lr=0.05, **options), p, grads)
    np.testing.assert_allclose(p.data, _reference(w0, grads, 0.05, **options), rtol=1e-12)


@FAST
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple),
       lr=st.floats(0.0, 1.0), momentum=st.floats(0.0, 0.99),
       weight_decay=st.floats(0.0, 0.1), nesterov=st.booleans(), seed=st.integers(0, 99))
def test_sgd_matches_reference_over_random_shapes_and_options(shape, lr, momentum, weight_decay,
                                                             nesterov, seed):
    nesterov = nesterov and momentum > 0
    w0 = np.random.default_rng(seed).standard_normal(shape)
    grads = _grads(seed + 1, shape, 3)
    p = Tensor(w0.copy(), requires_grad=True)
    opts = dict(momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
    _run(SGD([p], lr=lr, **opts), p, grads)
    np.testing.assert_allclose(p.data, _reference(w0, grads, lr, **opts), rtol=1e-10, atol=1e-12)


def test_sgd_updates_in_place_and_keeps_float32():
    p = Tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    data = p.data
    opt = SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1)
    _run(opt, p, _grads(0, (2, 3), 3))
    assert p.data is data and p.data.dtype == np.float32
    assert opt.state[p]["momentum_buffer"].dtype == np.float32


def test_sgd_does_not_write_into_the_gradient():
    p = Tensor(np.ones(3), requires_grad=True)
    g = np.array([1.0, 2.0, 3.0])
    p.grad = Tensor(g.copy())
    SGD([p], lr=0.1, momentum=0.9, weight_decay=0.5, nesterov=True).step()
    np.testing.assert_array_equal(p.grad.data, g)


def test_sgd_minimises_a_quadratic_through_backward():
    p = Tensor(np.array([3.0, -4.0]), requires_grad=True)
    opt = SGD([p], lr=0.1, momentum=0.5)
    for _ in range(100):
        opt.zero_grad()
        (p * p).sum().backward()
        opt.step()
    np.testing.assert_allclose(p.data, 0.0, atol=1e-6)


def test_sgd_rejects_negative_lr():
    p = Tensor(np.ones(1), requires_grad=True)
    with pytest.raises(ValueError, match=r"^SGD: lr must be >= 0, got -1.0$"):
        SGD([p], lr=-1.0)


def test_sgd_requires_lr():
    p = Tensor(np.ones(1), requires_grad=True)
    with pytest.raises(TypeError, match="lr"):
        SGD([p])


def test_sgd_rejects_nesterov_without_momentum():
    p = Tensor(np.ones(1), requires_grad=True)
    with pytest.raises(ValueError, match="SGD: nesterov=True needs momentum > 0 and dampening = "
                                         "0, got momentum=0.0, dampening=0.0"):
        SGD([p], lr=0.1, nesterov=True)


def test_sgd_rejects_nesterov_with_dampening():
    p = Tensor(np.ones(1), requires_grad=True)
    with pytest.raises(ValueError, match="SGD: nesterov=True needs .* dampening=0.5"):
        SGD([p], lr=0.1, momentum=0.9, dampening=0.5, nesterov=True)


def test_sgd_rejects_negative_momentum():
    p = Tensor(np.ones(1), requires_grad=True)
    with pytest.raises(ValueError, match="SGD: momentum must be >= 0, got -0.5"):
        SGD([p], lr=0.1, momentum=-0.5)


def test_sgd_rejects_string_lr():
    p = Tensor(np.ones(1), requires_grad=True)
    with pytest.raises(TypeError, match="SGD: lr must be a number, got str '0.1'"):
        SGD([p], lr="0.1")


def test_sgd_rejects_non_bool_nesterov():
    p = Tensor(np.ones(1), requires_grad=True)
    with pytest.raises(TypeError, match="SGD: nesterov must be a bool, got int 1"):
        SGD([p], lr=0.1, momentum=0.9, nesterov=1)
