"""erf against math.erf, gelu (exact and tanh) against torch and math, float64 gradient checks."""

import math

import numpy as np
import pytest

import tinydyn as td
from tinydyn import Tensor, grad_check
from tinydyn.autograd.ops_gelu import erf_array, erfc_array

GRID = np.concatenate([np.linspace(-7.0, 7.0, 200_001), np.geomspace(1e-300, 1.0, 2000),
                       -np.geomspace(1e-300, 1.0, 2000), [0.0, -0.0, 1.0, 6.0, -6.0]])


def _math_erf(x: np.ndarray) -> np.ndarray:
    return np.array([math.erf(v) for v in x.tolist()])


def test_float64_erf_is_within_4e_15_relative_of_math_erf():
    expected = _math_erf(GRID)
    got = erf_array(GRID)
    assert got.dtype == np.float64
    rel = np.abs(got - expected) / np.maximum(np.abs(expected), np.finfo(np.float64).tiny)
    assert rel.max() < 4e-15, GRID[rel.argmax()]


def test_float32_erf_is_within_one_float32_ulp_of_math_erf():
    x = GRID.astype(np.float32)
    got = erf_array(x)
    assert got.dtype == np.float32
    expected = _math_erf(x.astype(np.float64)).astype(np.float32)  # correctly rounded
    np.testing.assert_array_max_ulp(got, expected, maxulp=1)


def test_erfc_is_within_2e_14_relative_of_math_erfc_even_where_it_is_tiny():
    x = np.linspace(-7.0, 7.0, 20_001)
    x = x[x < 5.9]  # beyond, erfc < 1.3e-16: it is set to 0 (erf is exactly 1 there)
    expected = np.array([math.erfc(v) for v in x.tolist()])
    np.testing.assert_allclose(erfc_array(x), expected, rtol=2e-14, atol=0)
    np.testing.assert_array_equal(erfc_array(np.array([6.0, 50.0, -50.0])), [0.0, 0.0, 2.0])


def test_erf_saturates_keeps_sign_zero_and_nan():
    out = erf_array(np.array([np.inf, -np.inf, 30.0, -30.0, 0.0, -0.0, np.nan]))
    np.testing.assert_array_equal(out[:6], [1.0, -1.0, 1.0, -1.0, 0.0, -0.0])
    assert np.signbit(out[5]) and np.isnan(out[6])


def test_erf_keeps_the_shape_of_0d_and_nd_arrays():
    assert erf_array(np.array(0.5)).shape == ()
    assert erf_array(np.zeros((2, 0, 3))).shape == (2, 0, 3)
    for shape in ((3, 4, 5), (130, 200)):  # the second spans two evaluation blocks
        x = np.random.default_rng(0).standard_normal(shape)
        np.testing.assert_allclose(erf_array(x), _math_erf(x.ravel()).reshape(shape),
                                   rtol=4e-15)


def test_erf_op_gradient_is_2_over_sqrt_pi_exp_minus_x_squared():
    values = np.random.default_rng(1).uniform(-3, 3, (4, 5))
    assert grad_check(td.erf, Tensor(values, requires_grad=True))
    x = Tensor(values, requires_grad=True)
    td.erf(x).sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 / np.sqrt(np.pi) * np.exp(-x.data ** 2),
                               rtol=1e-14)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_gradient_matches_finite_differences(approximate):
    # wide enough to reach the tails, where the exact derivative Phi + x phi bends most
    x = Tensor(np.random.default_rng(2).uniform(-5, 5, (6, 7)), requires_grad=True)
    assert grad_check(lambda a: td.gelu(a, approximate=approximate), x)


def test_exact_gelu_is_x_times_the_normal_cdf_even_in_the_left_tail():
    # Phi(x) = erfc(-x / sqrt 2) / 2 keeps its relative accuracy where 1 + erf(...) cancels
    x = np.concatenate([np.random.default_rng(3).uniform(-6, 6, 500), [-8.0, -8.3]])
    expected = np.array([v * 0.5 * math.erfc(-v / math.sqrt(2)) for v in x])
    np.testing.assert_allclose(td.gelu(Tensor(x)).data, expected, rtol=2e-14, atol=0)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("dtype, rtol, atol", [(np.float64, 1e-13, 1e-14),
                                               (np.float32, 1e-5, 5e-6)])
def test_gelu_and_its_gradient_match_torch(approximate, dtype, rtol, atol):
    # two implementations: torch computes Phi as 1 + erf (float32 in float32), which cancels
    # in the left tail, hence an absolute tolerance there
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.uniform(-8, 8, (5, 40)).astype(dtype)
    upstream = rng.standard_normal((5, 40)).astype(dtype)
    ours = Tensor(x, requires_grad=True)
    out = td.gelu(ours, approximate=approximate)
    out.backward(upstream)
    theirs = torch.tensor(x, requires_grad=True)
    ref = torch.nn.functional.gelu(theirs, approximate=approximate)
    ref.backward(torch.tensor(upstream))
    assert out.dtype == dtype and ours.grad.dtype == dtype
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=rtol, atol=atol)
    np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy(), rtol=rtol, atol=atol)


def test_tanh_approximation_differs_from_the_exact_gelu_by_a_little():
    x = Tensor(np.linspace(-6, 6, 2001))
    gap = np.abs(td.gelu(x).data - td.gelu(x, approximate="tanh").data)
    assert 1e-4 < gap.max() < 1e-3  # known: about 4.7e-4 at its worst


def test_tensor_gelu_method_is_the_exact_gelu():
    x = Tensor(np.linspace(-3, 3, 7))
    np.testing.assert_array_equal(x.gelu().data, td.gelu(x).data)


@pytest.mark.parametrize("call, exc, message", [
    (lambda: td.gelu(Tensor(np.ones(2)), approximate="erf"), ValueError,
     r"gelu: approximate must be 'none' or 'tanh', got 'erf'"),
    (lambda: td.gelu(Tensor(np.ones(2)), approximate=None), ValueError,
     r"gelu: approximate must be 'none' or 'tanh', got None"),
    (lambda: td.gelu(np.ones(2)), TypeError, r"gelu: input must be a Tensor, got ndarray"),
    (lambda: td.erf(Tensor(np.ones(2, np.int64))), TypeError,
     r"erf: input must be a floating-point tensor, got dtype int64"),
])
def test_bad_arguments_raise_clear_errors(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
