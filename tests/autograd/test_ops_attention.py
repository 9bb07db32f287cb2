"""The fused masked softmax op: gradients, equality with the composed ops, FLOPs, bad input."""

import numpy as np
import pytest

from tinydyn import Tensor, grad_check
from tinydyn.autograd.ops_attention import masked_softmax
from tinydyn.autograd.ops_index import masked_fill
from tinydyn.autograd.ops_nn import softmax
from tinydyn.kernels.backend import use_backend
from tinydyn.measure import FlopCounter


def leaf(array):
    return Tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def inputs(seed=0, shape=(2, 3, 4, 5)):
    rng = np.random.default_rng(seed)
    pad = rng.random((shape[0], shape[-1])) < 0.3
    pad[0, 0], pad[0, 1] = True, False  # at least one padded and one real key
    return leaf(rng.standard_normal(shape)), pad


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_grad_check_with_padding(backend):
    scores, pad = inputs()
    with use_backend(backend):
        assert grad_check(lambda s: masked_softmax(s, pad, scale=0.7), scores)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_grad_check_with_a_row_of_only_padding(backend):
    scores, pad = inputs(1)
    pad[1] = True
    with use_backend(backend):
        assert grad_check(lambda s: masked_softmax(s, pad, scale=1.3), scores)


def test_equals_the_composed_ops_forward_and_backward():
    scores, pad = inputs(2)
    weights = np.random.default_rng(3).standard_normal(scores.shape)
    fused = masked_softmax(scores, Tensor(pad), scale=0.5)
    (fused * Tensor(weights)).sum().backward()
    fused_grad, scores.grad = scores.grad.data, None
    composed = softmax(masked_fill(scores * 0.5, pad[:, None, None, :], -1e9), -1)
    (composed * Tensor(weights)).sum().backward()
    np.testing.assert_allclose(fused.data, composed.data, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(fused_grad, scores.grad.data, rtol=1e-10, atol=1e-14)


def test_no_mask_is_a_plain_softmax():
    scores, _ = inputs(4)
    np.testing.assert_allclose(masked_softmax(scores).data, softmax(scores, -1).data,
                               rtol=1e-12)


def test_float32_stays_float32():
    scores = Tensor(np.zeros((1, 1, 2, 3), np.float32), requires_grad=True)
    out = masked_softmax(scores, None, 0.5)
    out.sum().backward()
    assert out.dtype == np.float32 and scores.grad.dtype == np.float32


def test_flops_are_five_per_score():
    scores, pad = inputs(5)
    with FlopCounter() as fc:
        masked_softmax(scores, pad)
    assert fc.total == 5 * scores.size


@pytest.mark.parametrize("args, match", [
    ((np.zeros((1, 1, 2, 2)),), "scores must be a Tensor"),
    ((Tensor(np.zeros((2, 2))),), "scores must be 4-D"),
    ((Tensor(np.zeros((1, 1, 2, 2), np.int64)),), "float32 or float64"),
    ((Tensor(np.zeros((1, 1, 2, 2))), np.zeros((1, 2))), "must be boolean"),
    ((Tensor(np.zeros((1, 1, 2, 2))), np.zeros((1, 3), bool)), r"shape \(B, Tk\)"),
    ((Tensor(np.zeros((1, 1, 2, 2))), [[True, False]]), "bool Tensor or ndarray"),
])
def test_bad_input_is_named(args, match):
    with pytest.raises((TypeError, ValueError), match=f"masked_softmax.*{match}"):
        masked_softmax(*args)
