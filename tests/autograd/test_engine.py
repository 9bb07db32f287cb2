"""The engine (function.py, tensor.py): recording, backward, accumulation, freeing, no_grad,
dtypes of constants, operator dispatch, and grad_check itself."""

import numpy as np
import pytest

import tinydyn as td
from tinydyn.autograd import Function, unbroadcast


def test_two_backward_calls_accumulate_into_leaf_grads():
    x = td.tensor([1.0, 2.0], requires_grad=True)
    (x * 3.0).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0 + 2.0, 3.0 + 4.0])


def test_zero_grad_starts_accumulation_over():
    x = td.tensor([1.0], requires_grad=True)
    (x * 3.0).sum().backward()
    x.zero_grad()
    (x * 5.0).sum().backward()
    assert x.grad.tolist() == [5.0]


def test_a_node_used_twice_receives_the_sum_of_both_paths():
    # diamond: x -> y -> (y * 2, y * y) -> sum; d/dx = (2 + 2y) * dy/dx with y = 3x
    x = td.tensor([1.0, -2.0], dtype="float64", requires_grad=True)
    y = x * 3.0
    (y * 2.0 + y * y).sum().backward()
    np.testing.assert_allclose(x.grad.data, (2 + 2 * 3 * x.data) * 3)


def test_the_same_tensor_as_both_operands_gets_both_gradients():
    x = td.tensor([3.0], requires_grad=True)
    (x * x).backward()
    assert x.grad.item() == 6.0


def test_backward_through_a_5000_step_chain_does_not_recurse():
    x = td.tensor([1.0], dtype="float64", requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.sum().backward()
    assert x.grad.item() == pytest.approx(1.0001**5000)
    del y  # freeing the deep chain must not overflow the stack either


def test_second_backward_through_a_freed_graph_raises_a_clear_error():
    x = td.tensor([1.0, 2.0], requires_grad=True)
    out = (x * x).sum()
    out.backward()
    with pytest.raises(RuntimeError, match=r"^backward: the graph through Sum was already freed "
                                           r"by an earlier backward\(\); pass retain_graph=True"):
        out.backward()


def test_retain_graph_allows_a_second_backward():
    x = td.tensor([1.0, 2.0], requires_grad=True)
    out = (x * x).sum()
    out.backward(retain_graph=True)
    out.backward()
    np.testing.assert_array_equal(x.grad.data, [4.0, 8.0])


def test_backward_of_a_non_scalar_without_grad_raises():
    x = td.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"^backward: grad can be omitted only for a "
                                           r"single-element tensor, got shape \(2,\)"):
        (x * 2.0).backward()


def test_backward_of_a_non_scalar_with_an_explicit_grad_weights_the_outputs():
    x = td.tensor([1.0, 2.0], requires_grad=True)
    (x * 2.0).backward(td.tensor([1.0, 10.0]))
    assert x.grad.tolist() == [2.0, 20.0]


def test_backward_rejects_a_grad_of_the_wrong_shape():
    x = td.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"^backward: grad has shape \(3,\) but the tensor has "
                                         r"shape \(2,\)$"):
        (x * 2.0).backward(np.ones(3))


def test_backward_of_a_tensor_that_does_not_require_grad_raises():
    with pytest.raises(RuntimeError, match=r"^backward: this tensor does not require grad"):
        (td.tensor([1.0]) * 2.0).backward()


def test_leaves_that_share_an_upstream_gradient_get_independent_copies():
    a = td.tensor([1.0], requires_grad=True)
    b = td.tensor([1.0], requires_grad=True)
    (a + b).backward()
    a.grad.data += 5.0
    assert b.grad.item() == 1.0


def test_only_leaves_keep_a_grad():
    x = td.tensor([1.0], requires_grad=True)
    y = x * 2.0
    (y * 3.0).backward()
    assert y.grad is None and not y.is_leaf and x.is_leaf


# ---- no_grad ---------------------------------------------------------------------------------


def test_no_grad_records_nothing():
    x = td.tensor([1.0], requires_grad=True)
    with td.no_grad():
        y = x * 2.0
    assert not y.requires_grad and y.is_leaf
    assert td.is_grad_enabled()


def test_no_grad_works_as_a_decorator():
    @td.no_grad()
    def double(t):
        assert not td.is_grad_enabled()
        return t * 2.0

    y = double(td.tensor([1.0], requires_grad=True))
    assert not y.requires_grad and td.is_grad_enabled()


