"""The shared encoder layer equals the plain layer bit for bit; batches are checked."""

import numpy as np
import pytest

from tinydyn import Tensor
from tinydyn.dynamic.pruning import check_batch, encoder_layer, pad_tokens, with_cls
from tinydyn.nn.attention import TransformerEncoderLayer


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_is_the_plain_layer_bit_for_bit(norm_first):
    rng = np.random.default_rng(0)
    layer = TransformerEncoderLayer(8, 2, 16, dropout=0.0, norm_first=norm_first, rng=rng)
    layer.eval()
    x = Tensor(rng.standard_normal((3, 6, 8)).astype(np.float32))
    pad = np.zeros((3, 6), bool)
    pad[1, 4:] = True
    out, probs = encoder_layer(layer, x, pad)
    np.testing.assert_array_equal(out.data, layer(x, key_padding_mask=pad).data)
    assert probs.shape == (3, 2, 6, 6)
    np.testing.assert_allclose(probs.data.sum(-1), 1.0, rtol=1e-6)
    assert (probs.data[1, :, :, 4:] == 0).all()


def test_a_zero_key_bias_changes_nothing_and_a_large_one_removes_the_key():
    rng = np.random.default_rng(1)
    layer = TransformerEncoderLayer(8, 2, 16, dropout=0.0, rng=rng, dtype=np.float64).eval()
    x = Tensor(rng.standard_normal((2, 5, 8)))
    pad = np.zeros((2, 5), bool)
    plain, _ = encoder_layer(layer, x, pad)
    zero, _ = encoder_layer(layer, x, pad, Tensor(np.zeros((2, 1, 1, 5))))
    np.testing.assert_array_equal(plain.data, zero.data)
    bias = np.zeros((2, 1, 1, 5))
    bias[:, ..., 3] = -1e4
    out, probs = encoder_layer(layer, x, pad, Tensor(bias))
    masked_pad = pad.copy()
    masked_pad[:, 3] = True
    ref, _ = encoder_layer(layer, x, masked_pad)
    assert (probs.data[..., 3] == 0).all()
    np.testing.assert_allclose(out.data, ref.data, rtol=1e-12, atol=1e-12)


def test_with_cls_and_pad_tokens():
    tokens, lengths = pad_tokens([[3, 4, 5], [6]])
    np.testing.assert_array_equal(tokens, [[3, 4, 5], [6, 0, 0]])
    ids, pad = with_cls(tokens, lengths, cls_id=9)
    np.testing.assert_array_equal(ids, [[9, 3, 4, 5], [9, 6, 0, 0]])
    np.testing.assert_array_equal(pad, [[False] * 4, [False, False, True, True]])


@pytest.mark.parametrize("tokens, lengths, error, words", [
    (np.array([[1, 25]]), np.array([2]), ValueError, "tokens must be ids in [0, 20)"),
    (np.array([[1, -1]]), np.array([2]), ValueError, "tokens must be ids"),
    (np.array([[1, 2]]), np.array([3]), ValueError, "lengths must be in [1, T]"),
    (np.array([[1, 2]]), np.array([0]), ValueError, "lengths must be in [1, T]"),
    (np.array([[1.0, 2.0]]), np.array([2]), TypeError, "tokens must be an integer"),
    (np.array([[1, 2]]), np.array([2, 2]), ValueError, "lengths must have shape (B,)"),
    (np.array([1, 2]), np.array([2]), ValueError, "tokens must have shape (B, T)"),
])
def test_check_batch_names_the_argument(tokens, lengths, error, words):
    with pytest.raises(error, match="check_me") as info:
        check_batch("check_me", tokens, lengths, 20)
    assert words in str(info.value)
