"""Elementwise ops: values, gradients (float64 central differences), dtypes and errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinydyn as td
from tinydyn import grad_check

FAST = settings(derandomize=True, deadline=None, max_examples=25)
SEEDS = st.integers(0, 2**16)
PAIRS = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)


def leaf(values) -> td.Tensor:
    return td.tensor(values, dtype="float64", requires_grad=True)


def uniform(rng, shape, low=-2.0, high=2.0):
    return rng.uniform(low, high, shape)


def signed(rng, shape, low=0.3, high=2.0):
    """Magnitudes in [low, high] with random signs: away from 0, where abs/relu have a kink."""
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


def grid(rng, shape, offset=0.0):
    """Multiples of 0.25 (+ offset): two grids with different offsets never tie, and a grid
    with offset 0.1 stays 0.1 away from any bound that is a multiple of 0.25."""
    return rng.integers(-8, 9, shape) * 0.25 + offset


# name -> (function of two tensors, sampler of a, sampler of b)
BINARY = {
    "add": (td.add, uniform, uniform),
    "sub": (td.sub, uniform, uniform),
    "mul": (td.mul, uniform, uniform),
    "div": (td.div, uniform, signed),
    "pow": (td.pow, lambda r, s: uniform(r, s, 0.5, 2.0), uniform),
    "maximum": (td.maximum, grid, lambda r, s: grid(r, s, 0.1)),
    "minimum": (td.minimum, grid, lambda r, s: grid(r, s, 0.1)),
}

UNARY = {
    "neg": (td.neg, uniform),
    "exp": (td.exp, uniform),
    "log": (td.log, lambda r, s: uniform(r, s, 0.3, 3.0)),
    "sqrt": (td.sqrt, lambda r, s: uniform(r, s, 0.3, 3.0)),
    "abs": (td.abs, signed),
    "tanh": (td.tanh, uniform),
    "sigmoid": (td.sigmoid, lambda r, s: uniform(r, s, -4.0, 4.0)),
    "relu": (td.relu, signed),
    "gelu": (td.gelu, lambda r, s: uniform(r, s, -3.0, 3.0)),
    "clip": (lambda x: td.clip(x, -0.5, 1.0), lambda r, s: grid(r, s, 0.1)),
    "clip_low_only": (lambda x: td.clip(x, min=-0.5), lambda r, s: grid(r, s, 0.1)),
    "clip_high_only": (lambda x: td.clip(x, max=1.0), lambda r, s: grid(r, s, 0.1)),
}

NUMPY_BINARY = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide,
                "pow": np.power, "maximum": np.maximum, "minimum": np.minimum}


# ---- gradients -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BINARY))
@FAST
@given(shapes=PAIRS, seed=SEEDS)
def test_binary_op_gradient_matches_finite_differences_under_broadcasting(name, shapes, seed):
    fn, sample_a, sample_b = BINARY[name]
    rng = np.random.default_rng(seed)
    shape_a, shape_b = shapes.input_shapes
    a, b = leaf(sample_a(rng, shape_a)), leaf(sample_b(rng, shape_b))
    assert grad_check(fn, a, b)


@pytest.mark.parametrize("name", sorted(UNARY))
@FAST
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4), seed=SEEDS)
def test_unary_op_gradient_matches_finite_differences(name, shape, seed):
    fn, sample = UNARY[name]
    assert grad_check(fn, leaf(sample(np.random.default_rng(seed), shape)))


@FAST
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3),
       seed=SEEDS)
def test_where_gradient_flows_to_the_chosen_branch_under_broadcasting(shapes, seed):
    rng = np.random.default_rng(seed)
    shape_c, shape_a, shape_b = shapes.input_shapes
    cond = td.tensor(rng.random(shape_c) < 0.5)
    a, b = leaf(uniform(rng, shape_a)), leaf(uniform(rng, shape_b))
    assert grad_check(lambda x, y: td.where(cond, x, y), a, b)


@pytest.mark.parametrize("expr", [
    lambda x: x + 2.0, lambda x: 2.0 + x, lambda x: 3.0 - x, lambda x: x * 0.5,
    lambda x: 1.5 / x, lambda x: x / 4, lambda x: x**3, lambda x: 2.0**x,
    lambda x: np.full(x.shape, 0.5) * x, lambda x: np.ones(x.shape) - x,
], ids=["add", "radd", "rsub", "mul", "rtruediv", "truediv", "pow", "rpow", "array_mul",
        "array_rsub"])
def test_operator_with_a_constant_operand_has_the_right_gradient(expr):
    x = leaf(signed(np.random.default_rng(0), (2, 3), 0.5, 1.5))
    assert grad_check(expr, x)


def test_pow_gradient_wrt_exponent_is_zero_for_a_non_positive_base():
    base = td.tensor([-2.0, 0.0, 2.0], dtype="float64")
    exponent = td.tensor([2.0, 2.0, 2.0], dtype="float64", requires_grad=True)
    td.pow(base, exponent).sum().backward()
    np.testing.assert_allclose(exponent.grad.data, [0.0, 0.0, 4 * np.log(2.0)])


def test_maximum_splits_the_gradient_evenly_on_ties():
    a = td.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = td.tensor([1.0, 5.0, 0.0], requires_grad=True)
    td.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(b.grad.data, [0.5, 1.0, 0.0])


def test_minimum_splits_the_gradient_evenly_on_ties():
    a = td.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = td.tensor([1.0, 5.0, 0.0], requires_grad=True)
    td.minimum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [0.5, 1.0, 0.0])
    np.testing.assert_array_equal(b.grad.data, [0.5, 0.0, 1.0])


def test_clip_passes_no_gradient_to_clipped_values():
    x = td.tensor([-2.0, 0.0, 2.0], requires_grad=True)
    td.clip(x, -1.0, 1.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0, 0.0])


# ---- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(NUMPY_BINARY))
def test_binary_op_forward_equals_numpy_with_broadcasting(name):
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.5, 2.0, (2, 1, 3)), rng.uniform(0.5, 2.0, (4, 1))
    out = BINARY[name][0](td.tensor(a, dtype="float64"), td.tensor(b, dtype="float64"))
    np.testing.assert_allclose(out.data, NUMPY_BINARY[name](a, b))


def test_gelu_matches_the_tanh_approximation_reference_values():
    out = td.gelu(td.tensor([1.0, -0.5, 2.0], dtype="float64"), approximate="tanh")
    # torch.nn.functional.gelu(x, approximate="tanh") on the same inputs
    np.testing.assert_allclose(out.data, [0.8411919906082768, -0.15428599017485606,
                                          1.954597694087775], rtol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sigmoid_is_finite_and_saturates_at_large_magnitudes(dtype):
    x = td.tensor([-1e4, -100.0, 0.0, 100.0, 1e4], dtype=dtype, requires_grad=True)
    y = td.sigmoid(x)
    y.sum().backward()
    assert np.isfinite(y.data).all() and np.isfinite(x.grad.data).all()
    np.testing.assert_allclose(y.data, [0.0, 0.0, 0.5, 1.0, 1.0], atol=1e-30)
    assert x.grad.data[2] == 0.25 and x.grad.data[0] == 0.0


def test_where_takes_a_where_the_condition_holds_and_b_elsewhere():
    out = td.where(td.tensor([True, False, True]), td.tensor([1.0, 2.0, 3.0]), -1.0)
    np.testing.assert_array_equal(out.data, [1.0, -1.0, 3.0])


# ---- dtypes ----------------------------------------------------------------------------------


ALL_OPS = {**{k: v[0] for k, v in BINARY.items()},
           **{k: (lambda f: lambda x, y: f(x))(v[0]) for k, v in UNARY.items()},
           "where": lambda x, y: td.where(x.data > 1.0, x, y)}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(ALL_OPS))
def test_op_keeps_the_dtype_of_its_inputs_in_values_and_gradients(name, dtype):
    rng = np.random.default_rng(2)
    x = td.tensor(rng.uniform(0.5, 2.0, (2, 3)), dtype=dtype, requires_grad=True)
    y = td.tensor(rng.uniform(0.5, 2.0, (2, 3)), dtype=dtype, requires_grad=True)
    out = ALL_OPS[name](x, y)
    assert out.dtype == dtype
    for _ in range(2):  # the second backward accumulates into the existing .grad
        ALL_OPS[name](x, y).sum().backward()
    assert x.grad.dtype == dtype
    assert y.grad is None or y.grad.dtype == dtype


@pytest.mark.parametrize("scalar", [2, 2.5, np.float64(2.5)], ids=["int", "float", "np64"])
def test_python_scalar_operand_adopts_the_tensor_dtype(scalar):
    x = td.tensor([1.0, 2.0])
    assert (x * scalar).dtype == np.float32
    assert (scalar - x).dtype == np.float32
    assert (x / scalar).dtype == np.float32


@pytest.mark.parametrize("source, target", [("float32", "float64"), ("float64", "float32")])
def test_cast_between_floats_passes_the_gradient_back_in_the_source_dtype(source, target):
    x = td.tensor([1.0, -2.0, 3.0], dtype=source, requires_grad=True)
    y = td.cast(x, target)
    assert y.dtype == target and y.requires_grad
    (y * td.tensor([1.0, 2.0, 3.0], dtype=target)).sum().backward()
    assert x.grad.dtype == source
    np.testing.assert_array_equal(x.grad.data, [1.0, 2.0, 3.0])


def test_cast_to_the_same_dtype_returns_the_tensor_itself():
    x = td.tensor([1.0], requires_grad=True)
    assert td.cast(x, "float32") is x


def test_cast_to_an_integer_dtype_is_cut_from_the_graph():
    x = td.tensor([1.7, -2.2], requires_grad=True)
    y = x.long()
    assert y.dtype == np.int64 and not y.requires_grad
    np.testing.assert_array_equal(y.data, [1, -2])


# ---- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_op_rejects_shapes_that_do_not_broadcast(name):
    with pytest.raises(ValueError, match=rf"^{name}: shapes \(2, 3\) and \(4,\) cannot be "
                                         r"broadcast together$"):
        BINARY[name][0](td.zeros(2, 3), td.zeros(4))


def test_binary_op_rejects_a_list_operand_with_a_type_error():
    with pytest.raises(TypeError, match=r"^add: other must be a Tensor or a number, got list$"):
        td.add(td.zeros(2), [1.0, 2.0])


def test_where_rejects_a_non_boolean_condition():
    with pytest.raises(TypeError, match=r"^where: condition must be a boolean tensor, got "
                                        r"dtype float32$"):
        td.where(td.zeros(2), td.zeros(2), td.zeros(2))


def test_where_rejects_a_condition_that_does_not_broadcast():
    with pytest.raises(ValueError, match=r"^where: condition of shape \(3,\) cannot be "
                                         r"broadcast with the inputs$"):
        td.where(np.array([True, False, True]), td.zeros(2), td.zeros(2))


def test_clip_needs_a_bound():
    with pytest.raises(ValueError, match=r"^clip: at least one of min and max must be given$"):
        td.clip(td.zeros(2))


def test_clip_rejects_min_above_max():
    with pytest.raises(ValueError, match=r"^clip: min must be <= max, got min=2, max=1$"):
        td.clip(td.zeros(2), 2, 1)
