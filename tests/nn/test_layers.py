"""Basic layers against hand-computed references, float64 gradient checks, and errors."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinydyn as td
import tinydyn.nn as nn
from tinydyn import Tensor, grad_check

FAST = settings(derandomize=True, deadline=None, max_examples=15)
lead_shapes = st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple)


def leaf(rng, *shape):
    return Tensor(rng.standard_normal(shape), requires_grad=True)


# ---- Linear -----------------------------------------------------------------------------------


@FAST
@given(lead=lead_shapes, n_in=st.integers(1, 4), n_out=st.integers(1, 4), bias=st.booleans())
def test_linear_matches_explicit_formula_and_gradients(lead, n_in, n_out, bias):
    rng = np.random.default_rng(0)
    layer = nn.Linear(n_in, n_out, bias=bias, rng=rng, dtype=np.float64)
    x = leaf(rng, *lead, n_in)
    expected = x.data @ layer.weight.data.T + (layer.bias.data if bias else 0.0)
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-12)
    params = [layer.weight] + ([layer.bias] if bias else [])
    assert grad_check(lambda x, *ps: layer(x), x, *params)


def test_linear_default_init_is_within_one_over_sqrt_fan_in():
    layer = nn.Linear(16, 300, rng=np.random.default_rng(1))
    bound = 1 / math.sqrt(16)
    for p in (layer.weight, layer.bias):
        assert np.abs(p.data).max() <= bound and np.abs(p.data).max() > 0.9 * bound
    assert layer.weight.shape == (300, 16) and layer.weight.dtype == np.float32


def test_linear_same_rng_seed_same_weights():
    a = nn.Linear(3, 2, rng=np.random.default_rng(5))
    b = nn.Linear(3, 2, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)


def test_linear_without_bias_has_only_weight():
    layer = nn.Linear(3, 2, bias=False)
    assert layer.bias is None and list(layer.state_dict()) == ["weight"]
    assert repr(layer) == "Linear(in_features=3, out_features=2, bias=False)"


def test_linear_float32_stays_float32():
    assert nn.Linear(3, 2)(td.randn(4, 3)).dtype == np.float32


@pytest.mark.parametrize("args, exc, message", [
    ((0, 2), ValueError, "Linear: in_features must be >= 1, got 0"),
    ((2, -1), ValueError, "Linear: out_features must be >= 1, got -1"),
    ((2.0, 3), TypeError, "Linear: in_features must be an int, got float 2.0"),
])
def test_linear_constructor_validates(args, exc, message):
    with pytest.raises(exc, match=message):
        nn.Linear(*args)


def test_linear_rejects_a_non_generator_rng():
    with pytest.raises(TypeError, match="Linear: rng must be a numpy.random.Generator or None, "
                       "got int"):
        nn.Linear(2, 2, rng=0)


def test_linear_forward_checks_last_dimension():
    with pytest.raises(ValueError, match=r"Linear: expected input with last dimension 4, got "
                       r"shape \(2, 3\)"):
        nn.Linear(4, 2)(td.zeros(2, 3))


def test_linear_forward_rejects_non_tensor_input():
    with pytest.raises(TypeError, match="Linear: input must be a Tensor, got ndarray"):
        nn.Linear(4, 2)(np.zeros((2, 4), dtype=np.float32))


# ---- Embedding --------------------------------------------------------------------------------


def test_embedding_looks_up_rows():
    emb = nn.Embedding(10, 3, rng=np.random.default_rng(0))
    idx = np.array([[1, 4, 1], [9, 0, 2]])
    out = emb(Tensor(idx))
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out.data, emb.weight.data[idx])


def test_embedding_init_is_standard_normal():
    w = nn.Embedding(400, 50, rng=np.random.default_rng(1)).weight.data
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1.0) < 0.02


def test_embedding_padding_row_is_zero_and_gets_no_gradient():
    emb = nn.Embedding(5, 2, padding_idx=-1, rng=np.random.default_rng(2), dtype=np.float64)
    assert emb.padding_idx == 4
    np.testing.assert_array_equal(emb.weight.data[4], [0.0, 0.0])
    idx = Tensor(np.array([4, 1, 4, 1, 0]))
    emb(idx).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.data[4], [0.0, 0.0])
    np.testing.assert_array_equal(emb.weight.grad.data[1], [2.0, 2.0])
    np.testing.assert_array_equal(emb.weight.grad.data[0], [1.0, 1.0])


def test_embedding_gradient_check():
    emb = nn.Embedding(6, 3, rng=np.random.default_rng(3), dtype=np.float64)
    idx = Tensor(np.array([[0, 5, 2], [2, 2, 3]]))
    assert grad_check(lambda w: emb(idx), emb.weight)


@pytest.mark.parametrize("kwargs, exc, message", [
    (dict(num_embeddings=0, embedding_dim=2), ValueError,
     "Embedding: num_embeddings must be >= 1, got 0"),
    (dict(num_embeddings=3, embedding_dim=2, padding_idx=3), ValueError,
     r"Embedding: padding_idx must be in \[-3, 3\) for num_embeddings=3, got 3"),
    (dict(num_embeddings=3, embedding_dim=2, padding_idx=1.0), TypeError,
     "Embedding: padding_idx must be an int, got float 1.0"),
])
def test_embedding_constructor_validates(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        nn.Embedding(**kwargs)


def test_embedding_repr():
    assert repr(nn.Embedding(10, 4, padding_idx=0)) == "Embedding(10, 4, padding_idx=0)"


# ---- LayerNorm --------------------------------------------------------------------------------


def _layer_norm_reference(x, weight, bias, k, eps):
    axes = tuple(range(x.ndim - k, x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * weight + bias


@pytest.mark.parametrize("shape, normalized", [((4, 5), 5), ((2, 3, 4), (3, 4)), ((6,), (6,))])
def test_layer_norm_matches_reference_and_gradients(shape, normalized):
    rng = np.random.default_rng(4)
    ln = nn.LayerNorm(normalized, eps=1e-3, dtype=np.float64)
    ln.weight.data[...] = rng.standard_normal(ln.weight.shape)
    ln.bias.data[...] = rng.standard_normal(ln.bias.shape)
    x = leaf(rng, *shape)
    k = len(ln.normalized_shape)
    expected = _layer_norm_reference(x.data, ln.weight.data, ln.bias.data, k, 1e-3)
    np.testing.assert_allclose(ln(x).data, expected, rtol=1e-10, atol=1e-12)
    assert grad_check(lambda x, w, b: ln(x), x, ln.weight, ln.bias)


def test_layer_norm_default_parameters_are_ones_and_zeros():
    ln = nn.LayerNorm(3)
    np.testing.assert_array_equal(ln.weight.data, np.ones(3))
    np.testing.assert_array_equal(ln.bias.data, np.zeros(3))


def test_layer_norm_without_affine_has_no_parameters():
    ln = nn.LayerNorm(4, elementwise_affine=False)
    x = td.randn(3, 4, rng=np.random.default_rng(5))
    assert ln.num_parameters() == 0
    np.testing.assert_allclose(ln(x).data.mean(-1), 0.0, atol=1e-6)


def test_layer_norm_forward_checks_trailing_shape():
    with pytest.raises(ValueError, match=r"LayerNorm: expected input with trailing shape \(4,\), "
                       r"got shape \(2, 3\)"):
        nn.LayerNorm(4)(td.zeros(2, 3))


@pytest.mark.parametrize("args, exc, message", [
    ((0,), ValueError, "LayerNorm: normalized_shape must be >= 1, got 0"),
    (((),), TypeError, "LayerNorm: normalized_shape must be an int or a non-empty tuple"),
    ((4, 0.0), ValueError, r"LayerNorm: eps must be > 0.0, got 0.0"),
])
def test_layer_norm_constructor_validates(args, exc, message):
    with pytest.raises(exc, match=message):
        nn.LayerNorm(*args)


# ---- Dropout ----------------------------------------------------------------------------------


def test_dropout_is_identity_in_eval_mode():
    drop = nn.Dropout(0.5).eval()
    x = td.randn(4, 4)
    np.testing.assert_array_equal(drop(x).data, x.data)


def test_dropout_in_training_zeroes_and_rescales_with_its_rng():
    x = td.ones(1000)
    out = nn.Dropout(0.25, rng=np.random.default_rng(6))(x).data
    again = nn.Dropout(0.25, rng=np.random.default_rng(6))(x).data
    np.testing.assert_array_equal(out, again)
    assert set(np.unique(out)) <= {0.0, np.float32(1 / 0.75)}
    assert 0.2 < (out == 0).mean() < 0.3


def test_dropout_without_rng_follows_manual_seed():
    x = td.ones(50)
    td.manual_seed(7)
    first = nn.Dropout(0.5)(x).data
    td.manual_seed(7)
    np.testing.assert_array_equal(nn.Dropout(0.5)(x).data, first)


def test_dropout_validates_p():
    with pytest.raises(ValueError, match="Dropout: p must be <= 1.0, got 1.5"):
        nn.Dropout(1.5)


# ---- Identity, Flatten, activations ---------------------------------------------------------


def test_identity_returns_its_input():
    x = td.randn(2, 3)
    assert nn.Identity()(x) is x


@pytest.mark.parametrize("start, end, expected", [
    (1, -1, (2, 60)), (0, -1, (120,)), (1, 2, (2, 12, 5)), (-2, -1, (2, 3, 20)),
    (2, 2, (2, 3, 4, 5)),
])
def test_flatten_shapes(start, end, expected):
    x = leaf(np.random.default_rng(8), 2, 3, 4, 5)
    out = nn.Flatten(start, end)(x)
    assert out.shape == expected
    np.testing.assert_array_equal(out.data, x.data.reshape(expected))


def test_flatten_gradient():
    x = leaf(np.random.default_rng(9), 2, 3, 2)
    assert grad_check(lambda x: nn.Flatten()(x), x)


def test_flatten_rejects_start_after_end():
    with pytest.raises(ValueError, match=r"Flatten: start_dim \(2\) must not come after end_dim "
                       r"\(1\) for an input of shape \(2, 3, 4\)"):
        nn.Flatten(2, 1)(td.zeros(2, 3, 4))


@pytest.mark.parametrize("module, reference", [
    (nn.ReLU(), lambda x: np.maximum(x, 0)),
    (nn.Tanh(), np.tanh),
    (nn.Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
    (nn.GELU(), np.vectorize(lambda x: 0.5 * x * (1 + math.erf(x / math.sqrt(2))))),
], ids=["relu", "tanh", "sigmoid", "gelu"])
def test_activation_modules_match_formulas_and_gradients(module, reference):
    x = leaf(np.random.default_rng(10), 3, 4)
    np.testing.assert_allclose(module(x).data, reference(x.data), rtol=1e-6, atol=1e-12)
    assert grad_check(lambda x: module(x), x)
    extra = "approximate='none'" if isinstance(module, nn.GELU) else ""  # torch's repr too
    assert repr(module) == f"{type(module).__name__}({extra})"


def test_gelu_module_takes_the_tanh_approximation():
    module = nn.GELU(approximate="tanh")
    x = leaf(np.random.default_rng(11), 3, 4)
    expected = 0.5 * x.data * (1 + np.tanh(np.sqrt(2 / np.pi) * (x.data + 0.044715 * x.data**3)))
    np.testing.assert_allclose(module(x).data, expected, rtol=1e-12, atol=1e-15)
    assert grad_check(lambda x: module(x), x)
    assert repr(module) == "GELU(approximate='tanh')"


def test_gelu_module_refuses_an_unknown_approximation():
    with pytest.raises(ValueError, match=r"GELU: approximate must be 'none' or 'tanh', got 'erf'"):
        nn.GELU(approximate="erf")
