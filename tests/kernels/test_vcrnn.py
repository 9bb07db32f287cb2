import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tinydyn.kernels.backend import use_backend
from tinydyn.kernels.vcrnn import (
    rnn_forward,
    rows_from_ratio,
    soft_mask,
    vcrnn_hard_forward,
    vcrnn_soft_backward,
    vcrnn_soft_forward,
)


def _weights(rng, d, dx, dtype, sched_scale=1.0):
    w_ih = rng.standard_normal((d, dx)) / np.sqrt(dx)
    w_hh = rng.standard_normal((d, d)) / np.sqrt(d)
    bias = rng.standard_normal(d) * 0.1
    u = rng.standard_normal(d) * sched_scale
    v = rng.standard_normal(dx) * sched_scale
    return tuple(a.astype(dtype) for a in (w_ih, w_hh, bias, u, v, np.zeros(1)))


def _inputs(rng, B, T, d, dx, dtype):
    x = rng.standard_normal((B, T, dx)).astype(dtype)
    lengths = rng.integers(0, T + 1, size=B)
    return x, lengths, np.zeros((B, d), dtype)


def _boundary_margin(ms, lengths, d):
    """How far the closest real step's m * d is from a row boundary (k = ceil(m d - 1/2)).

    The kernel and the twin compute m with different float operations; their row counts can
    only be expected to agree where m * d is further from a boundary than that rounding.
    """
    valid = np.arange(ms.shape[1])[None] < lengths[:, None]
    t = ms[valid].astype(np.float64) * d - 0.5
    return np.abs(t - np.round(t)).min(initial=np.inf)


@settings(derandomize=True, deadline=None, max_examples=20)
@given(B=st.integers(1, 4), T=st.integers(1, 6), d=st.integers(1, 9), dx=st.integers(1, 5),
       seed=st.integers(0, 1000))
def test_hard_kernel_matches_numpy_twin(B, T, d, dx, seed):
    rng = np.random.default_rng(seed)
    x, lengths, h0 = _inputs(rng, B, T, d, dx, np.float64)
    w = _weights(rng, d, dx, np.float64)
    with use_backend("numba"):
        h_a, ms_a, ks_a = vcrnn_hard_forward(x, lengths, h0, *w)
    with use_backend("numpy"):
        h_b, ms_b, ks_b = vcrnn_hard_forward(x, lengths, h0, *w)
    assume(_boundary_margin(ms_b, lengths, d) > 1e-9)  # no float64 near-tie
    np.testing.assert_array_equal(ks_a, ks_b)
    np.testing.assert_allclose(ms_a, ms_b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h_a, h_b, rtol=1e-12, atol=1e-12)


def test_hard_kernel_float32_matches_numpy_twin():
    rng = np.random.default_rng(0)
    x, lengths, h0 = _inputs(rng, 3, 20, 16, 8, np.float32)
    w = _weights(rng, 16, 8, np.float32)
    with use_backend("numba"):
        h_a, ms_a, ks_a = vcrnn_hard_forward(x, lengths, h0, *w)
    with use_backend("numpy"):
        h_b, ms_b, ks_b = vcrnn_hard_forward(x, lengths, h0, *w)
    assert h_a.dtype == np.float32 and ms_a.dtype == np.float32
    # float32 rounding moves m by ~1e-7; no step of this input is near enough a row boundary
    # to flip (a flipped row count would change every later state of its sequence)
    assert _boundary_margin(ms_b, lengths, 16) > 1e-4
    np.testing.assert_array_equal(ks_a, ks_b)
    np.testing.assert_allclose(ms_a, ms_b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h_a, h_b, atol=1e-4)


@settings(derandomize=True, deadline=None, max_examples=15)
@given(B=st.integers(1, 3), T=st.integers(1, 6), d=st.integers(1, 8), seed=st.integers(0, 99))
def test_full_rnn_kernel_matches_numpy_twin(B, T, d, seed):
    rng = np.random.default_rng(seed)
    x, lengths, h0 = _inputs(rng, B, T, d, 3, np.float64)
    w_ih, w_hh, bias, *_ = _weights(rng, d, 3, np.float64)
    with use_backend("numba"):
        a = rnn_forward(x, lengths, h0, w_ih, w_hh, bias)
    with use_backend("numpy"):
        b = rnn_forward(x, lengths, h0, w_ih, w_hh, bias)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_full_rnn_kernel_is_the_elman_recurrence():
    rng = np.random.default_rng(1)
    x, _, h0 = _inputs(rng, 2, 5, 4, 3, np.float64)
    w_ih, w_hh, bias, *_ = _weights(rng, 4, 3, np.float64)
    lengths = np.array([5, 3])
    h = rnn_forward(x, lengths, h0, w_ih, w_hh, bias)
    for b in range(2):
        ref = np.zeros(4)
        for t in range(lengths[b]):
            ref = np.tanh(w_hh @ ref + w_ih @ x[b, t] + bias)
        np.testing.assert_allclose(h[b], ref, rtol=1e-12)


