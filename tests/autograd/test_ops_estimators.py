"""Tests of Gumbel-softmax, the straight-through estimators and top-k."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinydyn import Tensor, grad_check
from tinydyn.autograd.ops_estimators import (
    gumbel_noise,
    gumbel_softmax,
    straight_through,
    straight_through_step,
    topk,
)
from tinydyn.autograd.ops_nn import softmax

SETTINGS = settings(derandomize=True, deadline=None, max_examples=20)
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


def leaf(array):
    return Tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def np_softmax(z, axis):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ---- Gumbel noise and Gumbel-softmax ------------------------------------------------------------


def test_gumbel_noise_is_finite_and_has_the_gumbel_mean():
    g = gumbel_noise((200_000,), np.float64, np.random.default_rng(0))
    assert np.isfinite(g).all()
    assert abs(g.mean() - np.euler_gamma) < 0.01  # E[Gumbel(0, 1)] = Euler's constant
    assert abs(g.var() - np.pi**2 / 6) < 0.03


def test_gumbel_noise_keeps_the_requested_dtype_and_shape():
    g = gumbel_noise((2, 3), np.float32, np.random.default_rng(0))
    assert g.shape == (2, 3) and g.dtype == np.float32


@pytest.mark.parametrize("tau", [0.3, 1.0, 2.5])
def test_gumbel_softmax_with_fixed_noise_equals_softmax_of_noisy_logits(tau):
    rng = np.random.default_rng(1)
    logits, g = rng.normal(size=(3, 5)), rng.gumbel(size=(3, 5))
    y = gumbel_softmax(Tensor(logits), tau=tau, dim=0, noise=g)
    np.testing.assert_allclose(y.data, np_softmax((logits + g) / tau, 0), rtol=1e-12)


def test_gumbel_softmax_draws_its_noise_from_rng():
    logits = Tensor(np.random.default_rng(2).normal(size=(4, 3)))
    drawn = gumbel_softmax(logits, rng=np.random.default_rng(5))
    given_noise = gumbel_softmax(logits, noise=gumbel_noise((4, 3), np.float64,
                                                            np.random.default_rng(5)))
    np.testing.assert_array_equal(drawn.data, given_noise.data)


def test_gumbel_softmax_keeps_float32():
    y = gumbel_softmax(Tensor(np.zeros((2, 3), dtype=np.float32)), hard=True,
                       rng=np.random.default_rng(0))
    assert y.dtype == np.float32


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gumbel_softmax_hard_forward_is_exactly_one_hot(dim):
    rng = np.random.default_rng(3)
    logits = Tensor(rng.normal(size=(4, 6, 3)).astype(np.float32))
    y = gumbel_softmax(logits, tau=0.7, hard=True, dim=dim, rng=rng).data
    assert set(np.unique(y)) <= {0.0, 1.0}
    np.testing.assert_array_equal(y.sum(axis=dim), 1.0)


def test_gumbel_softmax_hard_picks_the_argmax_of_the_soft_sample():
    rng = np.random.default_rng(4)
    logits, g = Tensor(rng.normal(size=(5, 4))), rng.gumbel(size=(5, 4))
    soft = gumbel_softmax(logits, noise=g).data
    hard = gumbel_softmax(logits, hard=True, noise=g).data
    np.testing.assert_array_equal(hard.argmax(axis=-1), soft.argmax(axis=-1))


def test_gumbel_softmax_hard_gradient_is_the_straight_through_definition():
    """y_hard - y_soft.detach() + y_soft, written out with plain ops, has the same gradient."""
    rng = np.random.default_rng(6)
    logits_value, g = rng.normal(size=(3, 4)), rng.gumbel(size=(3, 4))
    weights = rng.normal(size=(3, 4))

    ours = leaf(logits_value)
    (gumbel_softmax(ours, tau=0.5, hard=True, noise=g) * Tensor(weights)).sum().backward()

    ref = leaf(logits_value)
    y_soft = softmax((ref + Tensor(g)) / 0.5)
    y_hard = np.eye(4)[y_soft.data.argmax(axis=-1)]
    y = Tensor(y_hard) - y_soft.detach() + y_soft
    (y * Tensor(weights)).sum().backward()

    np.testing.assert_allclose(ours.grad.data, ref.grad.data, rtol=1e-12)
    np.testing.assert_allclose(y.data, y_hard, atol=1e-15)


def test_gumbel_softmax_hard_gradient_equals_the_soft_path_gradient():
    rng = np.random.default_rng(7)
    logits_value, g = rng.normal(size=(2, 5)), rng.gumbel(size=(2, 5))
    grads = []
    for hard in (False, True):
        x = leaf(logits_value)
        y = gumbel_softmax(x, tau=1.3, hard=hard, noise=g)
        y.backward(np.arange(10.0).reshape(2, 5))
        grads.append(x.grad.data)
    np.testing.assert_array_equal(grads[0], grads[1])


def test_gumbel_softmax_hard_samples_follow_the_softmax_probabilities():
    logits = np.log(np.array([0.1, 0.2, 0.7]))
    x = Tensor(np.tile(logits, (20_000, 1)))
    counts = gumbel_softmax(x, hard=True, rng=np.random.default_rng(8)).data.sum(axis=0)
    np.testing.assert_allclose(counts / 20_000, [0.1, 0.2, 0.7], atol=0.015)


@SETTINGS
@given(shape=shapes, dim_seed=st.integers(0, 5), tau=st.sampled_from([0.5, 1.0, 2.0]),
       seed=st.integers(0, 2**16))
def test_gumbel_softmax_soft_gradient_matches_numerical(shape, dim_seed, tau, seed):
    rng = np.random.default_rng(seed)
    g = rng.gumbel(size=shape)
    x = leaf(rng.normal(size=shape))
    assert grad_check(lambda a: gumbel_softmax(a, tau=tau, dim=dim_seed % len(shape), noise=g), x)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(tau=0.0), ValueError, r"gumbel_softmax: tau must be > 0.0, got 0.0"),
    (dict(hard="yes"), TypeError, r"gumbel_softmax: hard must be a bool, got str"),
    (dict(dim=2), ValueError, r"gumbel_softmax: dim=2 is out of range for a tensor with 2"),
    (dict(noise=np.zeros((3, 2))), ValueError,
     r"gumbel_softmax: noise must have the shape of logits \(2, 3\), got \(3, 2\)"),
    (dict(noise=np.full((2, 3), np.inf)), ValueError, r"gumbel_softmax: noise must be finite"),
    (dict(noise=[0.0]), TypeError, r"gumbel_softmax: noise must be a Tensor or ndarray, got list"),
    (dict(rng=1), TypeError, r"gumbel_softmax: rng must be a numpy.random.Generator"),
])
def test_gumbel_softmax_rejects_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        gumbel_softmax(Tensor(np.zeros((2, 3))), **kwargs)


def test_gumbel_softmax_rejects_integer_logits():
    with pytest.raises(TypeError, match="gumbel_softmax: logits must be a floating-point"):
        gumbel_softmax(Tensor(np.zeros(3, dtype=np.int64)))


# ---- straight-through ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_straight_through_step_forward_is_the_threshold_indicator(dtype):
    x = Tensor(np.array([-1.0, 0.0, 0.2, 0.5, 3.0], dtype=dtype))
    np.testing.assert_array_equal(straight_through_step(x).data, [0, 0, 1, 1, 1])
    y = straight_through_step(x, threshold=0.2)
    np.testing.assert_array_equal(y.data, [0, 0, 0, 1, 1])
    assert y.dtype == dtype


def test_straight_through_step_gradient_is_the_identity():
    x = leaf(np.random.default_rng(9).normal(size=(3, 4)))
    upstream = np.random.default_rng(10).normal(size=(3, 4))
    straight_through_step(x, 0.1).backward(upstream)
    np.testing.assert_array_equal(x.grad.data, upstream)


def test_straight_through_has_hard_values_and_soft_gradient():
    soft = leaf([0.2, 0.7, 0.1])
    y = straight_through(soft, np.array([0, 1, 0]))
    y.backward(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(y.data, [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(soft.grad.data, [1.0, 2.0, 3.0])


def test_straight_through_estimators_reject_bad_arguments():
    with pytest.raises(TypeError, match="straight_through_step: threshold must be a number"):
        straight_through_step(Tensor(np.ones(2)), threshold="0")
    with pytest.raises(TypeError, match="straight_through_step: input must be a floating-point"):
        straight_through_step(Tensor(np.ones(2, dtype=np.int64)))
    with pytest.raises(ValueError, match=r"straight_through: hard must have the shape of soft "
                                         r"\(2,\), got \(3,\)"):
        straight_through(Tensor(np.ones(2)), np.ones(3))


# ---- top-k ---------------------------------------------------------------------------------------


def reference_topk(a, k, dim, largest):
    """Positions ranked by value, ties by lower index: a stable argsort of the key."""
    order = np.argsort(-a if largest else a, axis=dim, kind="stable")
    index = np.take(order, np.arange(k), axis=dim)
    return np.take_along_axis(a, index, axis=dim), index


@SETTINGS
@given(shape=shapes, dim_seed=st.integers(0, 5), k_seed=st.integers(0, 10),
       largest=st.booleans(), seed=st.integers(0, 2**16))
def test_topk_matches_stable_argsort_including_ties(shape, dim_seed, k_seed, largest, seed):
    dim = dim_seed % len(shape)
    k = k_seed % (shape[dim] + 1)
    a = np.random.default_rng(seed).integers(0, 3, size=shape).astype(np.float64)  # many ties
    values, indices = topk(Tensor(a), k, dim=dim, largest=largest)
    expected_values, expected_index = reference_topk(a, k, dim, largest)
    np.testing.assert_array_equal(indices.data, expected_index)
    np.testing.assert_array_equal(values.data, expected_values)
    assert indices.dtype == np.int64 and not indices.requires_grad


def test_topk_matches_torch_on_distinct_values():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(11).normal(size=(4, 7))
    values, indices = topk(Tensor(a), 3, dim=1)
    theirs = torch.topk(torch.tensor(a), 3, dim=1)
    np.testing.assert_array_equal(values.data, theirs.values.numpy())
    np.testing.assert_array_equal(indices.data, theirs.indices.numpy())


def test_topk_ties_go_to_the_lower_index():
    a = Tensor(np.array([1.0, 3.0, 3.0, 0.0, 3.0]))
    assert topk(a, 2).indices.tolist() == [1, 2]
    assert topk(Tensor(np.array([2.0, 0.0, 0.0])), 1, largest=False).indices.tolist() == [1]


def test_topk_unsorted_returns_positions_in_increasing_order():
    a = Tensor(np.array([[0.5, 4.0, 1.0, 3.0]]))
    values, indices = topk(a, 2, sorted=False)
    assert indices.tolist() == [[1, 3]]
    assert values.tolist() == [[4.0, 3.0]]


def test_topk_gradient_lands_on_the_chosen_positions():
    a = leaf(np.random.default_rng(12).normal(size=(3, 6)))
    values, indices = topk(a, 2, dim=1)
    upstream = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    values.backward(upstream)
    expected = np.zeros((3, 6))
    np.put_along_axis(expected, indices.data, upstream, axis=1)
    np.testing.assert_array_equal(a.grad.data, expected)


@SETTINGS
@given(shape=shapes, dim_seed=st.integers(0, 5), k_seed=st.integers(0, 10),
       largest=st.booleans(), sorted_=st.booleans(), seed=st.integers(0, 2**16))
def test_topk_gradient_matches_numerical(shape, dim_seed, k_seed, largest, sorted_, seed):
    dim = dim_seed % len(shape)
    k = k_seed % (shape[dim] + 1)
    x = leaf(np.random.default_rng(seed).permutation(np.prod(shape)).reshape(shape) * 0.1)
    assert grad_check(lambda a: topk(a, k, dim, largest, sorted_).values, x)


def test_topk_works_on_integer_tensors():
    values, indices = topk(Tensor(np.array([3, 9, 1, 9], dtype=np.uint8)), 2)
    assert values.tolist() == [9, 9] and indices.tolist() == [1, 3]
    values, indices = topk(Tensor(np.array([5, -128, 127, -128], dtype=np.int8)), 3)
    assert values.tolist() == [127, 5, -128] and indices.tolist() == [2, 0, 1]


def test_topk_ranks_infinities():
    a = np.array([[1.0, -np.inf, np.inf, -np.inf, np.inf, 0.0]])
    for largest in (True, False):
        values, indices = topk(Tensor(a), 4, largest=largest)
        expected_values, expected_index = reference_topk(a, 4, 1, largest)
        np.testing.assert_array_equal(indices.data, expected_index)
        np.testing.assert_array_equal(values.data, expected_values)


@pytest.mark.parametrize("args, kwargs, exc, match", [
    ((4,), {}, ValueError,
     r"topk: k=4 is larger than the size 3 of dim 1 \(input shape \(2, 3\)\)"),
    ((-1,), {}, ValueError, r"topk: k must be >= 0, got -1"),
    ((1.0,), {}, TypeError, r"topk: k must be an int, got float"),
    ((1,), dict(dim=3), ValueError, r"topk: dim=3 is out of range for a tensor with 2"),
    ((1,), dict(largest=None), TypeError, r"topk: largest must be a bool, got NoneType"),
])
def test_topk_rejects_bad_arguments(args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        topk(Tensor(np.zeros((2, 3))), *args, **kwargs)


def test_topk_rejects_nan():
    with pytest.raises(ValueError, match="topk: input must not contain nan"):
        topk(Tensor(np.array([1.0, np.nan])), 1)


def test_topk_rejects_non_tensors_and_boolean_tensors():
    with pytest.raises(TypeError, match="topk: input must be a Tensor, got ndarray"):
        topk(np.zeros(3), 1)
    with pytest.raises(TypeError, match="topk: input must be a real-valued tensor, got dtype bool"):
        topk(Tensor(np.zeros(3, dtype=bool)), 1)
