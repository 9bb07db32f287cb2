"""MultiHeadAttention and the Transformer encoder against explicit NumPy references, float64
gradient checks, errors, and (when torch is installed) torch's modules with copied weights."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinydyn as td
import tinydyn.nn as nn
from tinydyn import Tensor, grad_check

FAST = settings(derandomize=True, deadline=None, max_examples=15)


def leaf(rng, *shape):
    return Tensor(rng.standard_normal(shape), requires_grad=True)


# ---- NumPy references -------------------------------------------------------------------------


def np_softmax(s):
    e = np.exp(s - s.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_attention(mha, q, k, v, pad=None):
    """softmax(Q K^T / sqrt(d)) V per head, written out; returns (output, probs)."""
    D, h = mha.embed_dim, mha.num_heads
    d = D // h
    W, b = mha.in_proj_weight.data, mha.in_proj_bias.data
    Q, K, V = (x @ W[i * D:(i + 1) * D].T + b[i * D:(i + 1) * D] for i, x in enumerate((q, k, v)))
    B, Tq, Tk = q.shape[0], q.shape[1], k.shape[1]
    out = np.zeros((B, Tq, D))
    probs = np.zeros((B, h, Tq, Tk))
    for n in range(B):
        for j in range(h):
            cols = slice(j * d, (j + 1) * d)
            scores = Q[n, :, cols] @ K[n, :, cols].T / np.sqrt(d)
            if pad is not None:
                scores[:, pad[n]] = -np.inf
            probs[n, j] = np_softmax(scores)
            out[n, :, cols] = probs[n, j] @ V[n, :, cols]
    return out @ mha.out_proj.weight.data.T + mha.out_proj.bias.data, probs


def np_layer_norm(x, ln):
    mu = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + ln.eps) * ln.weight.data + ln.bias.data


def np_encoder_layer(layer, x, pad=None):
    def sa(y):
        return np_attention(layer.self_attn, y, y, y, pad)[0]

    def ff(y):
        hidden = np.maximum(y @ layer.linear1.weight.data.T + layer.linear1.bias.data, 0)
        return hidden @ layer.linear2.weight.data.T + layer.linear2.bias.data

    if layer.norm_first:
        x = x + sa(np_layer_norm(x, layer.norm1))
        return x + ff(np_layer_norm(x, layer.norm2))
    x = np_layer_norm(x + sa(x), layer.norm1)
    return np_layer_norm(x + ff(x), layer.norm2)


def random_padding(rng, B, T):
    """(B, T) bool padding mask with at least one real key per row (right-padded)."""
    lengths = rng.integers(1, T + 1, size=B)
    return np.arange(T)[None, :] >= lengths[:, None]


def make_mha(D, h, seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    mha = nn.MultiHeadAttention(D, h, rng=rng, dtype=np.float64, **kwargs)
    # nonzero biases, so the reference checks where they enter
    mha.in_proj_bias.data[:] = rng.standard_normal(3 * D)
    mha.out_proj.bias.data[:] = rng.standard_normal(D)
    return mha


# ---- MultiHeadAttention -----------------------------------------------------------------------


@FAST
@given(B=st.integers(1, 3), Tq=st.integers(1, 5), Tk=st.integers(1, 5), h=st.integers(1, 3),
       d=st.integers(1, 3), masked=st.booleans())
def test_attention_equals_explicit_softmax_qk_v(B, Tq, Tk, h, d, masked):
    rng = np.random.default_rng(B * 100 + Tq * 10 + Tk)
    mha = make_mha(h * d, h)
    q, k, v = (rng.standard_normal((B, T, h * d)) for T in (Tq, Tk, Tk))
    pad = random_padding(rng, B, Tk) if masked else None
    out, probs = mha(Tensor(q), Tensor(k), Tensor(v), key_padding_mask=pad, need_weights=True)
    expected_out, expected_probs = np_attention(mha, q, k, v, pad)
    np.testing.assert_allclose(out.data, expected_out, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(probs.data, expected_probs, rtol=1e-10, atol=1e-12)


def test_attention_gives_padded_keys_zero_weight():
    rng = np.random.default_rng(1)
    mha = make_mha(4, 2)
    x = Tensor(rng.standard_normal((2, 5, 4)))
    pad = np.array([[False, False, True, True, True], [False] * 4 + [True]])
    _, probs = mha(x, key_padding_mask=pad, need_weights=True)
    assert np.all(probs.data[np.broadcast_to(pad[:, None, None, :], probs.shape)] < 1e-30)
    np.testing.assert_allclose(probs.data.sum(-1), 1.0)


def test_attention_output_ignores_values_at_padded_keys():
    rng = np.random.default_rng(2)
    mha = make_mha(4, 2)
    x = rng.standard_normal((1, 4, 4))
    pad = np.array([[False, False, False, True]])
    changed = x.copy()
    changed[0, 3] += 100.0
    q = Tensor(x[:, :3])
    a = mha(q, Tensor(x), key_padding_mask=pad)
    b = mha(q, Tensor(changed), key_padding_mask=pad)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-12)


def test_attention_fully_masked_row_is_uniform_not_nan():
    mha = make_mha(4, 1)
    x = Tensor(np.random.default_rng(3).standard_normal((2, 3, 4)), requires_grad=True)
    pad = np.array([[True, True, True], [False, True, True]])
    out, probs = mha(x, key_padding_mask=pad, need_weights=True)
    np.testing.assert_allclose(probs.data[0], 1 / 3)
    out.sum().backward()
    assert np.isfinite(out.data).all() and np.isfinite(x.grad.data).all()


def test_attention_key_padding_mask_accepts_a_bool_tensor():
    mha = make_mha(4, 2)
    x = Tensor(np.random.default_rng(4).standard_normal((1, 3, 4)))
    pad = np.array([[False, True, False]])
    np.testing.assert_array_equal(mha(x, key_padding_mask=Tensor(pad)).data,
                                  mha(x, key_padding_mask=pad).data)


def test_attention_self_attention_defaults_key_and_value_to_query():
    mha = make_mha(6, 3)
    x = Tensor(np.random.default_rng(5).standard_normal((2, 4, 6)))
    np.testing.assert_array_equal(mha(x).data, mha(x, x, x).data)


def test_attention_gradients_of_inputs_and_parameters():
    rng = np.random.default_rng(6)
    mha = make_mha(4, 2)
    q, kv = leaf(rng, 2, 3, 4), leaf(rng, 2, 2, 4)
    pad = np.array([[False, True], [False, False]])
    params = [mha.in_proj_weight, mha.in_proj_bias, mha.out_proj.weight, mha.out_proj.bias]
    assert grad_check(lambda q, kv, *ps: mha(q, kv, key_padding_mask=pad), q, kv, *params)


def test_self_attention_gradients_of_every_parameter():
    rng = np.random.default_rng(13)
    mha = make_mha(4, 2)
    x = leaf(rng, 2, 3, 4)
    pad = np.array([[False, True, False], [False, False, False]])
    params = [mha.in_proj_weight, mha.in_proj_bias, mha.out_proj.weight, mha.out_proj.bias]
    assert grad_check(lambda x, *ps: mha(x, key_padding_mask=pad), x, *params)


def test_encoder_layer_gradients_of_the_feedforward_parameters():
    rng = np.random.default_rng(14)
    layer = make_layer(False, activation="relu")
    x = leaf(rng, 2, 3, 4)
    params = [layer.linear1.weight, layer.linear1.bias, layer.linear2.weight,
              layer.linear2.bias]
    assert grad_check(lambda x, *ps: layer(x), x, *params)


def test_attention_probabilities_are_differentiable():
    rng = np.random.default_rng(7)
    mha = make_mha(4, 2)
    x = leaf(rng, 1, 3, 4)
    assert grad_check(lambda x, w: mha(x, need_weights=True)[1], x, mha.in_proj_weight)


def test_attention_dropout_acts_in_training_only():
    mha = make_mha(4, 2, dropout=0.5)
    x = Tensor(np.random.default_rng(8).standard_normal((2, 6, 4)))
    td.manual_seed(0)
    train_out = mha(x).data
    mha.eval()
    eval_a, eval_b = mha(x).data, mha(x).data
    np.testing.assert_array_equal(eval_a, eval_b)
    assert not np.allclose(train_out, eval_a)


def test_attention_default_init_and_dtype():
    mha = nn.MultiHeadAttention(8, 2, rng=np.random.default_rng(0))
    assert mha.in_proj_weight.shape == (24, 8) and mha.in_proj_weight.dtype == np.float32
    assert np.abs(mha.in_proj_weight.data).max() <= np.sqrt(6 / 32)
    assert not mha.in_proj_bias.data.any() and not mha.out_proj.bias.data.any()
    assert mha(td.randn(1, 2, 8)).dtype == np.float32


def test_attention_without_bias_has_no_bias_parameters():
    mha = nn.MultiHeadAttention(4, 2, bias=False)
    assert sorted(mha.state_dict()) == ["in_proj_weight", "out_proj.weight"]
    assert mha(td.randn(1, 2, 4)).shape == (1, 2, 4)


@pytest.mark.parametrize("kwargs, exc, message", [
    (dict(embed_dim=10, num_heads=3), ValueError,
     r"MultiHeadAttention: embed_dim \(10\) must be divisible by num_heads \(3\)"),
    (dict(embed_dim=0, num_heads=1), ValueError, r"MultiHeadAttention: embed_dim must be >= 1"),
    (dict(embed_dim=4, num_heads=2, dropout=1.5), ValueError,
     r"MultiHeadAttention: dropout must be <= 1.0"),
    (dict(embed_dim=4, num_heads=2, bias=1), TypeError, r"MultiHeadAttention: bias must be a"),
    (dict(embed_dim=4.0, num_heads=2), TypeError, r"MultiHeadAttention: embed_dim must be an int"),
])
def test_attention_constructor_errors(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        nn.MultiHeadAttention(**kwargs)


@pytest.mark.parametrize("call, exc, message", [
    (lambda m: m(td.randn(2, 5, 3)), ValueError,
     r"MultiHeadAttention: expected query of shape \(B, T, 4\), got \(2, 5, 3\)"),
    (lambda m: m(td.randn(2, 5, 4), td.randn(3, 5, 4)), ValueError, r"share the batch size"),
    (lambda m: m(td.randn(2, 5, 4), td.randn(2, 5, 4), td.randn(2, 4, 4)), ValueError,
     r"key and value must have the same length"),
    (lambda m: m(td.randn(2, 5, 4), key_padding_mask=np.zeros((2, 5))), TypeError,
     r"key_padding_mask must be boolean"),
    (lambda m: m(td.randn(2, 5, 4), key_padding_mask=np.zeros((2, 4), bool)), ValueError,
     r"expected key_padding_mask of shape \(B, Tk\) = \(2, 5\), got \(2, 4\)"),
    (lambda m: m(td.randn(2, 5, 4), need_weights=1), TypeError, r"need_weights must be a bool"),
    (lambda m: m(np.zeros((2, 5, 4))), TypeError, r"query must be a Tensor"),
])
def test_attention_forward_errors(call, exc, message):
    with pytest.raises(exc, match=message):
        call(nn.MultiHeadAttention(4, 2))


# ---- TransformerEncoderLayer / TransformerEncoder ---------------------------------------------


def make_layer(norm_first, seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=6, dropout=0.0,
                                       norm_first=norm_first, rng=rng, dtype=np.float64,
                                       **kwargs)
    for ln in (layer.norm1, layer.norm2):  # non-trivial affine parameters
        ln.weight.data[:] = rng.uniform(0.5, 1.5, 4)
        ln.bias.data[:] = rng.standard_normal(4)
    layer.self_attn.in_proj_bias.data[:] = rng.standard_normal(12)
    return layer


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_encoder_layer_equals_numpy_reference(norm_first, masked):
    rng = np.random.default_rng(10)
    layer = make_layer(norm_first)
    x = rng.standard_normal((3, 5, 4))
    pad = random_padding(rng, 3, 5) if masked else None
    out = layer(Tensor(x), key_padding_mask=pad)
    np.testing.assert_allclose(out.data, np_encoder_layer(layer, x, pad), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_can_return_its_attention_probabilities(norm_first):
    rng = np.random.default_rng(12)
    layer = make_layer(norm_first)
    x = rng.standard_normal((2, 5, 4))
    pad = random_padding(rng, 2, 5)
    out, probs = layer(Tensor(x), key_padding_mask=pad, need_weights=True)
    # asking for the probabilities may take another path (the fast one need not keep them)
    np.testing.assert_allclose(out.data, layer(Tensor(x), key_padding_mask=pad).data,
                               rtol=1e-12, atol=1e-14)
    attn_in = np_layer_norm(x, layer.norm1) if norm_first else x
    expected = np_attention(layer.self_attn, attn_in, attn_in, attn_in, pad)[1]
    np.testing.assert_allclose(probs.data, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_gradients(norm_first):
    rng = np.random.default_rng(11)
    layer = make_layer(norm_first, activation="gelu")
    x = leaf(rng, 2, 3, 4)
    pad = np.array([[False, False, True], [False, False, False]])
    params = [layer.linear1.weight, layer.self_attn.in_proj_weight, layer.norm1.weight,
              layer.norm2.bias]
    assert grad_check(lambda x, *ps: layer(x, key_padding_mask=pad), x, *params)


def test_encoder_layer_parameter_names_match_torch():
    names = set(nn.TransformerEncoderLayer(4, 2, 8).state_dict())
    assert names == {
        "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
        "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight",
        "linear2.bias", "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"}


@pytest.mark.parametrize("kwargs, message", [
    (dict(d_model=6, nhead=4), r"TransformerEncoderLayer: d_model \(6\) must be divisible by "
     r"nhead \(4\)"),
    (dict(d_model=4, nhead=2, activation="tanh"),
     r"TransformerEncoderLayer: activation must be 'relu' or 'gelu', got 'tanh'"),
    (dict(d_model=4, nhead=2, dim_feedforward=0),
     r"TransformerEncoderLayer: dim_feedforward must be >= 1"),
])
def test_encoder_layer_constructor_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        nn.TransformerEncoderLayer(**kwargs)


def test_encoder_layer_rejects_wrong_width():
    with pytest.raises(ValueError, match=r"TransformerEncoderLayer: expected input of shape "
                                         r"\(B, T, 4\), got \(2, 3, 5\)"):
        nn.TransformerEncoderLayer(4, 2, 8)(td.randn(2, 3, 5))


def test_encoder_returns_every_layers_hidden_state():
    enc = nn.TransformerEncoder(3, 4, 2, 8, dropout=0.0, rng=np.random.default_rng(0),
                                dtype=np.float64)
    x = Tensor(np.random.default_rng(1).standard_normal((2, 5, 4)))
    out, hidden = enc(x, return_all_hidden=True)
    assert len(hidden) == 3 and all(h.shape == (2, 5, 4) for h in hidden)
    h = x
    for layer, got in zip(enc.layers, hidden):
        h = layer(h)
        np.testing.assert_allclose(got.data, h.data, rtol=1e-12)
    np.testing.assert_array_equal(out.data, hidden[-1].data)
    np.testing.assert_array_equal(enc(x).data, out.data)


def test_encoder_final_norm_normalises_the_output_only():
    enc = nn.TransformerEncoder(2, 4, 2, 8, dropout=0.0, norm_first=True, final_norm=True,
                                rng=np.random.default_rng(0), dtype=np.float64)
    out, hidden = enc(Tensor(np.random.default_rng(2).standard_normal((1, 3, 4))),
                      return_all_hidden=True)
    np.testing.assert_allclose(out.data, np_layer_norm(hidden[-1].data, enc.norm), rtol=1e-12)
    assert "norm.weight" in enc.state_dict()


def test_encoder_layers_have_independent_weights():
    enc = nn.TransformerEncoder(2, 4, 2, 8, rng=np.random.default_rng(0))
    a, b = (layer.linear1.weight.data for layer in enc.layers)
    assert not np.array_equal(a, b)
    assert len(list(enc.parameters())) == 24


def test_encoder_passes_key_padding_mask_to_every_layer():
    rng = np.random.default_rng(3)
    enc = nn.TransformerEncoder(2, 4, 2, 8, dropout=0.0, rng=rng, dtype=np.float64)
    x = rng.standard_normal((1, 4, 4))
    changed = x.copy()
    changed[0, 3] += 50.0  # a padded position: must not influence the real ones
    pad = np.array([[False, False, False, True]])
    a, b = enc(Tensor(x), key_padding_mask=pad), enc(Tensor(changed), key_padding_mask=pad)
    np.testing.assert_allclose(a.data[0, :3], b.data[0, :3], rtol=1e-10)


def test_encoder_constructor_errors():
    with pytest.raises(ValueError, match=r"TransformerEncoder: num_layers must be >= 1, got 0"):
        nn.TransformerEncoder(0, 4, 2)
    with pytest.raises(TypeError, match=r"TransformerEncoder: final_norm must be a bool"):
        nn.TransformerEncoder(1, 4, 2, final_norm="yes")
    with pytest.raises(ValueError, match=r"TransformerEncoder: d_model \(6\) must be divisible "
                                         r"by nhead \(4\)"):
        nn.TransformerEncoder(2, 6, 4)


# ---- against torch (optional) -----------------------------------------------------------------


def _torch():
    return pytest.importorskip("torch")


def test_attention_matches_torch_multihead_attention():
    torch = _torch()
    rng = np.random.default_rng(20)
    mha = make_mha(8, 2)
    ref = torch.nn.MultiheadAttention(8, 2, batch_first=True, dtype=torch.float64)
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in mha.state_dict().items()})
    q, k = rng.standard_normal((3, 4, 8)), rng.standard_normal((3, 6, 8))
    pad = random_padding(rng, 3, 6)
    out, probs = mha(Tensor(q), Tensor(k), Tensor(k), key_padding_mask=pad, need_weights=True)
    ref_out, ref_probs = ref(torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(k),
                             key_padding_mask=torch.from_numpy(pad), need_weights=True,
                             average_attn_weights=False)
    np.testing.assert_allclose(out.data, ref_out.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(probs.data, ref_probs.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_matches_torch(norm_first):
    torch = _torch()
    rng = np.random.default_rng(21)
    layer = make_layer(norm_first)
    ref = torch.nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, batch_first=True,
                                           norm_first=norm_first, dtype=torch.float64)
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    # left in training mode (dropout is 0): torch's eval fast path zeroes padded query rows
    x = rng.standard_normal((2, 5, 4))
    pad = random_padding(rng, 2, 5)
    with torch.no_grad():
        expected = ref(torch.from_numpy(x), src_key_padding_mask=torch.from_numpy(pad))
    out = layer(Tensor(x), key_padding_mask=pad)
    np.testing.assert_allclose(out.data, expected.numpy(), rtol=1e-9, atol=1e-10)
