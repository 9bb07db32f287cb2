"""The fused layer-norm kernels: Numba against the NumPy twin and the plain equations."""

import os
import subprocess
import sys

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinydyn.kernels.backend import use_backend
from tinydyn.kernels.layer_norm import (
    PARALLEL_MIN_SIZE,
    layer_norm_backward,
    layer_norm_forward,
    warmup,
)

FAST = settings(derandomize=True, deadline=None, max_examples=20)
TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-11, atol=1e-12)}


def make_inputs(N, D, dtype, seed=0, affine=True):
    rng = np.random.default_rng(seed)
    x = (2 + 3 * rng.standard_normal((N, D))).astype(dtype)
    g = rng.standard_normal((N, D)).astype(dtype)
    w = rng.uniform(0.5, 1.5, D).astype(dtype) if affine else None
    b = rng.standard_normal(D).astype(dtype) if affine else None
    return x, g, w, b


def run(x, g, w, b, backend):
    with use_backend(backend):
        y, xhat, rstd = layer_norm_forward(x, w, b, 1e-5)
        return (y, xhat, rstd, *layer_norm_backward(g, xhat, rstd, w))


@FAST
@given(st.integers(1, 9), st.integers(1, 12), st.sampled_from([np.float32, np.float64]),
       st.booleans())
def test_numba_equals_numpy_twin(N, D, dtype, affine):
    x, g, w, b = make_inputs(N, D, dtype, affine=affine)
    for a, c in zip(run(x, g, w, b, "numba"), run(x, g, w, b, "numpy")):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, c, **TOL[dtype])


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_equals_the_plain_formulas_in_float64(backend):
    x, g, w, b = make_inputs(6, 5, np.float64, seed=1)
    y, _, _, dx, dw, db = run(x, g, w, b, backend)
    mean, var = x.mean(1, keepdims=True), x.var(1, keepdims=True)
    xhat = (x - mean) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(y, xhat * w + b, rtol=1e-12)
    gh = g * w
    ref_dx = (gh - gh.mean(1, keepdims=True) - xhat * (gh * xhat).mean(1, keepdims=True)) \
        / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dw, (g * xhat).sum(0), rtol=1e-12)
    np.testing.assert_allclose(db, g.sum(0), rtol=1e-12)


def test_threads_split_rows_without_changing_results():
    """Large enough for the parallel drivers: 1 thread, 2 threads and the twin agree."""
    x, g, w, b = make_inputs(PARALLEL_MIN_SIZE // 64 + 3, 64, np.float32, seed=2)
    results = [run(x, g, w, b, "numpy")]
    previous = numba.get_num_threads()
    for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
        numba.set_num_threads(threads)
        try:
            results.append(run(x, g, w, b, "numba"))
        finally:
            numba.set_num_threads(previous)
    for result in results[1:]:
        for a, c in zip(results[0], result):
            np.testing.assert_allclose(a, c, rtol=1e-4, atol=2e-4)


def test_no_rows():
    x, g, w, b = make_inputs(0, 4, np.float32)
    y, _, _, dx, dw, db = run(x, g, w, b, "numba")
    assert y.shape == dx.shape == (0, 4) and not dw.any() and not db.any()


def test_warmup_runs():
    warmup()


JIT_DISABLED_SCRIPT = r"""
import numba
import numpy as np
from tinydyn.kernels.backend import use_backend
from tinydyn.kernels.layer_norm import layer_norm_backward, layer_norm_forward
assert numba.config.DISABLE_JIT, "NUMBA_DISABLE_JIT was not picked up"
rng = np.random.default_rng(0)
for dtype in (np.float32, np.float64):
    x, g = rng.standard_normal((2, 7, 5)).astype(dtype)
    w, b = rng.standard_normal((2, 5)).astype(dtype)
    results = []
    for backend in ("numba", "numpy"):
        with use_backend(backend):
            y, xhat, rstd = layer_norm_forward(x, w, b, 1e-5)
            results.append((y, *layer_norm_backward(g, xhat, rstd, w)))
    for a, c in zip(*results):
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-5)
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
