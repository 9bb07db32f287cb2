import numpy as np

import tinydyn as td


def test_gradient_through_a_tensor_used_directly_and_through_another_op():
    # x * log(x): x reaches the product both directly and through log; d/dx = log x + 1
    x = td.tensor([0.5, 2.0], dtype="float64", requires_grad=True)
    (x * x.log()).sum().backward()
    np.testing.assert_allclose(x.grad.data, np.log([0.5, 2.0]) + 1)


def test_gradient_through_a_long_and_a_short_path_to_the_same_leaf():
    x = td.tensor(1.5, dtype="float64", requires_grad=True)
    deep = x
    for _ in range(50):
        deep = deep * 1.0
    (deep + x).backward()
    assert x.grad.item() == 2.0


def test_python_floats_without_a_float_tensor_become_float32():
    cond = td.tensor([True, False])
    assert td.where(cond, 1.0, 0.0).dtype == np.float32


def test_unary_op_on_a_list_names_the_op_and_the_fix():
    import pytest

    with pytest.raises(TypeError, match=r"exp: input must be a Tensor, got list"):
        td.exp([1.0])
