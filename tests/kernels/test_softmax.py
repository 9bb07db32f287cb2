"""The fused attention softmax kernels: Numba against the NumPy twin and the plain equations."""

import os
import subprocess
import sys

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinydyn.kernels.backend import use_backend
from tinydyn.kernels.softmax import (
    PARALLEL_MIN_SIZE,
    masked_softmax_backward,
    masked_softmax_forward,
    warmup,
)

FAST = settings(derandomize=True, deadline=None, max_examples=20)
TOL = {np.float32: dict(rtol=1e-5, atol=1e-7), np.float64: dict(rtol=1e-12, atol=1e-15)}


def make_inputs(B, h, Tq, Tk, dtype, seed=0, pad_rate=0.3):
    rng = np.random.default_rng(seed)
    scores = (3 * rng.standard_normal((B, h, Tq, Tk))).astype(dtype)
    grad = rng.standard_normal((B, h, Tq, Tk)).astype(dtype)
    pad = rng.random((B, Tk)) < pad_rate
    return scores, grad, pad


def reference(scores, grad, pad, scale):
    """Float64 masked softmax and its backward written out with NumPy's plain formulas."""
    v = np.where(pad[:, None, None, :], -1e9, scale * scores.astype(np.float64))
    e = np.exp(v - v.max(-1, keepdims=True))
    p = e / e.sum(-1, keepdims=True)
    g = grad.astype(np.float64)
    ds = scale * p * (g - (g * p).sum(-1, keepdims=True))
    return p, np.where(pad[:, None, None, :], 0.0, ds)


@st.composite
def sizes(draw):
    return tuple(draw(st.integers(1, n)) for n in (4, 3, 5, 9))


@FAST
@given(sizes(), st.sampled_from([np.float32, np.float64]), st.floats(0.1, 2.0))
def test_numba_equals_numpy_twin(size, dtype, scale):
    scores, grad, pad = make_inputs(*size, dtype)
    results = {}
    for backend in ("numba", "numpy"):
        with use_backend(backend):
            probs = masked_softmax_forward(scores, pad, scale)
            results[backend] = (probs, masked_softmax_backward(probs, grad, pad, scale))
    for a, b in zip(results["numba"], results["numpy"]):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, **TOL[dtype])


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_equals_the_plain_formulas(backend, dtype):
    scores, grad, pad = make_inputs(3, 2, 4, 6, dtype, seed=1)
    with use_backend(backend):
        probs = masked_softmax_forward(scores, pad, 0.25)
        dscores = masked_softmax_backward(probs, grad, pad, 0.25)
    ref_p, ref_ds = reference(scores, grad, pad, 0.25)
    tol = dict(rtol=2e-6, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(probs, ref_p, **tol)
    np.testing.assert_allclose(dscores, ref_ds, **tol)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_padded_keys_get_exactly_zero_weight_and_gradient(backend):
    scores, grad, pad = make_inputs(2, 3, 4, 5, np.float32, seed=2, pad_rate=0.0)
    pad[0, [1, 3]] = True
    with use_backend(backend):
        probs = masked_softmax_forward(scores, pad, 1.0)
        dscores = masked_softmax_backward(probs, grad, pad, 1.0)
    assert not probs[0][..., [1, 3]].any() and not dscores[0][..., [1, 3]].any()
    assert (probs[0][..., [0, 2, 4]] > 0).all() and (probs[1] > 0).all()
    np.testing.assert_allclose(probs.sum(-1), 1, rtol=1e-6)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_a_row_of_only_padding_is_uniform_and_gives_no_gradient(backend):
    scores, grad, pad = make_inputs(2, 2, 3, 4, np.float32, seed=3, pad_rate=0.0)
    pad[1] = True
    with use_backend(backend):
        probs = masked_softmax_forward(scores, pad, 1.0)
        dscores = masked_softmax_backward(probs, grad, pad, 1.0)
    np.testing.assert_allclose(probs[1], 0.25, rtol=1e-6)
    assert not dscores[1].any() and np.isfinite(probs).all()


def test_large_scores_do_not_overflow():
    scores = np.array([[[[1e4, 0.0, -1e4]]]], np.float32)
    probs = masked_softmax_forward(scores, np.zeros((1, 3), bool), 1.0)
    # float32 exp stops at exp(-87) ~ 1.6e-38 rather than underflowing to 0
    np.testing.assert_allclose(probs, [[[[1.0, 0.0, 0.0]]]], rtol=1e-7, atol=1e-37)


def test_threads_split_blocks_without_changing_results():
    """Large enough for the parallel drivers: 1 thread, 2 threads and the twin agree."""
    scores, grad, pad = make_inputs(4, 4, 64, 64, np.float32, seed=4)
    assert scores.size >= PARALLEL_MIN_SIZE
    with use_backend("numpy"):
        twin = masked_softmax_forward(scores, pad, 0.5)
        results = [(twin, masked_softmax_backward(twin, grad, pad, 0.5))]
    previous = numba.get_num_threads()
    for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
        numba.set_num_threads(threads)
        try:
            probs = masked_softmax_forward(scores, pad, 0.5)
            results.append((probs, masked_softmax_backward(probs, grad, pad, 0.5)))
        finally:
            numba.set_num_threads(previous)
    for result in results[1:]:
        for a, b in zip(results[0], result):
            np.testing.assert_allclose(a, b, **TOL[np.float32])


def test_non_contiguous_scores_are_accepted():
    scores, grad, pad = make_inputs(2, 2, 3, 4, np.float32, seed=5)
    view = np.swapaxes(np.swapaxes(scores, 2, 3).copy(), 2, 3)  # same values, other strides
    np.testing.assert_allclose(masked_softmax_forward(view, pad, 1.0),
                               masked_softmax_forward(scores, pad, 1.0), rtol=1e-7)


def test_warmup_runs():
    warmup()


JIT_DISABLED_SCRIPT = r"""
import numba
import numpy as np
from tinydyn.kernels.backend import use_backend
from tinydyn.kernels.softmax import masked_softmax_backward, masked_softmax_forward
assert numba.config.DISABLE_JIT, "NUMBA_DISABLE_JIT was not picked up"
rng = np.random.default_rng(0)
for dtype in (np.float32, np.float64):
    scores = rng.standard_normal((2, 2, 3, 5)).astype(dtype)
    grad = rng.standard_normal(scores.shape).astype(dtype)
    pad = rng.random((2, 5)) < 0.4
    pad[1] = True
    results = []
    for backend in ("numba", "numpy"):
        with use_backend(backend):
            p = masked_softmax_forward(scores, pad, 0.5)
            results.append((p, masked_softmax_backward(p, grad, pad, 0.5)))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
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
