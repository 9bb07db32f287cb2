"""Tests of softmax, log_softmax, cross_entropy, nll_loss, layer_norm and dropout."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinydyn as td
from tinydyn import Tensor, grad_check
from tinydyn.autograd.ops_nn import (
    cross_entropy,
    dropout,
    layer_norm,
    log_softmax,
    nll_loss,
    softmax,
)

SETTINGS = settings(derandomize=True, deadline=None, max_examples=20)
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


def leaf(array):
    return Tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def ref_log_softmax(x, axis):
    s = x - x.max(axis=axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


def ref_cross_entropy(x, t, ignore_index=-100, eps=0.0, reduction="mean"):
    """-log softmax written out, row by row, with PyTorch's label smoothing."""
    shape = t.shape
    x = np.moveaxis(x, 1, -1) if x.ndim > 2 else x
    rows, t = x.reshape(-1, x.shape[-1]), t.reshape(-1)
    losses, count = [], 0
    for row, c in zip(rows, t):
        if c == ignore_index:
            losses.append(0.0)
            continue
        nlp = -ref_log_softmax(row, 0)
        losses.append((1 - eps) * nlp[c] + eps * nlp.mean())
        count += 1
    losses = np.array(losses)
    if reduction == "none":
        return losses.reshape(shape)
    return losses.sum() if reduction == "sum" else losses.sum() / count


