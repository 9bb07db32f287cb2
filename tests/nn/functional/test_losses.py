"""nn.functional: linear and the losses against explicit NumPy references, gradient checks,
stability and errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinydyn as td
import tinydyn.nn.functional as F
from tinydyn import Tensor, grad_check

FAST = settings(derandomize=True, deadline=None, max_examples=15)
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)
REDUCE = {"mean": np.mean, "sum": np.sum, "none": lambda a: a}


def leaf(rng, *shape):
    return Tensor(rng.standard_normal(shape), requires_grad=True)


def log_softmax_np(x, axis=-1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def test_reexports_are_the_engine_ops():
    # (dropout and gumbel_softmax are wrappers with PyTorch's argument order: tested apart)
    for name in ("softmax", "log_softmax", "cross_entropy", "nll_loss", "layer_norm",
                 "embedding", "matmul", "relu", "gelu", "sigmoid", "tanh", "cat", "stack",
                 "where", "masked_fill", "sum", "mean", "reshape"):
        assert getattr(F, name) is getattr(td, name), name


# ---- linear -----------------------------------------------------------------------------------


@FAST
@given(lead=st.lists(st.integers(1, 3), max_size=2).map(tuple), n_in=st.integers(1, 4),
       n_out=st.integers(1, 4))
def test_linear_matches_numpy_and_gradients(lead, n_in, n_out):
    rng = np.random.default_rng(0)
    x, w, b = leaf(rng, *lead, n_in), leaf(rng, n_out, n_in), leaf(rng, n_out)
    np.testing.assert_allclose(F.linear(x, w, b).data, x.data @ w.data.T + b.data, rtol=1e-12)
    assert grad_check(F.linear, x, w, b)
    assert grad_check(F.linear, x, w)


@pytest.mark.parametrize("x_shape, w_shape, b_shape, message", [
    ((2, 3), (4, 5), None, r"linear: input's last dimension must equal weight.shape\[1\] = 5, "
                           r"got input of shape \(2, 3\)"),
    ((2, 3), (3,), None, r"linear: weight must be 2-D \(out_features, in_features\), got shape "
                         r"\(3,\)"),
    ((2, 3), (4, 3), (3,), r"linear: bias must have shape \(4,\), got \(3,\)"),
])
def test_linear_shape_errors(x_shape, w_shape, b_shape, message):
    rng = np.random.default_rng(1)
    b = leaf(rng, *b_shape) if b_shape else None
    with pytest.raises(ValueError, match=message):
        F.linear(leaf(rng, *x_shape), leaf(rng, *w_shape), b)


def test_linear_rejects_mixed_dtypes():
    with pytest.raises(TypeError, match="linear: weight must have the input's floating dtype "
                       "float64, got float32"):
        F.linear(td.zeros(2, 3, dtype=np.float64), td.zeros(4, 3))


# ---- mse_loss ---------------------------------------------------------------------------------


@FAST
@given(shape=shapes, reduction=st.sampled_from(["mean", "sum", "none"]))
def test_mse_loss_matches_numpy_and_gradients(shape, reduction):
    rng = np.random.default_rng(2)
    x, y = leaf(rng, *shape), leaf(rng, *shape)
    expected = REDUCE[reduction]((x.data - y.data) ** 2)
    np.testing.assert_allclose(F.mse_loss(x, y, reduction).data, expected, rtol=1e-12)
    assert grad_check(lambda x, y: F.mse_loss(x, y, reduction), x, y)


def test_mse_loss_requires_equal_shapes():
    with pytest.raises(ValueError, match=r"mse_loss: target must have the input's shape \(2, 3\),"
                       r" got \(3,\)"):
        F.mse_loss(td.zeros(2, 3), td.zeros(3))


def test_mse_loss_rejects_unknown_reduction():
    with pytest.raises(ValueError, match="mse_loss: reduction must be one of 'mean', 'sum', "
                       "'none', got 'avg'"):
        F.mse_loss(td.zeros(2), td.zeros(2), reduction="avg")


# ---- binary_cross_entropy_with_logits -----------------------------------------------------------


def bce_reference(x, y, pos_weight=1.0):
    s = 1 / (1 + np.exp(-x))
    return -(pos_weight * y * np.log(s) + (1 - y) * np.log(1 - s))


@FAST
@given(shape=shapes, reduction=st.sampled_from(["mean", "sum", "none"]))
def test_bce_with_logits_matches_reference_and_gradients(shape, reduction):
    rng = np.random.default_rng(3)
    x = leaf(rng, *shape)
    y = Tensor(rng.uniform(0, 1, shape), requires_grad=True)
    expected = REDUCE[reduction](bce_reference(x.data, y.data))
    got = F.binary_cross_entropy_with_logits(x, y, reduction)
    np.testing.assert_allclose(got.data, expected, rtol=1e-10)
    assert grad_check(lambda x, y: F.binary_cross_entropy_with_logits(x, y, reduction), x, y)


def test_bce_with_logits_pos_weight_broadcasts_over_classes():
    rng = np.random.default_rng(4)
    x = leaf(rng, 5, 3)
    y = Tensor(rng.integers(0, 2, (5, 3)).astype(np.float64))
    pw = Tensor(np.array([0.5, 2.0, 3.0]), requires_grad=True)
    got = F.binary_cross_entropy_with_logits(x, y, "none", pos_weight=pw)
    np.testing.assert_allclose(got.data, bce_reference(x.data, y.data, pw.data), rtol=1e-10)
    assert grad_check(lambda x, pw: F.binary_cross_entropy_with_logits(x, y, pos_weight=pw),
                      x, pw)


def test_bce_with_logits_is_finite_at_large_logits():
    x = Tensor(np.array([1e4, -1e4, 1e4, -1e4], dtype=np.float32), requires_grad=True)
    y = Tensor(np.array([1.0, 0.0, 0.0, 1.0], dtype=np.float32))
    loss = F.binary_cross_entropy_with_logits(x, y, "none")
    np.testing.assert_allclose(loss.data, [0.0, 0.0, 1e4, 1e4])
    loss.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 1.0, -1.0])
    assert loss.dtype == np.float32


def test_bce_with_logits_requires_target_of_same_shape():
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits: target must have the "
                       r"input's shape \(4,\), got \(4, 1\)"):
        F.binary_cross_entropy_with_logits(td.zeros(4), td.zeros(4, 1))


def test_bce_with_logits_rejects_integer_target():
    with pytest.raises(TypeError, match="binary_cross_entropy_with_logits: target must have the "
                       "input's dtype float32, got int64"):
        F.binary_cross_entropy_with_logits(td.zeros(2), Tensor(np.array([0, 1])))


# ---- kl_div -----------------------------------------------------------------------------------


def _distributions(rng, shape):
    p = np.exp(log_softmax_np(rng.standard_normal(shape)))
    return p


@pytest.mark.parametrize("reduction", ["batchmean", "sum", "mean", "none"])
def test_kl_div_matches_reference_and_gradients(reduction):
    rng = np.random.default_rng(5)
    log_q = Tensor(log_softmax_np(rng.standard_normal((4, 3))), requires_grad=True)
    p = _distributions(rng, (4, 3))
    p[0, 1] = 0.0  # a zero target probability contributes 0, not nan
    target = Tensor(p, requires_grad=True)
    pointwise = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1)) - log_q.data), 0.0)
    expected = {"batchmean": pointwise.sum() / 4, "sum": pointwise.sum(),
                "mean": pointwise.mean(), "none": pointwise}[reduction]
    np.testing.assert_allclose(F.kl_div(log_q, target, reduction).data, expected, rtol=1e-10)
    assert grad_check(lambda a: F.kl_div(a, target, reduction), log_q)


def test_kl_div_with_log_target_equals_plain_target():
    rng = np.random.default_rng(6)
    log_q = leaf(rng, 3, 4)
    log_p = Tensor(log_softmax_np(rng.standard_normal((3, 4))), requires_grad=True)
    plain = F.kl_div(log_q, Tensor(np.exp(log_p.data)))
    np.testing.assert_allclose(F.kl_div(log_q, log_p, log_target=True).data, plain.data)
    assert grad_check(lambda a, b: F.kl_div(a, b, log_target=True), log_q, log_p)


def test_kl_div_of_a_distribution_with_itself_is_zero():
    p = _distributions(np.random.default_rng(7), (2, 5))
    assert abs(F.kl_div(Tensor(np.log(p)), Tensor(p)).item()) < 1e-12


def test_kl_div_rejects_unknown_reduction():
    with pytest.raises(ValueError, match="kl_div: reduction must be one of 'batchmean', 'sum', "
                       "'mean', 'none', got 'max'"):
        F.kl_div(td.zeros(2), td.zeros(2), reduction="max")


# ---- entropy ----------------------------------------------------------------------------------


@FAST
@given(shape=shapes, dim=st.integers(-1, 0))
def test_entropy_from_logits_matches_reference_and_gradients(shape, dim):
    rng = np.random.default_rng(8)
    logits = leaf(rng, *shape)
    log_p = log_softmax_np(logits.data, axis=dim)
    expected = -(np.exp(log_p) * log_p).sum(axis=dim)
    np.testing.assert_allclose(F.entropy(logits=logits, dim=dim).data, expected, rtol=1e-10,
                               atol=1e-12)
    assert grad_check(lambda z: F.entropy(logits=z, dim=dim), logits)


def test_entropy_from_probabilities_handles_zeros():
    p = Tensor(np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.25, 0.25, 0.5]]),
               requires_grad=True)
    np.testing.assert_allclose(F.entropy(p).data, [np.log(2), 0.0, 1.5 * np.log(2)])
    F.entropy(p).sum().backward()
    assert np.isfinite(p.grad.data).all()


def test_entropy_from_probabilities_equals_from_logits():
    rng = np.random.default_rng(9)
    logits = leaf(rng, 3, 4)
    p = Tensor(np.exp(log_softmax_np(logits.data)), requires_grad=True)
    np.testing.assert_allclose(F.entropy(p).data, F.entropy(logits=logits).data, rtol=1e-10)
    assert grad_check(F.entropy, p)


def test_entropy_is_finite_at_large_logits():
    logits = Tensor(np.array([[1e4, -1e4, 0.0]], dtype=np.float32), requires_grad=True)
    h = F.entropy(logits=logits)
    h.sum().backward()
    assert np.isfinite(h.data).all() and np.isfinite(logits.grad.data).all()
    assert h.item() == 0.0


def test_entropy_needs_exactly_one_argument():
    with pytest.raises(ValueError, match="entropy: pass exactly one of p and logits"):
        F.entropy()
    with pytest.raises(ValueError, match="entropy: pass exactly one of p and logits"):
        F.entropy(td.ones(2) / 2, logits=td.zeros(2))


def test_entropy_rejects_non_distributions():
    with pytest.raises(ValueError, match="entropy: p must be non-negative"):
        F.entropy(Tensor(np.array([1.5, -0.5])))
    with pytest.raises(ValueError, match="entropy: p must sum to 1 along dim -1"):
        F.entropy(Tensor(np.array([0.5, 0.6])))
