"""matmul: values against NumPy, gradients for every operand layout, and errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinydyn as td
from tinydyn import grad_check

FAST = settings(derandomize=True, deadline=None, max_examples=25)
SEEDS = st.integers(0, 2**16)
SIDE = st.integers(1, 4)


def leaf(rng, shape) -> td.Tensor:
    return td.tensor(rng.standard_normal(shape), dtype="float64", requires_grad=True)


@FAST
@given(m=SIDE, k=SIDE, n=SIDE, seed=SEEDS)
def test_matmul_2d_gradient_matches_finite_differences(m, k, n, seed):
    rng = np.random.default_rng(seed)
    assert grad_check(td.matmul, leaf(rng, (m, k)), leaf(rng, (k, n)))


@FAST
@given(batch=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2,
                                               max_side=3),
       m=SIDE, k=SIDE, n=SIDE, seed=SEEDS)
def test_matmul_gradient_sums_over_broadcast_batch_dims(batch, m, k, n, seed):
    rng = np.random.default_rng(seed)
    batch_a, batch_b = batch.input_shapes
    a, b = leaf(rng, batch_a + (m, k)), leaf(rng, batch_b + (k, n))
    assert grad_check(td.matmul, a, b)


@pytest.mark.parametrize("shape_a, shape_b", [
    ((3,), (3,)),          # dot product
    ((3,), (3, 2)),        # vector @ matrix
    ((2, 3), (3,)),        # matrix @ vector
    ((3,), (4, 3, 2)),     # vector @ batch of matrices
    ((4, 2, 3), (3,)),     # batch of matrices @ vector
    ((2, 1, 2, 3), (4, 3, 2)),
])
def test_matmul_with_vectors_and_batches_has_the_right_gradient(shape_a, shape_b):
    rng = np.random.default_rng(0)
    assert grad_check(td.matmul, leaf(rng, shape_a), leaf(rng, shape_b))


@pytest.mark.parametrize("shape_a, shape_b", [
    ((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((5, 2, 3), (3, 4)), ((2, 1, 2, 3), (4, 3, 2)),
])
def test_matmul_forward_equals_numpy(shape_a, shape_b):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    out = td.matmul(td.tensor(a, dtype="float64"), td.tensor(b, dtype="float64"))
    assert out.shape == np.matmul(a, b).shape
    np.testing.assert_allclose(out.data, a @ b)


def test_matmul_operator_and_method_agree_with_the_function():
    a, b = td.randn(2, 3), td.randn(3, 4)
    np.testing.assert_array_equal((a @ b).data, td.matmul(a, b).data)
    np.testing.assert_array_equal(a.matmul(b).data, td.matmul(a, b).data)


def test_ndarray_at_tensor_returns_a_tensor_with_a_gradient():
    b = td.tensor(np.ones((3, 2)), requires_grad=True)
    out = np.ones((4, 3), dtype=np.float32) @ b
    assert isinstance(out, td.Tensor) and out.shape == (4, 2)
    out.sum().backward()
    np.testing.assert_array_equal(b.grad.data, np.full((3, 2), 4.0))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matmul_keeps_the_dtype_in_values_and_gradients(dtype):
    a = td.tensor(np.ones((2, 3)), dtype=dtype, requires_grad=True)
    b = td.tensor(np.ones((3,)), dtype=dtype, requires_grad=True)
    out = a @ b
    out.sum().backward()
    assert out.dtype == dtype and a.grad.dtype == dtype and b.grad.dtype == dtype


# ---- errors ----------------------------------------------------------------------------------


def test_matmul_rejects_inner_dimensions_that_do_not_align():
    with pytest.raises(ValueError, match=r"^matmul: shapes \(3, 4\) and \(5, 2\) do not align: "
                                         r"4 != 5$"):
        td.matmul(td.zeros(3, 4), td.zeros(5, 2))


def test_matmul_rejects_a_vector_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"^matmul: shapes \(2, 3\) and \(4,\) do not align: "
                                         r"3 != 4$"):
        td.matmul(td.zeros(2, 3), td.zeros(4))


def test_matmul_rejects_batch_dims_that_do_not_broadcast():
    with pytest.raises(ValueError, match=r"^matmul: batch dimensions of shapes \(2, 3, 4\) and "
                                         r"\(5, 4, 2\) cannot be broadcast$"):
        td.matmul(td.zeros(2, 3, 4), td.zeros(5, 4, 2))


def test_matmul_rejects_a_zero_dimensional_operand():
    with pytest.raises(ValueError, match=r"^matmul: both operands need at least 1 dimension, "
                                         r"got shapes \(\) and \(3,\)$"):
        td.matmul(td.tensor(2.0), td.zeros(3))


def test_matmul_rejects_a_list_operand_with_a_type_error():
    with pytest.raises(TypeError, match=r"^matmul: other must be a Tensor, got list$"):
        td.matmul(td.zeros(2, 2), [[1.0, 0.0], [0.0, 1.0]])


# ---- the fused linear op --------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3,), (4, 3), (2, 5, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradients_match_finite_differences(shape, bias):
    from tinydyn.autograd.ops_linalg import linear

    rng = np.random.default_rng(1)
    x, w = leaf(rng, shape), leaf(rng, (2, 3))
    if bias:
        assert grad_check(linear, x, w, leaf(rng, (2,)))
    else:
        assert grad_check(linear, x, w)


def test_linear_equals_matmul_plus_bias_forward_and_backward():
    from tinydyn.autograd.ops_linalg import linear

    rng = np.random.default_rng(2)
    x, w, b = leaf(rng, (2, 4, 3)), leaf(rng, (5, 3)), leaf(rng, (5,))
    g = rng.standard_normal((2, 4, 5))
    fused = linear(x, w, b)
    fused.backward(g)
    grads = [t.grad.data for t in (x, w, b)]
    for t in (x, w, b):
        t.grad = None
    composed = td.matmul(x, w.T) + b
    composed.backward(g)
    np.testing.assert_allclose(fused.data, composed.data, rtol=1e-13)
    for got, t in zip(grads, (x, w, b)):
        np.testing.assert_allclose(got, t.grad.data, rtol=1e-12, atol=1e-14)


def test_linear_skips_gradients_nobody_wants():
    from tinydyn.autograd.ops_linalg import linear

    rng = np.random.default_rng(3)
    x = td.tensor(rng.standard_normal((4, 3)))  # a constant input
    w, b = leaf(rng, (2, 3)), leaf(rng, (2,))
    linear(x, w, b).sum().backward()
    assert x.grad is None and w.grad.shape == (2, 3) and b.grad.shape == (2,)


def test_linear_flops_are_those_of_linear_flops():
    from tinydyn.autograd.ops_linalg import linear
    from tinydyn.measure import FlopCounter, linear_flops

    x, w, b = td.ones(6, 3), td.ones(2, 3), td.ones(2)
    with FlopCounter() as fc:
        linear(x, w, b)
        linear(x, w)
    assert fc.total == linear_flops(3, 2, rows=6) + linear_flops(3, 2, rows=6, bias=False)


@pytest.mark.parametrize("args, message", [
    ((np.ones((2, 3)), td.ones(2, 3)), "input must be a Tensor"),
    ((td.ones(2, 3), td.ones(3)), "weight must be 2-D"),
    ((td.ones(2, 4), td.ones(2, 3)), "last dimension must equal"),
    ((td.ones(2, 3), td.ones(2, 3), td.ones(3)), r"bias must have shape \(2,\)"),
    ((td.ones(2, 3), td.ones(2, 3, dtype="float64")), "dtype"),
])
def test_linear_bad_input_is_named(args, message):
    from tinydyn.autograd.ops_linalg import linear

    with pytest.raises((TypeError, ValueError), match=f"linear.*{message}"):
        linear(*args)