def test_no_grad_restores_recording_after_an_exception():
    with pytest.raises(KeyError), td.no_grad():
        raise KeyError("boom")
    assert td.is_grad_enabled()


def test_enable_grad_records_inside_no_grad():
    x = td.tensor([1.0], requires_grad=True)
    with td.no_grad(), td.enable_grad():
        y = x * 2.0
    assert y.requires_grad


def test_detach_cuts_the_graph_but_shares_the_values():
    x = td.tensor([1.0], requires_grad=True)
    d = (x * 2.0).detach()
    assert not d.requires_grad and d.is_leaf and d.item() == 2.0


# ---- constants, dtypes and operator dispatch -------------------------------------------------


@pytest.mark.parametrize("expr", [lambda x: x * 2.0, lambda x: 2.0 * x, lambda x: x + 1,
                                  lambda x: 1 - x, lambda x: x / 3.0, lambda x: 3.0 / x,
                                  lambda x: x**2, lambda x: 2.0**x],
                         ids=["mul", "rmul", "add", "rsub", "div", "rdiv", "pow", "rpow"])
def test_python_scalars_keep_float32(expr):
    x = td.tensor([1.0, 2.0], requires_grad=True)
    out = expr(x)
    out.sum().backward()
    assert out.dtype == np.float32 and x.grad.dtype == np.float32


def test_python_scalars_keep_float64_for_float64_tensors():
    assert (td.tensor([1.0], dtype="float64") * 0.1).dtype == np.float64


def test_ndarray_times_tensor_returns_a_tensor_with_a_gradient():
    x = td.tensor([1.0, 2.0], requires_grad=True)
    out = np.array([3.0, 4.0], dtype=np.float32) * x
    assert isinstance(out, td.Tensor)
    out.sum().backward()
    assert x.grad.tolist() == [3.0, 4.0]


@pytest.mark.parametrize("op", ["__add__", "__sub__", "__truediv__"])
def test_ndarray_on_the_left_of_any_operator_defers_to_the_tensor(op):
    out = getattr(np.ones(2, dtype=np.float32), op)(td.tensor([2.0, 4.0]))
    assert out is NotImplemented  # so Python falls back to Tensor's reflected operator


def test_comparisons_give_boolean_tensors_outside_the_graph():
    x = td.tensor([1.0, 3.0], requires_grad=True)
    mask = x > 2.0
    assert mask.dtype == np.bool_ and not mask.requires_grad and mask.tolist() == [False, True]


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match=r"^Tensor: only floating-point tensors can require "
                                        r"grad, got dtype int64$"):
        td.tensor([1, 2], requires_grad=True)


# ---- Function and unbroadcast ----------------------------------------------------------------


class _ScaleBy(Function):
    """A custom op with a non-differentiable keyword option."""

    @staticmethod
    def forward(ctx, a, factor=1.0):
        ctx.factor = factor
        return a * factor

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.factor


def test_a_user_function_with_a_keyword_option_is_differentiable():
    x = td.tensor([1.0, 2.0], requires_grad=True)
    _ScaleBy.apply(x, factor=4.0).sum().backward()
    assert x.grad.tolist() == [4.0, 4.0]


def test_a_backward_returning_the_wrong_number_of_gradients_is_reported():
    class Broken(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, grad):
            return grad

    x = td.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"^backward: Broken.backward returned 1 gradients "
                                           r"for 2 inputs$"):
        Broken.apply(x, x).sum().backward()


@pytest.mark.parametrize("grad_shape, shape", [((2, 3), (3,)), ((2, 3), (2, 1)),
                                               ((4, 2, 3), (1, 3)), ((2, 3), ())])
def test_unbroadcast_sums_over_broadcast_axes(grad_shape, shape):
    grad = np.arange(np.prod(grad_shape), dtype=np.float64).reshape(grad_shape)
    out = unbroadcast(grad, shape)
    assert out.shape == shape
    assert out.sum() == grad.sum()


def test_grad_check_reports_a_wrong_backward_with_the_input_and_index():
    class WrongSquare(Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, grad):
            (a,) = ctx.saved
            return grad * a  # missing the factor 2

    x = td.tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    with pytest.raises(AssertionError, match=r"^grad_check: gradient of input 0 \(shape \(2,\)\) "
                                             r"is wrong at index"):
        td.grad_check(WrongSquare.apply, x)
