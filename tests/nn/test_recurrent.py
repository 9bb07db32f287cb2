"""LSTMCell, LSTM and GRUCell against hand-written NumPy equations and each other, float64
gradient checks, errors, and torch's cells and LSTM (when installed) with copied weights."""

import math

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


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def np_lstm_step(cell, x, h, c):
    H = cell.hidden_size
    z = x @ cell.weight_ih.data.T + h @ cell.weight_hh.data.T + cell.bias.data
    i, f, g, o = sigmoid(z[:, :H]), sigmoid(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), \
        sigmoid(z[:, 3 * H:])
    c = f * c + i * g
    return o * np.tanh(c), c


def np_gru_step(cell, x, h):
    H = cell.hidden_size
    W_ir, W_iz, W_in = np.split(cell.weight_ih.data, 3)
    W_hr, W_hz, W_hn = np.split(cell.weight_hh.data, 3)
    b_ir, b_iz, b_in = np.split(cell.bias_ih.data, 3)
    b_hr, b_hz, b_hn = np.split(cell.bias_hh.data, 3)
    r = sigmoid(x @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
    z = sigmoid(x @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
    n = np.tanh(x @ W_in.T + b_in + r * (h @ W_hn.T + b_hn))
    assert n.shape[-1] == H
    return (1 - z) * n + z * h


def f64(cls, *args, seed=0, **kwargs):
    return cls(*args, rng=np.random.default_rng(seed), dtype=np.float64, **kwargs)


# ---- LSTMCell ---------------------------------------------------------------------------------


def test_lstm_cell_matches_equations():
    rng = np.random.default_rng(0)
    cell = f64(nn.LSTMCell, 3, 4)
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    h1, c1 = cell(Tensor(x), (Tensor(h), Tensor(c)))
    eh, ec = np_lstm_step(cell, x, h, c)
    np.testing.assert_allclose(h1.data, eh, rtol=1e-12)
    np.testing.assert_allclose(c1.data, ec, rtol=1e-12)


def test_lstm_cell_default_state_is_zeros():
    cell = f64(nn.LSTMCell, 3, 4)
    x = Tensor(np.random.default_rng(1).standard_normal((2, 3)))
    zeros = Tensor(np.zeros((2, 4)))
    for a, b in zip(cell(x), cell(x, (zeros, zeros))):
        np.testing.assert_array_equal(a.data, b.data)


def test_lstm_cell_gradients():
    rng = np.random.default_rng(2)
    cell = f64(nn.LSTMCell, 3, 2)
    x, h, c = leaf(rng, 2, 3), leaf(rng, 2, 2), leaf(rng, 2, 2)
    for k in (0, 1):  # through h' and through c'
        assert grad_check(lambda x, h, c, *ps, k=k: cell(x, (h, c))[k], x, h, c, cell.weight_ih,
                          cell.weight_hh, cell.bias)


def test_lstm_cell_without_bias():
    cell = f64(nn.LSTMCell, 3, 2, bias=False)
    assert cell.bias is None and sorted(cell.state_dict()) == ["weight_hh", "weight_ih"]
    x = np.random.default_rng(3).standard_normal((1, 3))
    h, _ = cell(Tensor(x))
    z = x @ cell.weight_ih.data.T
    i, g, o = sigmoid(z[:, :2]), np.tanh(z[:, 4:6]), sigmoid(z[:, 6:])
    np.testing.assert_allclose(h.data, o * np.tanh(i * g), rtol=1e-12)


def test_recurrent_init_is_uniform_within_one_over_sqrt_hidden():
    bound = 1 / math.sqrt(50)
    for layer in (nn.LSTMCell(3, 50), nn.LSTM(3, 50), nn.GRUCell(3, 50)):
        for p in layer.parameters():
            assert p.dtype == np.float32 and 0.9 * bound < np.abs(p.data).max() <= bound
    assert nn.LSTMCell(3, 5).weight_ih.shape == (20, 3)
    assert nn.GRUCell(3, 5).weight_hh.shape == (15, 5)


# ---- GRUCell ----------------------------------------------------------------------------------


@FAST
@given(B=st.integers(1, 3), I=st.integers(1, 4), H=st.integers(1, 4), given_h=st.booleans())
def test_gru_cell_matches_equations(B, I, H, given_h):
    rng = np.random.default_rng(B + 10 * I + 100 * H)
    cell = f64(nn.GRUCell, I, H)
    x = rng.standard_normal((B, I))
    h = rng.standard_normal((B, H)) if given_h else np.zeros((B, H))
    out = cell(Tensor(x), Tensor(h) if given_h else None)
    np.testing.assert_allclose(out.data, np_gru_step(cell, x, h), rtol=1e-12, atol=1e-14)


def test_gru_cell_gradients():
    rng = np.random.default_rng(4)
    cell = f64(nn.GRUCell, 3, 2)
    x, h = leaf(rng, 2, 3), leaf(rng, 2, 2)
    assert grad_check(lambda x, h, *ps: cell(x, h), x, h, cell.weight_ih, cell.weight_hh,
                      cell.bias_ih, cell.bias_hh)


def test_gru_cell_without_bias():
    cell = nn.GRUCell(3, 2, bias=False)
    assert sorted(cell.state_dict()) == ["weight_hh", "weight_ih"]
    assert cell(td.randn(4, 3)).shape == (4, 2)
    assert repr(cell) == "GRUCell(3, 2, bias=False)"


# ---- LSTM -------------------------------------------------------------------------------------


def loop_of_cells(lstm, x, mask=None, state=None):
    """The LSTM written as a Python loop of an LSTMCell sharing its weights; a padded step
    (mask False) keeps the previous state."""
    cell = nn.LSTMCell(lstm.input_size, lstm.hidden_size, dtype=x.dtype)
    cell.load_state_dict(lstm.state_dict())
    B, T, _ = x.shape
    h, c = state if state is not None else (np.zeros((B, lstm.hidden_size)),) * 2
    hs = []
    for t in range(T):
        h_new, c_new = cell(Tensor(x[:, t]), (Tensor(h), Tensor(c)))
        keep = mask[:, t:t + 1] if mask is not None else np.ones((B, 1), bool)
        h = np.where(keep, h_new.data, h)
        c = np.where(keep, c_new.data, c)
        hs.append(h)
    return np.stack(hs, axis=1), h, c


@FAST
@given(B=st.integers(1, 3), T=st.integers(1, 5), I=st.integers(1, 3), H=st.integers(1, 3),
       padded=st.booleans())
def test_lstm_equals_a_loop_of_lstm_cells(B, T, I, H, padded):
    rng = np.random.default_rng(B + 10 * T + 100 * I + 1000 * H)
    lstm = f64(nn.LSTM, I, H)
    x = rng.standard_normal((B, T, I))
    mask = rng.random((B, T)) < 0.6 if padded else None  # padding anywhere, not only at the end
    hs, (h_T, c_T) = lstm(Tensor(x), mask=mask)
    ehs, eh, ec = loop_of_cells(lstm, x, mask)
    np.testing.assert_allclose(hs.data, ehs, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h_T.data, eh, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c_T.data, ec, rtol=1e-10, atol=1e-12)


def test_lstm_lengths_equal_the_matching_mask_and_keep_the_state_after_the_end():
    rng = np.random.default_rng(5)
    lstm = f64(nn.LSTM, 2, 3)
    x = Tensor(rng.standard_normal((3, 4, 2)))
    lengths = np.array([4, 2, 0])
    hs, (h_T, c_T) = lstm(x, lengths=lengths)
    mask = np.arange(4)[None, :] < lengths[:, None]
    hs2, (h2, c2) = lstm(x, mask=Tensor(mask))
    np.testing.assert_array_equal(hs.data, hs2.data)
    np.testing.assert_array_equal(c_T.data, c2.data)
    np.testing.assert_array_equal(h_T.data[1], hs.data[1, 1])  # last real step of row 1
    np.testing.assert_array_equal(hs.data[1, 2:], hs.data[1, 1:2].repeat(2, 0))
    np.testing.assert_array_equal(h_T.data[2], 0)  # empty sequence: the initial state
    ehs, _, _ = loop_of_cells(lstm, x.data, mask)
    np.testing.assert_allclose(hs.data, ehs, rtol=1e-10, atol=1e-12)


def test_lstm_with_initial_state_equals_loop():
    rng = np.random.default_rng(6)
    lstm = f64(nn.LSTM, 2, 3)
    x = rng.standard_normal((2, 3, 2))
    h0, c0 = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    hs, (h_T, c_T) = lstm(Tensor(x), (Tensor(h0), Tensor(c0)))
    ehs, eh, ec = loop_of_cells(lstm, x, state=(h0, c0))
    np.testing.assert_allclose(hs.data, ehs, rtol=1e-10)
    np.testing.assert_allclose(c_T.data, ec, rtol=1e-10)


def test_lstm_gradients_with_padding():
    rng = np.random.default_rng(7)
    lstm = f64(nn.LSTM, 2, 2)
    x, h0, c0 = leaf(rng, 2, 3, 2), leaf(rng, 2, 2), leaf(rng, 2, 2)
    lengths = np.array([3, 1])
    params = [lstm.weight_ih, lstm.weight_hh, lstm.bias]
    assert grad_check(lambda x, h0, c0, *ps: lstm(x, (h0, c0), lengths=lengths)[0],
                      x, h0, c0, *params)
    assert grad_check(lambda x, h0, c0, *ps: lstm(x, (h0, c0), lengths=lengths)[1][1],
                      x, h0, c0, *params)


def test_lstm_soft_mask_interpolates_and_is_differentiable():
    rng = np.random.default_rng(12)
    lstm = f64(nn.LSTM, 2, 2)
    cell = f64(nn.LSTMCell, 2, 2)
    cell.load_state_dict(lstm.state_dict())
    x = rng.standard_normal((2, 3, 2))
    m = rng.uniform(0, 1, (2, 3))
    h = c = np.zeros((2, 2))
    for t in range(3):  # new state = m * cell step + (1 - m) * old state
        hn, cn = cell(Tensor(x[:, t]), (Tensor(h), Tensor(c)))
        w = m[:, t:t + 1]
        h, c = w * hn.data + (1 - w) * h, w * cn.data + (1 - w) * c
    hs, (h_T, c_T) = lstm(Tensor(x), mask=Tensor(m))
    np.testing.assert_allclose(h_T.data, h, rtol=1e-10)
    np.testing.assert_allclose(c_T.data, c, rtol=1e-10)
    mask = Tensor(m, requires_grad=True)
    assert grad_check(lambda mask: lstm(Tensor(x), mask=mask)[0], mask)


def test_lstm_state_dict_is_interchangeable_with_lstm_cell():
    lstm = nn.LSTM(3, 4)
    assert list(lstm.state_dict()) == list(nn.LSTMCell(3, 4).state_dict())
    assert repr(lstm) == "LSTM(3, 4, bias=True, batch_first=True)"


def test_lstm_without_bias_runs():
    lstm = nn.LSTM(3, 4, bias=False)
    hs, (h, c) = lstm(td.randn(2, 5, 3))
    assert hs.shape == (2, 5, 4) and h.shape == c.shape == (2, 4)


@pytest.mark.parametrize("call, exc, message", [
    (lambda m: m(td.randn(2, 5, 32)), ValueError,
     r"LSTM: expected input of shape \(B, T, 64\), got \(2, 5, 32\)"),
    (lambda m: m(td.randn(2, 64)), ValueError, r"LSTM: expected input of shape \(B, T, 64\)"),
    (lambda m: m(td.randn(2, 5, 64).double()), TypeError,
     r"LSTM: input must have the weights' dtype float32, got float64"),
    (lambda m: m(td.randn(2, 5, 64), mask=np.ones((2, 5), bool), lengths=[5, 5]), ValueError,
     r"LSTM: pass either mask or lengths, not both"),
    (lambda m: m(td.randn(2, 5, 64), lengths=np.array([5, 6])), ValueError,
     r"LSTM: lengths must be in \[0, T\] = \[0, 5\], got values from 5 to 6"),
    (lambda m: m(td.randn(2, 5, 64), lengths=np.array([5.0, 2.0])), TypeError,
     r"LSTM: lengths must be an integer Tensor or array"),
    (lambda m: m(td.randn(2, 5, 64), lengths=np.array([5])), ValueError,
     r"LSTM: expected lengths of shape \(B,\) = \(2,\), got \(1,\)"),
    (lambda m: m(td.randn(2, 5, 64), mask=np.ones((2, 4), bool)), ValueError,
     r"LSTM: expected mask of shape \(B, T\) = \(2, 5\), got \(2, 4\)"),
    (lambda m: m(td.randn(2, 5, 64), mask=np.ones((2, 5), np.int64)), TypeError,
     r"LSTM: mask must be bool or float32 \(the input's dtype\), got dtype int64"),
    (lambda m: m(td.randn(2, 5, 64), (td.zeros(2, 8), td.zeros(3, 8))), ValueError,
     r"LSTM: expected c of shape \(B, H\) = \(2, 8\), got \(3, 8\)"),
    (lambda m: m(td.randn(2, 5, 64), td.zeros(2, 8)), TypeError,
     r"LSTM: state must be a pair \(h, c\)"),
])
def test_lstm_forward_errors(call, exc, message):
    with pytest.raises(exc, match=message):
        call(nn.LSTM(64, 8))


def test_recurrent_constructor_errors():
    with pytest.raises(ValueError, match=r"LSTM: only num_layers=1 is supported"):
        nn.LSTM(3, 4, num_layers=2)
    with pytest.raises(ValueError, match=r"LSTM: only batch_first=True is supported"):
        nn.LSTM(3, 4, batch_first=False)
    with pytest.raises(ValueError, match=r"LSTMCell: hidden_size must be >= 1, got 0"):
        nn.LSTMCell(3, 0)
    with pytest.raises(TypeError, match=r"GRUCell: input_size must be an int"):
        nn.GRUCell(3.5, 2)
    with pytest.raises(TypeError, match=r"GRUCell: bias must be a bool"):
        nn.GRUCell(3, 2, bias=None)


def test_cell_forward_errors():
    with pytest.raises(ValueError, match=r"LSTMCell: expected input of shape \(B, 3\), got "
                                         r"\(2, 4\)"):
        nn.LSTMCell(3, 2)(td.randn(2, 4))
    with pytest.raises(ValueError, match=r"GRUCell: expected h of shape \(B, H\) = \(2, 2\), "
                                         r"got \(2, 3\)"):
        nn.GRUCell(3, 2)(td.randn(2, 3), td.zeros(2, 3))
    with pytest.raises(TypeError, match=r"GRUCell: h must have the input's dtype float32"):
        nn.GRUCell(3, 2)(td.randn(2, 3), td.zeros(2, 2).double())


# ---- against torch (optional) -----------------------------------------------------------------


def _torch():
    return pytest.importorskip("torch")


def _copy_lstm_weights(torch, ours, theirs, suffix=""):
    with torch.no_grad():
        getattr(theirs, "weight_ih" + suffix).copy_(torch.from_numpy(ours.weight_ih.data))
        getattr(theirs, "weight_hh" + suffix).copy_(torch.from_numpy(ours.weight_hh.data))
        getattr(theirs, "bias_ih" + suffix).copy_(torch.from_numpy(ours.bias.data))
        getattr(theirs, "bias_hh" + suffix).zero_()  # torch's two biases only appear summed


def test_cells_match_torch():
    torch = _torch()
    rng = np.random.default_rng(8)
    x, h, c = rng.standard_normal((3, 4)), rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    lstm_cell = f64(nn.LSTMCell, 4, 5)
    ref = torch.nn.LSTMCell(4, 5, dtype=torch.float64)
    _copy_lstm_weights(torch, lstm_cell, ref)
    with torch.no_grad():
        eh, ec = ref(torch.from_numpy(x), (torch.from_numpy(h), torch.from_numpy(c)))
    h1, c1 = lstm_cell(Tensor(x), (Tensor(h), Tensor(c)))
    np.testing.assert_allclose(h1.data, eh.numpy(), rtol=1e-10)
    np.testing.assert_allclose(c1.data, ec.numpy(), rtol=1e-10)

    gru = f64(nn.GRUCell, 4, 5)
    ref = torch.nn.GRUCell(4, 5, dtype=torch.float64)
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in gru.state_dict().items()})
    with torch.no_grad():
        expected = ref(torch.from_numpy(x), torch.from_numpy(h))
    np.testing.assert_allclose(gru(Tensor(x), Tensor(h)).data, expected.numpy(), rtol=1e-10)


def test_lstm_matches_torch_with_packed_lengths():
    torch = _torch()
    rng = np.random.default_rng(9)
    lstm = f64(nn.LSTM, 3, 4)
    ref = torch.nn.LSTM(3, 4, batch_first=True, dtype=torch.float64)
    _copy_lstm_weights(torch, lstm, ref, "_l0")
    x = rng.standard_normal((3, 6, 3))
    lengths = np.array([6, 2, 4])
    hs, (h_T, c_T) = lstm(Tensor(x), lengths=lengths)
    with torch.no_grad():
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            torch.from_numpy(x), torch.from_numpy(lengths), batch_first=True,
            enforce_sorted=False)
        out, (eh, ec) = ref(packed)
        ehs, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
    np.testing.assert_allclose(h_T.data, eh[0].numpy(), rtol=1e-10)
    np.testing.assert_allclose(c_T.data, ec[0].numpy(), rtol=1e-10)
    mask = np.arange(6)[None, :] < lengths[:, None]
    np.testing.assert_allclose(hs.data[mask], ehs.numpy()[mask], rtol=1e-10)
