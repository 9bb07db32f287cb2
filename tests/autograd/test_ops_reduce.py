"""Reductions: values against NumPy, gradients over random shapes and dims, ties, stability,
argmax/argmin, dtypes and errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinydyn as td
from tinydyn import grad_check

FAST = settings(derandomize=True, deadline=None, max_examples=25)
SEEDS = st.integers(0, 2**16)
SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, max_side=4)

# name -> (tinydyn function, NumPy reference taking axis= and keepdims=)
REFERENCES = {
    "sum": (td.sum, np.sum),
    "mean": (td.mean, np.mean),
    "max": (td.max, np.max),
    "min": (td.min, np.min),
    "var": (td.var, lambda a, axis, keepdims: np.var(a, axis=axis, keepdims=keepdims,
                                                      ddof=1 if _count(a.shape, axis) > 1 else 0)),
    "logsumexp": (td.logsumexp, lambda a, axis, keepdims: np.log(
        np.exp(a).sum(axis=axis, keepdims=keepdims))),
}


def _count(shape, dim):
    """How many elements fold into each output element."""
    if dim is None:
        return int(np.prod(shape))
    return int(np.prod([shape[d] for d in np.atleast_1d(dim)]))


def reduce(name, x, dim, keepdim):
    """Call the op; var over a single element uses correction=0 (1 is rightly rejected)."""
    if name == "var" and _count(x.shape, dim) < 2:
        return td.var(x, dim, keepdim, correction=0)
    return REFERENCES[name][0](x, dim, keepdim)


@st.composite
def shape_and_dim(draw, allow_none=True):
    """A shape and a valid ``dim`` for it: None, an int (maybe negative) or a tuple."""
    shape = draw(SHAPES)
    ndim = len(shape)
    kinds = ["int", "tuple"] + (["none"] if allow_none else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "none":
        return shape, None
    if kind == "int":
        return shape, draw(st.integers(-ndim, ndim - 1))
    dims = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return shape, tuple(dims)


def leaf(rng, shape) -> td.Tensor:
    return td.tensor(rng.standard_normal(shape), dtype="float64", requires_grad=True)


def _axis(dim):
    return tuple(dim) if isinstance(dim, tuple) else dim


# ---- gradients and values over random shapes -------------------------------------------------


@pytest.mark.parametrize("name", sorted(REFERENCES))
@FAST
@given(case=shape_and_dim(), keepdim=st.booleans(), seed=SEEDS)
def test_reduction_gradient_matches_finite_differences(name, case, keepdim, seed):
    shape, dim = case
    if name == "logsumexp" and dim is None:
        dim = tuple(range(len(shape)))
    x = leaf(np.random.default_rng(seed), shape)
    assert grad_check(lambda a: reduce(name, a, dim, keepdim), x)


@pytest.mark.parametrize("name", sorted(REFERENCES))
@FAST
@given(case=shape_and_dim(allow_none=False), keepdim=st.booleans(), seed=SEEDS)
def test_reduction_forward_equals_numpy_in_values_and_shape(name, case, keepdim, seed):
    shape, dim = case
    x = np.random.default_rng(seed).standard_normal(shape)
    out = reduce(name, td.tensor(x, dtype="float64"), dim, keepdim)
    expected = REFERENCES[name][1](x, axis=_axis(dim), keepdims=keepdim)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "var"])
def test_full_reduction_with_keepdim_keeps_every_dim_as_size_one(name):
    x = td.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    out = REFERENCES[name][0](x, None, True)
    assert out.shape == (1, 1)
    out.sum().backward()
    assert x.grad.shape == (2, 3)


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "logsumexp"])
def test_zero_dimensional_input_reduces_over_dim_zero_to_itself(name):
    x = td.tensor(1.5, requires_grad=True)
    out = REFERENCES[name][0](x, 0, False)
    out.backward()
    assert out.shape == () and out.item() == pytest.approx(1.5)
    assert x.grad.item() == pytest.approx(1.0)


def test_tensor_methods_route_to_the_reductions():
    x = td.tensor([[1.0, 4.0], [3.0, 2.0]])
    assert x.sum().item() == 10.0 and x.mean(1).tolist() == [2.5, 2.5]
    assert x.max(0).tolist() == [3.0, 4.0] and x.min(dim=1, keepdim=True).tolist() == [[1.0],
                                                                                          [2.0]]
    assert x.var().item() == pytest.approx(np.var([1, 4, 3, 2], ddof=1))
    assert x.argmax().item() == 1 and x.argmin(1).tolist() == [0, 1]
    assert x.logsumexp(1).shape == (2,)


# ---- max / min ties --------------------------------------------------------------------------


def test_max_splits_the_gradient_evenly_among_tied_maxima():
    x = td.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], requires_grad=True)
    td.max(x, dim=1).sum().backward()
    np.testing.assert_allclose(x.grad.data, [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])


def test_min_over_all_elements_splits_the_gradient_among_tied_minima():
    x = td.tensor([[0.0, 3.0], [0.0, 1.0]], requires_grad=True)
    td.min(x).backward()
    np.testing.assert_allclose(x.grad.data, [[0.5, 0.0], [0.5, 0.0]])


# ---- var -------------------------------------------------------------------------------------


@pytest.mark.parametrize("correction", [0, 1, 2])
def test_var_divides_by_n_minus_correction(correction):
    x = np.random.default_rng(3).standard_normal((4, 5))
    out = td.var(td.tensor(x, dtype="float64"), dim=1, correction=correction)
    np.testing.assert_allclose(out.data, np.var(x, axis=1, ddof=correction))


def test_var_gradient_with_population_correction_matches_finite_differences():
    x = leaf(np.random.default_rng(4), (3, 4))
    assert grad_check(lambda a: td.var(a, dim=(0, 1), correction=0), x)


# ---- logsumexp stability ---------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_logsumexp_is_finite_at_large_magnitudes_and_its_gradient_is_softmax(dtype):
    x = td.tensor([[1e4, 1e4 - 1.0, -1e4], [-1e4, -1e4, -1e4]], dtype=dtype, requires_grad=True)
    out = td.logsumexp(x, dim=1)
    out.sum().backward()
    assert np.isfinite(out.data).all() and np.isfinite(x.grad.data).all()
    expected = [1e4 + np.log1p(np.exp(-1.0)), -1e4 + np.log(3.0)]
    np.testing.assert_allclose(out.data, expected, rtol=1e-6)
    p = 1 / (1 + np.exp(-1.0))
    np.testing.assert_allclose(x.grad.data, [[p, 1 - p, 0.0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-5)


def test_logsumexp_of_an_all_minus_infinity_row_is_minus_infinity_without_nan():
    x = td.tensor([[-np.inf, -np.inf], [0.0, 0.0]])
    out = td.logsumexp(x, dim=-1)
    assert out.data[0] == -np.inf and out.data[1] == pytest.approx(np.log(2.0))


# ---- argmax / argmin -------------------------------------------------------------------------


@pytest.mark.parametrize("fn, reference", [(td.argmax, np.argmax), (td.argmin, np.argmin)])
@FAST
@given(case=shape_and_dim(), keepdim=st.booleans(), seed=SEEDS)
def test_arg_reduction_equals_numpy_and_is_int64_without_grad(fn, reference, case, keepdim,
                                                              seed):
    shape, dim = case
    if isinstance(dim, tuple):
        dim = dim[0]
    x = np.random.default_rng(seed).integers(0, 3, shape).astype(np.float32)  # many ties
    out = fn(td.tensor(x, requires_grad=True), dim, keepdim)
    expected = reference(x, axis=dim, keepdims=keepdim)
    if dim is None and keepdim:
        expected = np.reshape(expected, (1,) * x.ndim)
    assert out.dtype == np.int64 and not out.requires_grad
    np.testing.assert_array_equal(out.data, expected)


def test_argmax_returns_the_first_index_among_ties():
    assert td.argmax(td.tensor([1.0, 5.0, 5.0])).item() == 1
    assert td.argmin(td.tensor([[2.0, 0.0, 0.0]]), dim=1).tolist() == [1]


# ---- dtypes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_reduction_keeps_the_dtype_in_values_and_gradients(name, dtype):
    x = td.tensor(np.arange(6.0).reshape(2, 3), dtype=dtype, requires_grad=True)
    for _ in range(2):
        out = REFERENCES[name][0](x, 1, False)
        out.sum().backward()
    assert out.dtype == dtype and x.grad.dtype == dtype


def test_sum_of_an_integer_tensor_stays_integer():
    assert td.sum(td.tensor([1, 2, 3])).dtype == np.int64


# ---- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "var", "logsumexp", "argmax",
                                  "argmin"])
def test_reduction_rejects_an_out_of_range_dim(name):
    fn = getattr(td, name)
    with pytest.raises(ValueError, match=rf"^{name}: dim=2 is out of range for a tensor with 2 "
                                         r"dimensions$"):
        fn(td.zeros(2, 3), 2)


@pytest.mark.parametrize("name", ["sum", "max", "argmax"])
def test_reduction_rejects_a_float_dim_with_a_type_error(name):
    with pytest.raises(TypeError, match=rf"^{name}: dim must be an int, got float 1.0$"):
        getattr(td, name)(td.zeros(2, 3), 1.0)


def test_reduction_rejects_repeated_dims():
    with pytest.raises(ValueError, match=r"^mean: dim has repeated entries: \(1, -1\)$"):
        td.mean(td.zeros(2, 3), (1, -1))


def test_reduction_rejects_a_non_bool_keepdim():
    with pytest.raises(TypeError, match=r"^sum: keepdim must be a bool, got int 1$"):
        td.sum(td.zeros(2), 0, 1)


def test_reduction_rejects_a_non_tensor_input():
    with pytest.raises(TypeError, match=r"^max: input must be a Tensor, got list$"):
        td.max([1.0, 2.0])


def test_logsumexp_requires_dim():
    with pytest.raises(TypeError, match=r"^logsumexp: dim is required \(an int or a tuple of "
                                        r"ints\), got None$"):
        td.logsumexp(td.zeros(3), None)


def test_var_rejects_a_correction_that_leaves_no_degrees_of_freedom():
    with pytest.raises(ValueError, match=r"^var: correction=1 leaves no degrees of freedom: "
                                         r"each variance is over 1 element\(s\)"):
        td.var(td.zeros(3, 1), dim=1)


def test_var_rejects_a_negative_correction():
    with pytest.raises(ValueError, match=r"^var: correction must be >= 0, got -1$"):
        td.var(td.zeros(3), correction=-1)


@pytest.mark.parametrize("name", ["mean", "var", "logsumexp"])
def test_float_only_reduction_rejects_an_integer_tensor(name):
    with pytest.raises(TypeError, match=rf"^{name}: input must be a floating-point tensor, got "
                                        r"dtype int64$"):
        getattr(td, name)(td.tensor([1, 2, 3]), 0)


@pytest.mark.parametrize("name", ["max", "min", "mean", "logsumexp"])
def test_reduction_over_an_empty_dim_is_rejected(name):
    with pytest.raises(ValueError, match=rf"^{name}: cannot reduce over an empty dimension: "
                                         r"input shape \(2, 0\), dim \(1,\)$"):
        getattr(td, name)(td.zeros(2, 0), 1)


def test_argmax_of_an_empty_tensor_is_rejected():
    with pytest.raises(ValueError, match=r"^argmax: cannot reduce an empty tensor \(shape "
                                         r"\(0,\)\)$"):
        td.argmax(td.zeros(0))
