"""tinydyn.lstm: the autograd op over the fused LSTM kernel."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinydyn as td
from tinydyn.kernels.backend import use_backend

FAST = settings(derandomize=True, deadline=None, max_examples=10)
NAMES = ("x", "h0", "c0", "w_ih", "w_hh", "bias")


def make(B, T, I, H, dtype=np.float64, seed=0, requires_grad=True):
    """Tensors x, h0, c0, w_ih, w_hh, bias with small random values."""
    rng = np.random.default_rng(seed)
    shapes = ((B, T, I), (B, H), (B, H), (4 * H, I), (4 * H, H), (4 * H,))
    return [td.Tensor(rng.standard_normal(s) * 0.7, requires_grad=requires_grad, dtype=dtype)
            for s in shapes]


def end_padding(B, T, seed=0):
    """A bool mask whose rows are real steps then padding (lengths 1..T, some shorter)."""
    lengths = np.random.default_rng(seed).integers(1, T + 1, size=B)
    lengths[0] = max(1, T - 2)
    return np.arange(T)[None, :] < lengths[:, None]


def reference(x, h0, c0, w_ih, w_hh, bias, mask):
    """The cell equations step by step in float64 NumPy."""
    def sigmoid(v):
        return 1 / (1 + np.exp(-v))
    x, h, c, w_ih, w_hh, bias = (a.data for a in (x, h0, c0, w_ih, w_hh, bias))
    H = h.shape[1]
    hs = []
    for t in range(x.shape[1]):
        z = x[:, t] @ w_ih.T + bias + h @ w_hh.T
        i, f, g, o = sigmoid(z[:, :H]), sigmoid(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), \
            sigmoid(z[:, 3 * H:])
        m = mask[:, t, None]
        c_new = f * c + i * g
        h = np.where(m, o * np.tanh(c_new), h)
        c = np.where(m, c_new, c)
        hs.append(h)
    return np.stack(hs, 1), h, c


def test_outputs_equal_reference_loop():
    inputs = make(4, 6, 3, 5)
    mask = end_padding(4, 6)
    hs, h_T, c_T = td.lstm(*inputs, mask)
    ref_hs, ref_h, ref_c = reference(*inputs, mask)
    np.testing.assert_allclose(hs.data, ref_hs, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(h_T.data, ref_h, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(c_T.data, ref_c, rtol=1e-12, atol=1e-13)


def test_final_state_is_state_after_last_real_step():
    inputs = make(3, 5, 2, 4)
    mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], bool)
    hs, h_T, _ = td.lstm(*inputs, mask)
    lengths = mask.sum(1)
    np.testing.assert_array_equal(h_T.data, hs.data[np.arange(3), lengths - 1])
    np.testing.assert_array_equal(hs.data[0, 1:], np.broadcast_to(hs.data[0, 1], (4, 4)))


@FAST
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 3), st.integers(1, 4))
def test_grad_check_every_input_through_hs_with_end_padding(B, T, I, H):
    inputs = make(B, T, I, H, seed=B * 100 + T)
    mask = end_padding(B, T, seed=T)
    assert td.grad_check(lambda *a: td.lstm(*a, mask)[0], *inputs)


@pytest.mark.parametrize("output", [1, 2], ids=["h_T", "c_T"])
def test_grad_check_every_input_through_final_state(output):
    inputs = make(3, 4, 2, 3, seed=output)
    mask = end_padding(3, 4, seed=1)
    assert td.grad_check(lambda *a: td.lstm(*a, mask)[output], *inputs)


def test_grad_check_all_three_outputs_together():
    inputs = make(2, 3, 2, 3, seed=9)
    mask = end_padding(2, 3)

    def loss(*a):
        hs, h, c = td.lstm(*a, mask)
        return hs.sum() + (h * 2.0).sum() + (c * 3.0).sum()

    assert td.grad_check(loss, *inputs)


def test_grad_check_soft_mask():
    x, *rest = make(3, 4, 2, 3, seed=3)
    mask = td.Tensor(np.random.default_rng(4).uniform(0.1, 0.9, (3, 4)), requires_grad=True,
                     dtype=np.float64)
    assert td.grad_check(lambda x, m: td.lstm(x, *rest, m)[0], x, mask)


def test_grad_check_with_numpy_backend():
    inputs = make(3, 3, 2, 2, seed=5)
    mask = end_padding(3, 3)
    with use_backend("numpy"):
        assert td.grad_check(lambda *a: td.lstm(*a, mask)[0], *inputs)


def test_padding_gives_no_gradient_to_padded_inputs():
    x, *rest = make(2, 5, 3, 4)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    hs, h_T, c_T = td.lstm(x, *rest, mask)
    (hs.sum() + h_T.sum() + c_T.sum()).backward()
    assert not x.grad.data[0, 3:].any()
    assert np.abs(x.grad.data[mask]).min() > 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_keeps_dtype(dtype):
    inputs = make(2, 3, 2, 3, dtype=dtype)
    outputs = td.lstm(*inputs)
    outputs[0].sum().backward()
    assert all(out.dtype == dtype for out in outputs)
    assert all(t.grad.dtype == dtype for t in inputs)


def test_optional_state_bias_and_mask_default_to_zeros_and_no_padding():
    x, h0, c0, w_ih, w_hh, bias = make(2, 3, 2, 3)
    zero_state = td.zeros(2, 3).to(np.float64)
    zero_bias = td.zeros(12).to(np.float64)
    expected = td.lstm(x, zero_state, zero_state, w_ih, w_hh, zero_bias, np.ones((2, 3), bool))
    got = td.lstm(x, None, None, w_ih, w_hh, None)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a.data, b.data)


def test_no_grad_records_nothing():
    inputs = make(2, 3, 2, 3)
    with td.no_grad():
        hs, h_T, c_T = td.lstm(*inputs)
    assert not (hs.requires_grad or h_T.requires_grad or c_T.requires_grad)


def test_matches_torch_lstm_with_copied_weights():
    torch = pytest.importorskip("torch")
    B, T, I, H = 3, 6, 4, 5
    x, h0, c0, w_ih, w_hh, bias = make(B, T, I, H, dtype=np.float32, seed=11)
    net = torch.nn.LSTM(I, H, batch_first=True)
    with torch.no_grad():
        net.weight_ih_l0.copy_(torch.from_numpy(w_ih.data))
        net.weight_hh_l0.copy_(torch.from_numpy(w_hh.data))
        net.bias_ih_l0.copy_(torch.from_numpy(bias.data))
        net.bias_hh_l0.zero_()
    px = torch.from_numpy(x.data.copy()).requires_grad_(True)
    state = (torch.from_numpy(h0.data[None].copy()), torch.from_numpy(c0.data[None].copy()))
    p_hs, (p_h, p_c) = net(px, state)
    (p_hs.sum() + p_c.sum()).backward()
    hs, h_T, c_T = td.lstm(x, h0, c0, w_ih, w_hh, bias)
    (hs.sum() + c_T.sum()).backward()
    np.testing.assert_allclose(hs.data, p_hs.detach().numpy(), atol=2e-6)
    np.testing.assert_allclose(h_T.data, p_h[0].detach().numpy(), atol=2e-6)
    np.testing.assert_allclose(c_T.data, p_c[0].detach().numpy(), atol=2e-6)
    np.testing.assert_allclose(x.grad.data, px.grad.numpy(), atol=2e-5)
    np.testing.assert_allclose(w_hh.grad.data, net.weight_hh_l0.grad.numpy(), atol=2e-5)
    np.testing.assert_allclose(w_ih.grad.data, net.weight_ih_l0.grad.numpy(), atol=2e-5)
    np.testing.assert_allclose(bias.grad.data, net.bias_ih_l0.grad.numpy(), atol=2e-5)


# ---- bad input -------------------------------------------------------------------------------

def _args(**override):
    x, h0, c0, w_ih, w_hh, bias = make(2, 3, 4, 5, dtype=np.float32, requires_grad=False)
    args = dict(x=x, h0=h0, c0=c0, w_ih=w_ih, w_hh=w_hh, bias=bias, mask=None)
    args.update(override)
    return args


@pytest.mark.parametrize("override, error, message", [
    (dict(x=[[[1.0]]]), TypeError, r"lstm: x must be a Tensor, got list"),
    (dict(x=td.zeros(2, 3, 4).long()), TypeError,
     r"lstm: x must be float32 or float64, got dtype int64"),
    (dict(x=td.zeros(2, 3)), ValueError,
     r"lstm: x must be 3-D \(batch, time, input\), got shape \(2, 3\)"),
    (dict(w_hh=td.zeros(20, 4)), ValueError,
     r"lstm: w_hh must have shape \(4\*hidden, hidden\) with hidden >= 1, got shape \(20, 4\)"),
    (dict(w_ih=td.zeros(20, 3)), ValueError,
     r"lstm: w_ih must have shape \(4\*hidden, input\) = \(20, 4\), got shape \(20, 3\)"),
    (dict(bias=td.zeros(5)), ValueError,
     r"lstm: bias must have shape \(4\*hidden,\) = \(20,\), got shape \(5,\)"),
    (dict(h0=td.zeros(3, 5)), ValueError,
     r"lstm: h0 must have shape \(batch, hidden\) = \(2, 5\), got shape \(3, 5\)"),
    (dict(c0=td.zeros(2, 4)), ValueError,
     r"lstm: c0 must have shape \(batch, hidden\) = \(2, 5\), got shape \(2, 4\)"),
    (dict(w_ih=td.zeros(20, 4).double()), TypeError,
     r"lstm: w_ih must have the dtype of x \(float32\), got dtype float64"),
    (dict(mask=np.ones((2, 4), bool)), ValueError,
     r"lstm: mask must have shape \(batch, time\) = \(2, 3\), got shape \(2, 4\)"),
    (dict(mask=np.ones((2, 3), np.int64)), TypeError,
     r"lstm: mask must be bool or float32 \(the dtype of x\), got dtype int64"),
    (dict(mask=[[1, 1, 1], [1, 1, 1]]), TypeError, r"lstm: mask must be a Tensor, got list"),
])
def test_bad_input_raises_a_clear_error(override, error, message):
    with pytest.raises(error, match=message):
        td.lstm(**_args(**override))
