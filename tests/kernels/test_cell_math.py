"""The dense building blocks the recurrent kernels share."""

import numpy as np
import pytest

from tinydyn.kernels.cell_math import exp_inplace, gate_scale, matmul_nt_acc

TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 5, 2), (4, 8, 6), (9, 7, 5), (32, 16, 64)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_accumulates_a_times_w_transposed(shape, dtype):
    B, K, N = shape
    rng = np.random.default_rng(8)
    a, w = rng.standard_normal((B, K)).astype(dtype), rng.standard_normal((N, K)).astype(dtype)
    out = rng.standard_normal((B, N)).astype(dtype)
    expected = out + a.astype(np.float64) @ w.T.astype(np.float64)
    matmul_nt_acc(a, w, out)
    np.testing.assert_allclose(out, expected, **TOL[dtype])


def test_float32_exp_is_accurate_and_saturates():
    x = np.concatenate([np.linspace(-87, 88, 20001), [-1e4, -200.0, 0.0, 200.0, 1e4]])
    x = x.astype(np.float32)
    out = x.copy()
    exp_inplace(out, np.empty(x.size, np.int32))
    inside = np.abs(x) <= 87
    expected = np.exp(x[inside].astype(np.float64))
    assert np.max(np.abs(out[inside] - expected) / expected) < 3e-7
    assert np.all(np.isfinite(out)) and out[-1] > 1e38 and 0 < out[-5] < 1e-37


def test_float64_exp_is_within_two_ulps_of_numpy():
    x = np.linspace(-700, 700, 1001)
    out = x.copy()
    exp_inplace(out, np.empty(0, np.int32))
    # math.exp and NumPy's exp are two implementations (NumPy may use its own SIMD exp):
    # correctly rounded or not, each is within an ulp of the true value, so within 2 of each other
    np.testing.assert_array_max_ulp(out, np.exp(x), maxulp=2)


def test_gate_scale_is_minus_two_on_the_tanh_gate_only():
    scale = gate_scale(3, np.float32)
    assert scale.dtype == np.float32
    np.testing.assert_array_equal(scale, [-1] * 6 + [-2] * 3 + [-1] * 3)
