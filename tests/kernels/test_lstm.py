"""The fused LSTM kernel: Numba loops against their NumPy twins and against the cell equations."""

import os
import subprocess
import sys

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinydyn.kernels.backend import use_backend
from tinydyn.kernels.lstm import (
    lstm_backward,
    lstm_backward_packed,
    lstm_forward,
    row_blocks,
    warmup,
)

FAST = settings(derandomize=True, deadline=None, max_examples=20)
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


def make_inputs(B, T, I, H, dtype, seed=0, mask="padded"):
    """Random inputs; ``mask`` is "none", "padded" (padding at the end of some rows) or "soft"."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((B, T, I)).astype(dtype)
    h0, c0 = (rng.standard_normal((B, H)).astype(dtype) for _ in range(2))
    w_ih = (rng.standard_normal((4 * H, I)) / np.sqrt(I)).astype(dtype)
    w_hh = (rng.standard_normal((4 * H, H)) / np.sqrt(H)).astype(dtype)
    bias = rng.standard_normal(4 * H).astype(dtype)
    if mask == "none":
        m = None
    elif mask == "padded":
        lengths = rng.integers(0, T + 1, size=B)
        m = np.arange(T)[None, :] < lengths[:, None]
    else:
        m = rng.uniform(0, 1, (B, T)).astype(dtype)
    return x, h0, c0, w_ih, w_hh, bias, m


def reference_lstm(x, h0, c0, w_ih, w_hh, bias, mask):
    """The cell equations, one step and one gate at a time, in float64."""
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    B, T, _ = x.shape
    H = h0.shape[1]
    mask = np.ones((B, T)) if mask is None else np.asarray(mask, np.float64)
    h, c = h0.astype(np.float64), c0.astype(np.float64)
    hs = np.zeros((B, T, H))
    for t in range(T):
        z = x[:, t] @ w_ih.T.astype(np.float64) + bias + h @ w_hh.T.astype(np.float64)
        i, f = sigmoid(z[:, :H]), sigmoid(z[:, H:2 * H])
        g, o = np.tanh(z[:, 2 * H:3 * H]), sigmoid(z[:, 3 * H:])
        c_new = f * c + i * g
        h_new = o * np.tanh(c_new)
        m = mask[:, t, None]
        c = m * c_new + (1 - m) * c
        h = m * h_new + (1 - m) * h
        hs[:, t] = h
    return hs, h, c


@st.composite
def sizes(draw):
    return (draw(st.integers(1, 9)), draw(st.integers(1, 6)), draw(st.integers(1, 5)),
            draw(st.integers(1, 6)))


@FAST
@given(sizes(), st.sampled_from(["none", "padded", "soft"]), st.sampled_from([np.float32,
                                                                             np.float64]))
def test_forward_numba_equals_numpy_twin(size, mask, dtype):
    args = make_inputs(*size, dtype, mask=mask)
    with use_backend("numba"):
        hs_a, h_a, c_a, saved_a = lstm_forward(*args)
    with use_backend("numpy"):
        hs_b, h_b, c_b, saved_b = lstm_forward(*args)
    for a, b in ((hs_a, hs_b), (h_a, h_b), (c_a, c_b), (saved_a.gates, saved_b.gates),
                 (saved_a.cs, saved_b.cs)):
        np.testing.assert_allclose(a, b, **TOL[dtype])


@FAST
@given(sizes(), st.sampled_from(["none", "padded", "soft"]), st.sampled_from([np.float32,
                                                                             np.float64]))
def test_backward_numba_equals_numpy_twin(size, mask, dtype):
    args = make_inputs(*size, dtype, mask=mask)
    x, _, _, w_ih, w_hh, _, _ = args
    with use_backend("numpy"):
        _, _, _, saved = lstm_forward(*args)
    dstates = np.random.default_rng(1).standard_normal(saved.states.shape).astype(dtype)
    with use_backend("numba"):
        grads_a = lstm_backward_packed(saved, w_ih, w_hh, dstates)
    with use_backend("numpy"):
        grads_b = lstm_backward_packed(saved, w_ih, w_hh, dstates)
    for a, b in zip(grads_a, grads_b):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, **TOL[dtype])


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("mask", ["none", "padded", "soft"])
def test_forward_equals_reference_loop_in_float64(backend, mask):
    args = make_inputs(6, 7, 3, 5, np.float64, seed=2, mask=mask)
    with use_backend(backend):
        hs, h_T, c_T, _ = lstm_forward(*args)
    ref_hs, ref_h, ref_c = reference_lstm(*args)
    np.testing.assert_allclose(hs, ref_hs, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(h_T, ref_h, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(c_T, ref_c, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_float32_forward_is_close_to_float64_reference(backend):
    args = make_inputs(5, 20, 4, 8, np.float32, seed=3)
    with use_backend(backend):
        hs, _, _, _ = lstm_forward(*args)
    assert hs.dtype == np.float32
    np.testing.assert_allclose(hs, reference_lstm(*args)[0], atol=2e-6)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_padding_steps_leave_state_unchanged(backend, dtype):
    x, h0, c0, w_ih, w_hh, bias, _ = make_inputs(3, 6, 2, 4, dtype, seed=4)
    mask = np.ones((3, 6), bool)
    mask[0, 2:] = False  # padding at the end
    mask[1, :] = False   # all padding
    mask[2, 1:3] = False  # a gap in the middle
    with use_backend(backend):
        hs, h_T, c_T, saved = lstm_forward(x, h0, c0, w_ih, w_hh, bias, mask)
    assert np.array_equal(hs[0, 2:], np.broadcast_to(hs[0, 1], (4, 4)))
    assert np.array_equal(hs[1], np.broadcast_to(h0[1], (6, 4)))
    assert np.array_equal(hs[2, 1], hs[2, 0]) and np.array_equal(hs[2, 2], hs[2, 0])
    assert np.array_equal(h_T[0], hs[0, 1]) and np.array_equal(h_T[1], h0[1])
    assert np.array_equal(c_T[1], c0[1])
    assert np.array_equal(saved.cs[2:, 0], np.broadcast_to(saved.cs[2, 0], (5, 4)))


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_padding_steps_give_no_gradient_to_x(backend):
    x, h0, c0, w_ih, w_hh, bias, _ = make_inputs(2, 5, 3, 4, np.float64, seed=5)
    mask = np.array([[1, 1, 1, 0, 0], [1, 0, 1, 1, 1]], bool)
    with use_backend(backend):
        hs, _, _, saved = lstm_forward(x, h0, c0, w_ih, w_hh, bias, mask)
        dx, *_ = lstm_backward(saved, w_ih, w_hh, np.ones_like(hs))
    assert not dx[~mask].any()
    assert np.abs(dx[mask]).min() > 0


def test_backward_from_outputs_equals_packed_backward():
    x, h0, c0, w_ih, w_hh, bias, mask = make_inputs(3, 4, 2, 3, np.float64, seed=6)
    hs, h_T, c_T, saved = lstm_forward(x, h0, c0, w_ih, w_hh, bias, mask)
    rng = np.random.default_rng(7)
    dhs, dh, dc = rng.standard_normal(hs.shape), rng.standard_normal((3, 3)), rng.standard_normal(
        (3, 3))
    dstates = np.zeros(saved.states.shape)
    dstates[1:5] = dhs.transpose(1, 0, 2)
    dstates[4] += dh
    dstates[5] = dc
    for a, b in zip(lstm_backward(saved, w_ih, w_hh, dhs, dh, dc),
                    lstm_backward_packed(saved, w_ih, w_hh, dstates)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_backward_shapes_and_dtypes():
    x, h0, c0, w_ih, w_hh, bias, mask = make_inputs(3, 4, 2, 5, np.float32)
    hs, _, _, saved = lstm_forward(x, h0, c0, w_ih, w_hh, bias, mask)
    grads = lstm_backward(saved, w_ih, w_hh, np.ones_like(hs))
    for grad, like in zip(grads, (x, h0, c0, w_ih, w_hh, bias, mask)):
        assert grad.shape == like.shape and grad.dtype == np.float32


def test_zero_steps_return_the_initial_state():
    x, h0, c0, w_ih, w_hh, bias, _ = make_inputs(2, 0, 3, 4, np.float32)
    hs, h_T, c_T, saved = lstm_forward(x, h0, c0, w_ih, w_hh, bias)
    assert hs.shape == (2, 0, 4)
    assert np.array_equal(h_T, h0) and np.array_equal(c_T, c0)
    dx, dh0, dc0, *_ = lstm_backward(saved, w_ih, w_hh, hs, np.ones((2, 4), np.float32))
    assert dx.shape == (2, 0, 3) and np.array_equal(dh0, np.ones((2, 4)))


@pytest.mark.parametrize("B, threads", [(1, 2), (7, 2), (8, 1), (32, 2), (37, 2), (100, 3),
                                        (0, 2)])
def test_row_blocks_cover_the_batch_in_aligned_blocks(B, threads):
    bounds = row_blocks(B, threads)
    sizes = np.diff(bounds)
    assert bounds[0] == 0 and bounds[-1] == B and (sizes > 0).all()
    assert len(sizes) <= max(1, threads) and (sizes[:-1] % 4 == 0).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threads_split_rows_without_changing_results(dtype):
    """Forward and backward with the batch split over 1, then 2 threads (37 rows: two blocks,
    the second with leftover rows) agree with each other and with the NumPy twin."""
    args = make_inputs(37, 6, 3, 5, dtype, seed=8, mask="soft")
    x, _, _, w_ih, w_hh, _, _ = args
    dstates = None
    results = {}
    previous = numba.get_num_threads()
    for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
        numba.set_num_threads(threads)
        try:
            *outs, saved = lstm_forward(*args)
            if dstates is None:
                dstates = np.random.default_rng(9).standard_normal(saved.states.shape)
            results[threads] = (*outs, *lstm_backward_packed(saved, w_ih, w_hh, dstates))
        finally:
            numba.set_num_threads(previous)
    with use_backend("numpy"):
        *outs, saved = lstm_forward(*args)
        results["numpy"] = (*outs, *lstm_backward_packed(saved, w_ih, w_hh, dstates))
    for key in results:
        for a, b in zip(results[1], results[key]):
            np.testing.assert_allclose(a, b, **TOL[dtype])


def test_warmup_runs():
    warmup()


JIT_DISABLED_SCRIPT = r"""
import numba
import numpy as np
from tinydyn.kernels.backend import use_backend
from tinydyn.kernels.lstm import lstm_backward_packed, lstm_forward
assert numba.config.DISABLE_JIT, "NUMBA_DISABLE_JIT was not picked up"
rng = np.random.default_rng(0)
B, T, I, H = 21, 4, 3, 2  # 21 rows: two blocks of rows when 2 threads are available
for dtype in (np.float32, np.float64):
    x = rng.standard_normal((B, T, I)).astype(dtype)
    h0, c0 = rng.standard_normal((2, B, H)).astype(dtype)
    w_ih = rng.standard_normal((4 * H, I)).astype(dtype)
    w_hh = rng.standard_normal((4 * H, H)).astype(dtype)
    bias = rng.standard_normal(4 * H).astype(dtype)
    mask = rng.uniform(0, 1, (B, T)).astype(dtype)
    mask[0, 2:] = mask[20, 1:] = 0
    results = []
    for backend in ("numba", "numpy"):
        with use_backend(backend):
            hs, h, c, saved = lstm_forward(x, h0, c0, w_ih, w_hh, bias, mask)
            d = np.ones_like(saved.states)
            results.append((hs, h, c) + lstm_backward_packed(saved, w_ih, w_hh, d))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
print("ok")
"""


def test_kernels_equal_twins_with_jit_disabled():
    result = subprocess.run(
        [sys.executable, "-c", JIT_DISABLED_SCRIPT],
        env={**os.environ, "NUMBA_DISABLE_JIT": "1"},
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