def test_hard_kernel_recomputes_only_the_first_k_rows():
    rng = np.random.default_rng(2)
    d, dx = 8, 3
    x = rng.standard_normal((1, 1, dx))
    w_ih, w_hh, bias, u, v, b_s = _weights(rng, d, dx, np.float64)
    h0 = rng.standard_normal((1, d))
    h, ms, ks = vcrnn_hard_forward(x, np.array([1]), h0, w_ih, w_hh, bias, u, v, b_s)
    k = ks[0, 0]
    assert k == rows_from_ratio(ms[0, 0], d)
    full = np.tanh(w_hh @ h0[0] + w_ih @ x[0, 0] + bias)
    np.testing.assert_allclose(h[0, :k], full[:k], rtol=1e-12)
    np.testing.assert_array_equal(h[0, k:], h0[0, k:])


def test_hard_kernel_padding_steps_record_no_decision():
    rng = np.random.default_rng(3)
    x, _, h0 = _inputs(rng, 2, 4, 5, 2, np.float64)
    w = _weights(rng, 5, 2, np.float64)
    h, ms, ks = vcrnn_hard_forward(x, np.array([2, 0]), h0, *w)
    assert (ks[0, 2:] == 0).all() and (ms[0, 2:] == 0).all()
    assert (ks[1] == 0).all()
    np.testing.assert_array_equal(h[1], h0[1])


@pytest.mark.parametrize("m, d, k", [(0.0, 4, 0), (1.0, 4, 4), (0.5, 4, 2), (0.12, 4, 0),
                                     (0.13, 4, 1), (0.125, 4, 0), (0.99, 1, 1), (0.49, 1, 0)])
def test_rows_from_ratio_rounds_half_down_and_clips(m, d, k):
    assert rows_from_ratio(np.array(m), d) == k


def test_soft_mask_saturates_to_the_hard_rows():
    m = np.linspace(0.01, 0.99, 37)
    e = soft_mask(m, 10, 1e4, 0.01)
    assert set(np.unique(e)) <= {0.0, 1.0}
    np.testing.assert_array_equal(e.sum(1), rows_from_ratio(m, 10))


def test_soft_forward_keeps_dtype_and_packs_states_and_ratios():
    rng = np.random.default_rng(4)
    B, T, d = 2, 3, 4
    xp = rng.standard_normal((B, T, d)).astype(np.float32)
    sp = rng.standard_normal((B, T)).astype(np.float32)
    out, _ = vcrnn_soft_forward(xp, sp, np.zeros((B, d), np.float32),
                                np.eye(d, dtype=np.float32), np.ones(d, np.float32),
                                np.ones((B, T), np.float32), 2.0, 0.01)
    assert out.dtype == np.float32 and out.shape == (B, T + 1, d + 1)
    assert ((out[:, 1:, d] > 0) & (out[:, 1:, d] < 1)).all()


def test_soft_backward_matches_finite_differences_of_the_forward():
    rng = np.random.default_rng(5)
    B, T, d = 2, 3, 4
    xp, sp = rng.standard_normal((B, T, d)), rng.standard_normal((B, T))
    h0, w, u = rng.standard_normal((B, d)), rng.standard_normal((d, d)) / 2, rng.standard_normal(d)
    pad = np.ones((B, T))
    pad[1, 2] = 0
    weights = rng.standard_normal((B, T + 1, d + 1))

    def f(xp, sp, h0, w, u):
        return (vcrnn_soft_forward(xp, sp, h0, w, u, pad, 1.5, 0.0)[0] * weights).sum()

    _, saved = vcrnn_soft_forward(xp, sp, h0, w, u, pad, 1.5, 0.0)
    grads = vcrnn_soft_backward(saved, w, u, weights)
    args = [xp, sp, h0, w, u]
    for i, (a, g) in enumerate(zip(args, grads)):
        num = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + 1e-6
            plus = f(*args)
            a[idx] = old - 1e-6
            minus = f(*args)
            a[idx] = old
            num[idx] = (plus - minus) / 2e-6
        np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-7, err_msg=f"input {i}")


def test_hard_forward_rejects_mismatched_dtypes():
    rng = np.random.default_rng(6)
    x, lengths, h0 = _inputs(rng, 1, 2, 3, 2, np.float64)
    w = list(_weights(rng, 3, 2, np.float32))
    with pytest.raises(TypeError, match=r"vcrnn_hard_forward: h0 must be float32 or float64"):
        vcrnn_hard_forward(x.astype(np.float32), lengths, h0, *w)


def test_hard_forward_rejects_lengths_longer_than_the_sequence():
    rng = np.random.default_rng(7)
    x, _, h0 = _inputs(rng, 1, 2, 3, 2, np.float64)
    w = _weights(rng, 3, 2, np.float64)
    with pytest.raises(ValueError, match=r"vcrnn_hard_forward: lengths must be in \[0, T\]"):
        vcrnn_hard_forward(x, np.array([3]), h0, *w)


def test_rnn_forward_rejects_wrong_weight_shape():
    rng = np.random.default_rng(8)
    x, lengths, h0 = _inputs(rng, 1, 2, 3, 2, np.float64)
    w_ih, w_hh, bias, *_ = _weights(rng, 3, 2, np.float64)
    with pytest.raises(ValueError, match=r"rnn_forward: w_ih must have shape \(3, 2\)"):
        rnn_forward(x, lengths, h0, w_ih.T.copy(), w_hh, bias)