def class_problem(seed, n, c, extra):
    """Random logits (n, c, *extra) and targets (n, *extra) with some ignored entries."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, c) + extra) * 3
    t = rng.integers(0, c, size=(n,) + extra)
    t[rng.random(t.shape) < 0.25] = -100
    t.flat[0] = 0  # at least one row counts
    return x, t


# ---- softmax / log_softmax ------------------------------------------------------------------


@SETTINGS
@given(shape=shapes, dim_seed=st.integers(0, 10), seed=st.integers(0, 2**16))
def test_softmax_gradient_matches_numerical(shape, dim_seed, seed):
    dim = dim_seed % len(shape) - len(shape) * (dim_seed % 2)  # positive and negative dims
    x = leaf(np.random.default_rng(seed).normal(size=shape))
    assert grad_check(lambda a: softmax(a, dim), x)


@SETTINGS
@given(shape=shapes, dim_seed=st.integers(0, 10), seed=st.integers(0, 2**16))
def test_log_softmax_gradient_matches_numerical(shape, dim_seed, seed):
    dim = dim_seed % len(shape)
    x = leaf(np.random.default_rng(seed).normal(size=shape))
    assert grad_check(lambda a: log_softmax(a, dim), x)


def test_softmax_matches_reference_and_sums_to_one():
    x = np.random.default_rng(0).normal(size=(3, 5))
    y = softmax(Tensor(x), dim=0).data
    np.testing.assert_allclose(y, np.exp(ref_log_softmax(x, 0)), rtol=1e-12)
    np.testing.assert_allclose(y.sum(axis=0), 1.0, rtol=1e-12)


def test_log_softmax_matches_reference():
    x = np.random.default_rng(1).normal(size=(2, 3, 4))
    np.testing.assert_allclose(log_softmax(Tensor(x), 1).data, ref_log_softmax(x, 1), rtol=1e-12)


def test_tensor_methods_delegate_to_softmax_and_log_softmax():
    x = Tensor(np.random.default_rng(2).normal(size=(2, 3)))
    np.testing.assert_array_equal(x.softmax(0).data, softmax(x, 0).data)
    np.testing.assert_array_equal(x.log_softmax().data, log_softmax(x, -1).data)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", [softmax, log_softmax])
def test_softmax_and_log_softmax_are_finite_at_1e4(op, dtype):
    x = Tensor(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype=dtype), requires_grad=True)
    y = op(x)
    y.backward(np.ones(y.shape, dtype))
    assert y.dtype == dtype
    assert np.isfinite(y.data).all() and np.isfinite(x.grad.data).all()


def test_softmax_of_masked_entries_is_zero():
    y = softmax(Tensor(np.array([0.0, -np.inf, 0.0])))
    np.testing.assert_array_equal(y.data, [0.5, 0.0, 0.5])


# ---- cross_entropy / nll_loss -----------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("eps", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("extra", [(), (3,), (2, 3)])
def test_cross_entropy_matches_reference(reduction, eps, extra):
    x, t = class_problem(0, 4, 5, extra)
    loss = cross_entropy(Tensor(x), Tensor(t), label_smoothing=eps, reduction=reduction)
    expected = ref_cross_entropy(x, t, eps=eps, reduction=reduction)
    assert loss.shape == np.shape(expected)
    np.testing.assert_allclose(loss.data, expected, rtol=1e-12, atol=1e-12)


def test_cross_entropy_custom_ignore_index_matches_reference():
    x, t = class_problem(1, 6, 4, ())
    t[t == -100] = 2  # class 2 plays the role of padding
    loss = cross_entropy(Tensor(x), Tensor(t), ignore_index=2)
    np.testing.assert_allclose(loss.data, ref_cross_entropy(x, t, ignore_index=2), rtol=1e-12)


def test_cross_entropy_unbatched_input_matches_reference():
    x = np.array([0.5, -1.0, 2.0])
    loss = cross_entropy(Tensor(x), Tensor(np.array(2)))
    np.testing.assert_allclose(loss.data, -ref_log_softmax(x, 0)[2], rtol=1e-12)


def test_cross_entropy_matches_torch_when_available():
    torch = pytest.importorskip("torch")
    x, t = class_problem(2, 4, 5, (3,))
    ours = cross_entropy(Tensor(x), Tensor(t), label_smoothing=0.2)
    theirs = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t),
                                               label_smoothing=0.2)
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12)


@SETTINGS
@given(n=st.integers(1, 4), c=st.integers(1, 4), extra=st.sampled_from([(), (2,), (2, 1)]),
       eps=st.sampled_from([0.0, 0.3]), reduction=st.sampled_from(["mean", "sum", "none"]),
       seed=st.integers(0, 2**16))
def test_cross_entropy_gradient_matches_numerical(n, c, extra, eps, reduction, seed):
    x, t = class_problem(seed, n, c, extra)
    target = Tensor(t)
    fn = lambda a: cross_entropy(a, target, label_smoothing=eps, reduction=reduction)  # noqa: E731
    assert grad_check(fn, leaf(x))


@SETTINGS
@given(n=st.integers(1, 4), c=st.integers(1, 4), extra=st.sampled_from([(), (3,)]),
       reduction=st.sampled_from(["mean", "sum", "none"]), seed=st.integers(0, 2**16))
def test_nll_loss_gradient_matches_numerical(n, c, extra, reduction, seed):
    x, t = class_problem(seed, n, c, extra)
    target = Tensor(t)
    assert grad_check(lambda a: nll_loss(a, target, reduction=reduction), leaf(x))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_of_log_softmax_equals_cross_entropy(reduction):
    x, t = class_problem(3, 5, 4, (2,))
    a = nll_loss(log_softmax(Tensor(x), 1), Tensor(t), reduction=reduction)
    b = cross_entropy(Tensor(x), Tensor(t), reduction=reduction)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-12)


def test_cross_entropy_mean_with_every_target_ignored_is_zero_with_zero_gradient():
    x = leaf(np.ones((2, 3)))
    loss = cross_entropy(x, Tensor(np.array([-100, -100])))
    loss.backward()
    assert loss.item() == 0.0
    np.testing.assert_array_equal(x.grad.data, 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_cross_entropy_is_finite_at_1e4(dtype, eps):
    x = Tensor(np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4]], dtype=dtype), requires_grad=True)
    loss = cross_entropy(x, Tensor(np.array([1, 0])), label_smoothing=eps)
    loss.backward()
    assert loss.dtype == dtype
    assert np.isfinite(loss.data) and np.isfinite(x.grad.data).all()
    np.testing.assert_allclose(loss.data, ref_cross_entropy(x.data.astype(np.float64),
                                                            np.array([1, 0]), eps=eps), rtol=1e-6)


def test_cross_entropy_accepts_an_ndarray_target():
    x, t = class_problem(4, 3, 4, ())
    np.testing.assert_array_equal(cross_entropy(Tensor(x), t).data,
                                  cross_entropy(Tensor(x), Tensor(t)).data)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(target=np.array([0.0, 1.0])), TypeError,
     r"cross_entropy: target must be an integer tensor of indices, got dtype float64"),
    (dict(target=[0, 1]), TypeError, r"cross_entropy: target must be a Tensor .*got list"),
    (dict(target=np.array([0, 1, 2])), ValueError,
     r"cross_entropy: target must have shape \(2,\) for input of shape \(2, 3\), got \(3,\)"),
    (dict(target=np.array([0, 3])), ValueError,
     r"cross_entropy: target value 3 is out of range for 3 classes"),
    (dict(target=np.array([-1, 0])), ValueError,
     r"cross_entropy: target value -1 is out of range"),
    (dict(reduction="avg"), ValueError, r"cross_entropy: reduction must be one of .*'avg'"),
    (dict(label_smoothing=1.5), ValueError, r"cross_entropy: label_smoothing must be <= 1.0"),
    (dict(ignore_index=1.0), TypeError, r"cross_entropy: ignore_index must be an int"),
])
def test_cross_entropy_rejects_bad_arguments(kwargs, exc, match):
    args = dict(target=np.array([0, 1]))
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        cross_entropy(Tensor(np.zeros((2, 3))), **args)


def test_cross_entropy_rejects_integer_logits():
    with pytest.raises(TypeError, match="cross_entropy: input must be a floating-point tensor"):
        cross_entropy(Tensor(np.zeros((2, 3), dtype=np.int64)), np.array([0, 1]))


def test_cross_entropy_rejects_zero_classes():
    with pytest.raises(ValueError, match=r"cross_entropy: input must have at least 1 class, "
                                         r"got shape \(2, 0\)"):
        cross_entropy(Tensor(np.zeros((2, 0))), np.array([-100, -100]))


def test_nll_loss_rejects_target_out_of_range():
    with pytest.raises(ValueError, match="nll_loss: target value 5 is out of range for 3"):
        nll_loss(Tensor(np.zeros((1, 3, 2))), np.array([[5, 0]]))


def test_softmax_rejects_bad_dim_and_dtype():
    with pytest.raises(ValueError, match="softmax: dim=2 is out of range for a tensor with 2"):
        softmax(Tensor(np.zeros((2, 3))), dim=2)
    with pytest.raises(TypeError, match="log_softmax: input must be a floating-point tensor"):
        log_softmax(Tensor(np.zeros(3, dtype=np.int64)))
    with pytest.raises(TypeError, match="softmax: input must be a Tensor, got ndarray"):
        softmax(np.zeros(3))


# ---- layer_norm -------------------------------------------------------------------------------


def ref_layer_norm(x, k, w=None, b=None, eps=1e-5):
    axes = tuple(range(x.ndim - k, x.ndim))
    y = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    return y * (1 if w is None else w) + (0 if b is None else b)


@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("affine", [False, True])
def test_layer_norm_matches_reference(k, affine):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 4, 5)) * 4 + 2
    w = rng.normal(size=x.shape[3 - k:]) if affine else None
    b = rng.normal(size=x.shape[3 - k:]) if affine else None
    out = layer_norm(Tensor(x), x.shape[3 - k:], None if w is None else Tensor(w),
                     None if b is None else Tensor(b))
    np.testing.assert_allclose(out.data, ref_layer_norm(x, k, w, b), rtol=1e-10, atol=1e-12)


def test_layer_norm_gives_zero_mean_unit_variance_in_float32():
    x = Tensor(np.random.default_rng(6).normal(3, 5, size=(4, 16)).astype(np.float32))
    y = layer_norm(x, 16).data
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.mean(axis=-1), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=-1), 1, atol=1e-3)


@SETTINGS
@given(shape=st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple),
       k_seed=st.integers(0, 5), weight=st.booleans(), bias=st.booleans(),
       seed=st.integers(0, 2**16))
def test_layer_norm_gradient_matches_numerical(shape, k_seed, weight, bias, seed):
    k = 1 + k_seed % len(shape)
    rng = np.random.default_rng(seed)
    x = leaf(rng.normal(size=shape))
    if np.prod(shape[len(shape) - k:]) == 1:  # one element: x - mean is 0, so is its gradient
        x.data[...] = 0.0
    params = [leaf(rng.normal(size=shape[len(shape) - k:])) for flag in (weight, bias) if flag]

    def fn(x, *params):
        it = iter(params)
        return layer_norm(x, shape[len(shape) - k:], next(it) if weight else None,
                          next(it) if bias else None)

    assert grad_check(fn, x, *params)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(normalized_shape=4), ValueError,
     r"layer_norm: normalized_shape \(4,\) must match the trailing dims of input, got input "
     r"of shape \(2, 3\)"),
    (dict(normalized_shape=3.0), TypeError, r"layer_norm: normalized_shape must be an int"),
    (dict(weight=Tensor(np.ones(2))), ValueError,
     r"layer_norm: weight must have shape \(3,\) \(normalized_shape\), got \(2,\)"),
    (dict(bias=Tensor(np.ones(3, dtype=np.float32))), TypeError,
     r"layer_norm: bias must have the input's dtype float64, got float32"),
    (dict(eps=0.0), ValueError, r"layer_norm: eps must be > 0.0, got 0.0"),
])
def test_layer_norm_rejects_bad_arguments(kwargs, exc, match):
    args = dict(normalized_shape=3)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        layer_norm(Tensor(np.zeros((2, 3))), **args)


# ---- dropout ----------------------------------------------------------------------------------


def test_dropout_same_seed_gives_same_mask():
    x = Tensor(np.ones((8, 8), dtype=np.float32))
    a = dropout(x, 0.5, rng=np.random.default_rng(7)).data
    b = dropout(x, 0.5, rng=np.random.default_rng(7)).data
    c = dropout(x, 0.5, rng=np.random.default_rng(8)).data
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


def test_dropout_default_generator_follows_manual_seed():
    x = Tensor(np.ones(50))
    td.manual_seed(11)
    a = dropout(x, 0.3).data
    td.manual_seed(11)
    np.testing.assert_array_equal(dropout(x, 0.3).data, a)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_preserves_the_mean_and_drops_a_fraction_p(p):
    x = Tensor(np.ones(200_000, dtype=np.float32))
    y = dropout(x, p, rng=np.random.default_rng(9)).data
    assert y.dtype == np.float32
    assert abs(y.mean() - 1.0) < 0.02
    assert abs((y == 0).mean() - p) < 0.01
    np.testing.assert_allclose(y[y != 0], 1 / (1 - p), rtol=1e-6)


def test_dropout_in_eval_or_with_p0_is_the_identity():
    x = leaf(np.arange(6.0))
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0) is x


def test_dropout_with_p1_gives_zeros_and_zero_gradient():
    x = leaf(np.arange(1.0, 7.0))
    y = dropout(x, 1.0)
    y.sum().backward()
    np.testing.assert_array_equal(y.data, 0.0)
    np.testing.assert_array_equal(x.grad.data, 0.0)


def test_dropout_gradient_is_the_scaled_mask():
    x = leaf(np.random.default_rng(10).normal(size=(4, 5)))
    assert grad_check(lambda a: dropout(a, 0.4, rng=np.random.default_rng(3)), x)
    y = dropout(x, 0.4, rng=np.random.default_rng(3))
    x.grad = None
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, (y.data != 0) / 0.6)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(p=1.5), ValueError, r"dropout: p must be <= 1.0, got 1.5"),
    (dict(p=-0.1), ValueError, r"dropout: p must be >= 0.0, got -0.1"),
    (dict(p="0.5"), TypeError, r"dropout: p must be a number, got str"),
    (dict(training=1), TypeError, r"dropout: training must be a bool, got int"),
    (dict(rng=0), TypeError, r"dropout: rng must be a numpy.random.Generator or None, got int"),
])
def test_dropout_rejects_bad_arguments(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        dropout(Tensor(np.ones(3)), **kwargs)
