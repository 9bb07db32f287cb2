"""Gradient clipping by joint norm and by value."""

import math

import numpy as np
import pytest

from tinydyn import Tensor
from tinydyn.optim import clip_grad_norm_, clip_grad_value_


def _params_with_grads(*grads, dtype=np.float64):
    params = []
    for g in grads:
        p = Tensor(np.zeros(np.shape(g), dtype=dtype), requires_grad=True)
        p.grad = Tensor(np.asarray(g, dtype=dtype))
        params.append(p)
    return params


def _joint_norm(params, p=2.0):
    flat = np.concatenate([q.grad.data.ravel() for q in params if q.grad is not None])
    return np.linalg.norm(flat, ord=p)


def test_returns_the_joint_norm_before_clipping():
    params = _params_with_grads([3.0, 0.0], [[4.0]])
    assert clip_grad_norm_(params, max_norm=1.0) == pytest.approx(5.0)


def test_clipped_joint_norm_equals_max_norm():
    params = _params_with_grads(np.arange(6.0).reshape(2, 3), [-7.0, 2.0])
    clip_grad_norm_(params, max_norm=2.0)
    assert _joint_norm(params) == pytest.approx(2.0, rel=1e-6)


def test_clipping_keeps_the_direction():
    params = _params_with_grads([3.0, -4.0], [12.0])
    clip_grad_norm_(params, max_norm=1.3)
    np.testing.assert_allclose(np.concatenate([p.grad.data for p in params]),
                               np.array([3.0, -4.0, 12.0]) / 10.0, rtol=1e-6)


def test_no_op_below_max_norm():
    params = _params_with_grads([0.3, 0.4])
    assert clip_grad_norm_(params, max_norm=1.0) == pytest.approx(0.5)
    np.testing.assert_array_equal(params[0].grad.data, [0.3, 0.4])


@pytest.mark.parametrize("norm_type", [1.0, 3.0, math.inf])
def test_other_norm_types(norm_type):
    params = _params_with_grads([1.0, -2.0], [3.0, 0.5, -4.0])
    expected = _joint_norm(params, norm_type)
    assert clip_grad_norm_(params, max_norm=0.5, norm_type=norm_type) == pytest.approx(expected)
    assert _joint_norm(params, norm_type) == pytest.approx(0.5, rel=1e-5)


def test_params_without_grad_are_skipped():
    params = _params_with_grads([3.0, 4.0])
    params.append(Tensor(np.ones(2), requires_grad=True))
    assert clip_grad_norm_(params, max_norm=10.0) == pytest.approx(5.0)


def test_no_grads_gives_zero():
    assert clip_grad_norm_([Tensor(np.ones(2), requires_grad=True)], max_norm=1.0) == 0.0


def test_accepts_a_single_tensor_and_keeps_float32():
    (p,) = _params_with_grads([30.0, 40.0], dtype=np.float32)
    assert clip_grad_norm_(p, 5.0) == pytest.approx(50.0)
    assert p.grad.data.dtype == np.float32
    np.testing.assert_allclose(p.grad.data, [3.0, 4.0], rtol=1e-5)


def test_returns_a_python_float():
    assert type(clip_grad_norm_(_params_with_grads([1.0]), 1.0)) is float


def test_rejects_non_positive_max_norm():
    with pytest.raises(ValueError, match="clip_grad_norm_: max_norm must be > 0, got 0.0"):
        clip_grad_norm_(_params_with_grads([1.0]), 0.0)


def test_rejects_non_positive_norm_type():
    with pytest.raises(ValueError, match="clip_grad_norm_: norm_type must be > 0, got -1.0"):
        clip_grad_norm_(_params_with_grads([1.0]), 1.0, norm_type=-1)


def test_rejects_non_tensor_params():
    with pytest.raises(TypeError, match=r"clip_grad_norm_: params\[0\] must be a Tensor, got "
                                        "ndarray"):
        clip_grad_norm_([np.ones(2)], 1.0)


def test_clip_grad_value_clamps_each_entry():
    params = _params_with_grads([-3.0, 0.2, 5.0])
    clip_grad_value_(params, 1.0)
    np.testing.assert_array_equal(params[0].grad.data, [-1.0, 0.2, 1.0])


def test_clip_grad_value_rejects_negative_value():
    with pytest.raises(ValueError, match="clip_grad_value_: clip_value must be >= 0, got -1.0"):
        clip_grad_value_(_params_with_grads([1.0]), -1.0)
