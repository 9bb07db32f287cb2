"""Shape ops: values against NumPy, gradients over random shapes, and errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinydyn as td
from tinydyn import grad_check

FAST = settings(derandomize=True, deadline=None, max_examples=25)
SEEDS = st.integers(0, 2**16)
SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, max_side=3)


def leaf(rng, shape) -> td.Tensor:
    return td.tensor(rng.standard_normal(shape), dtype="float64", requires_grad=True)


def check_against_numpy(fn, reference, *arrays):
    """Forward equals ``reference`` on the arrays, and the gradient matches finite differences."""
    leaves = [td.tensor(a, dtype="float64", requires_grad=True) for a in arrays]
    out = fn(*leaves)
    expected = reference(*arrays)
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out.data, expected)
    assert grad_check(fn, *leaves)


# ---- reshape / permute / transpose -----------------------------------------------------------


@FAST
@given(shape=SHAPES, seed=SEEDS, data=st.data())
def test_reshape_with_an_inferred_dim_moves_values_in_row_major_order(shape, seed, data):
    size = int(np.prod(shape))
    first = data.draw(st.sampled_from([d for d in range(1, size + 1) if size % d == 0]))
    x = np.random.default_rng(seed).standard_normal(shape)
    check_against_numpy(lambda a: td.reshape(a, (first, -1)),
                        lambda a: a.reshape(first, -1), x)


@FAST
@given(shape=SHAPES, seed=SEEDS, data=st.data())
def test_permute_gradient_is_the_inverse_permutation(shape, seed, data):
    dims = tuple(data.draw(st.permutations(range(len(shape)))))
    x = np.random.default_rng(seed).standard_normal(shape)
    check_against_numpy(lambda a: td.permute(a, dims), lambda a: np.transpose(a, dims), x)


@FAST
@given(shape=SHAPES, seed=SEEDS, data=st.data())
def test_transpose_swaps_two_dims(shape, seed, data):
    d0 = data.draw(st.integers(-len(shape), len(shape) - 1))
    d1 = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = np.random.default_rng(seed).standard_normal(shape)
    check_against_numpy(lambda a: td.transpose(a, d0, d1), lambda a: np.swapaxes(a, d0, d1), x)


def test_tensor_methods_accept_shapes_as_varargs_or_a_tuple():
    x = td.zeros(2, 3, 4)
    assert x.reshape(6, 4).shape == x.view((6, -1)).shape == (6, 4)
    assert x.permute(2, 0, 1).shape == x.permute((2, 0, 1)).shape == (4, 2, 3)
    assert x.T.shape == (4, 3, 2) and x.transpose(0, 2).shape == (4, 3, 2)
    assert x.expand(5, 2, 3, 4).shape == x.broadcast_to((5, 2, 3, 4)).shape == (5, 2, 3, 4)


# ---- expand / broadcast_to -------------------------------------------------------------------


@FAST
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=1, max_dims=3, max_side=3),
       seed=SEEDS)
def test_expand_gradient_sums_over_the_expanded_dims(shapes, seed):
    (shape,), target = shapes.input_shapes, shapes.result_shape
    x = np.random.default_rng(seed).standard_normal(shape)
    check_against_numpy(lambda a: td.expand(a, target),
                        lambda a: np.broadcast_to(a, target), x)


def test_expand_minus_one_keeps_the_size_of_an_existing_dim():
    x = td.zeros(3, 1)
    assert td.expand(x, (2, -1, 4)).shape == (2, 3, 4)


def test_broadcast_to_is_expand():
    x = leaf(np.random.default_rng(0), (1, 3))
    assert grad_check(lambda a: td.broadcast_to(a, (2, 4, 3)), x)


# ---- squeeze / unsqueeze / flatten -----------------------------------------------------------


@FAST
@given(shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=2), seed=SEEDS,
       data=st.data())
def test_squeeze_removes_only_the_requested_size_one_dims(shape, seed, data):
    dim = data.draw(st.none() | st.integers(-max(len(shape), 1), max(len(shape), 1) - 1))
    x = np.random.default_rng(seed).standard_normal(shape)

    def reference(a):
        if dim is None:
            return np.squeeze(a)
        return np.squeeze(a, dim) if a.ndim and a.shape[dim] == 1 else a

    check_against_numpy(lambda a: td.squeeze(a, dim), reference, x)


def test_squeeze_accepts_a_tuple_of_dims():
    assert td.squeeze(td.zeros(1, 2, 1, 1), (0, -1)).shape == (2, 1)


@FAST
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=3), seed=SEEDS, data=st.data())
def test_unsqueeze_inserts_a_size_one_dim(shape, seed, data):
    dim = data.draw(st.integers(-len(shape) - 1, len(shape)))
    x = np.random.default_rng(seed).standard_normal(shape)
    check_against_numpy(lambda a: td.unsqueeze(a, dim), lambda a: np.expand_dims(a, dim), x)


@FAST
@given(shape=SHAPES, seed=SEEDS, data=st.data())
def test_flatten_merges_the_dims_from_start_to_end(shape, seed, data):
    n = len(shape)
    start = data.draw(st.integers(0, n - 1))
    end = data.draw(st.integers(start, n - 1))
    x = np.random.default_rng(seed).standard_normal(shape)
    merged = shape[:start] + (-1,) + shape[end + 1:]
    check_against_numpy(lambda a: td.flatten(a, start, end), lambda a: a.reshape(merged), x)


def test_flatten_of_a_scalar_gives_one_element():
    assert td.flatten(td.tensor(3.0)).shape == (1,)


# ---- cat / stack -----------------------------------------------------------------------------


@FAST
@given(shape=SHAPES, sizes=st.lists(st.integers(0, 3), min_size=1, max_size=4), seed=SEEDS,
       data=st.data())
def test_cat_gives_each_input_back_its_slab_of_the_gradient(shape, sizes, seed, data):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    d = dim % len(shape)
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(shape[:d] + (k,) + shape[d + 1:]) for k in sizes]
    check_against_numpy(lambda *ts: td.cat(list(ts), dim),
                        lambda *arr: np.concatenate(arr, axis=dim), *arrays)


@FAST
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=3),
       count=st.integers(1, 3), seed=SEEDS, data=st.data())
def test_stack_gives_each_input_back_its_slice_of_the_gradient(shape, count, seed, data):
    dim = data.draw(st.integers(-len(shape) - 1, len(shape)))
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(shape) for _ in range(count)]
    check_against_numpy(lambda *ts: td.stack(ts, dim),
                        lambda *arr: np.stack(arr, axis=dim), *arrays)


def test_cat_mixes_tensors_with_and_without_grad():
    a = td.ones(2, requires_grad=True)
    out = td.cat([a, td.zeros(3)])
    out.sum().backward()
    assert out.shape == (5,) and a.grad.tolist() == [1.0, 1.0]


# ---- pad -------------------------------------------------------------------------------------


@FAST
@given(shape=SHAPES, seed=SEEDS, data=st.data())
def test_pad_matches_numpy_constant_padding_from_the_last_dim(shape, seed, data):
    pairs = data.draw(st.integers(1, len(shape)))
    widths = data.draw(st.lists(st.integers(0, 2), min_size=2 * pairs, max_size=2 * pairs))
    value = data.draw(st.sampled_from([0.0, -1.5]))
    x = np.random.default_rng(seed).standard_normal(shape)
    numpy_widths = [(0, 0)] * (len(shape) - pairs) + [
        (widths[2 * k], widths[2 * k + 1]) for k in reversed(range(pairs))]
    check_against_numpy(lambda a: td.pad(a, tuple(widths), value),
                        lambda a: np.pad(a, numpy_widths, constant_values=value), x)


def test_pad_with_negative_widths_crops():
    x = np.arange(12.0).reshape(3, 4)
    check_against_numpy(lambda a: td.pad(a, (-1, 2, 1, -2)),
                        lambda a: np.pad(a[:1, 1:], [(1, 0), (0, 2)]), x)


def test_pad_keeps_the_dtype_and_casts_the_value_to_it():
    out = td.pad(td.zeros(2, dtype="float32"), (1, 0), value=2.5)
    assert out.dtype == np.float32 and out.tolist() == [2.5, 0.0, 0.0]


# ---- dtypes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("op", [
    lambda x: x.reshape(-1), lambda x: x.T, lambda x: x.expand(2, 2, 3), lambda x: x.squeeze(),
    lambda x: x.unsqueeze(0), lambda x: x.flatten(), lambda x: td.cat([x, x], 1),
    lambda x: td.stack([x, x]), lambda x: td.pad(x, (1, 1)),
], ids=["reshape", "T", "expand", "squeeze", "unsqueeze", "flatten", "cat", "stack", "pad"])
def test_shape_op_keeps_float32_in_values_and_gradients(op):
    x = td.ones(2, 3, requires_grad=True)
    out = op(x)
    out.sum().backward()
    assert out.dtype == np.float32 and x.grad.dtype == np.float32 and x.grad.shape == (2, 3)


# ---- errors ----------------------------------------------------------------------------------


def test_reshape_rejects_a_shape_with_the_wrong_number_of_elements():
    with pytest.raises(ValueError, match=r"^reshape: cannot reshape a tensor of shape \(2, 3\) "
                                         r"\(6 elements\) into shape \(4, -1\)$"):
        td.reshape(td.zeros(2, 3), (4, -1))


def test_reshape_rejects_two_inferred_dims():
    with pytest.raises(ValueError, match=r"^reshape: cannot reshape .* into shape \(-1, -1\)$"):
        td.reshape(td.zeros(2, 3), (-1, -1))


def test_reshape_rejects_a_float_size_with_a_type_error():
    with pytest.raises(TypeError, match=r"^reshape: shape must contain only ints, got float 3.0 "
                                        r"in \(2, 3.0\)$"):
        td.reshape(td.zeros(2, 3), (2, 3.0))


def test_permute_rejects_dims_that_are_not_a_permutation():
    with pytest.raises(ValueError, match=r"^permute: dims must be a permutation of 0..2, got "
                                         r"\(0, 0, 1\)$"):
        td.permute(td.zeros(2, 3, 4), (0, 0, 1))


def test_transpose_rejects_an_out_of_range_dim():
    with pytest.raises(ValueError, match=r"^transpose: dim1=2 is out of range for a tensor "
                                         r"with 2 dimensions$"):
        td.transpose(td.zeros(2, 3), 0, 2)


def test_expand_rejects_a_dim_that_is_neither_one_nor_the_target():
    with pytest.raises(ValueError, match=r"^expand: cannot expand input shape \(2, 3\) to "
                                         r"\(4, 3\): dimension 0 has size 2, which is not 1 and "
                                         r"not 4$"):
        td.expand(td.zeros(2, 3), (4, 3))


def test_expand_rejects_fewer_dims_than_the_input():
    with pytest.raises(ValueError, match=r"^expand: the target shape \(3,\) has fewer "
                                         r"dimensions than the input shape \(2, 3\)$"):
        td.expand(td.zeros(2, 3), (3,))


def test_expand_rejects_minus_one_for_a_new_leading_dim():
    with pytest.raises(ValueError, match=r"^expand: target size -1 in dimension 0 of shape "
                                         r"\(-1, 3\) is invalid"):
        td.expand(td.zeros(3), (-1, 3))


def test_unsqueeze_rejects_an_out_of_range_dim():
    with pytest.raises(ValueError, match=r"^unsqueeze: dim=3 is out of range for a tensor with 3 "
                                         r"dimensions$"):
        td.unsqueeze(td.zeros(2, 3), 3)


def test_flatten_rejects_start_after_end():
    with pytest.raises(ValueError, match=r"^flatten: start_dim=2 must not come after end_dim=1 "
                                         r"for a tensor with 3 dimensions$"):
        td.flatten(td.zeros(2, 3, 4), 2, 1)


def test_cat_rejects_mismatched_shapes_outside_dim():
    with pytest.raises(ValueError, match=r"^cat: tensors\[1\] has shape \(3, 2\) but tensors\[0\] "
                                         r"has shape \(2, 2\): they must match in every "
                                         r"dimension except dim 1$"):
        td.cat([td.zeros(2, 2), td.zeros(3, 2)], dim=1)


def test_cat_rejects_an_empty_list():
    with pytest.raises(ValueError, match=r"^cat: tensors must not be empty$"):
        td.cat([])


def test_cat_rejects_a_single_tensor_instead_of_a_list():
    with pytest.raises(TypeError, match=r"^cat: tensors must be a list or tuple of Tensors, got "
                                        r"Tensor$"):
        td.cat(td.zeros(2))


def test_cat_rejects_mixed_dtypes():
    with pytest.raises(TypeError, match=r"^cat: all tensors must have the same dtype: "
                                        r"tensors\[0\] is float32, tensors\[1\] is float64$"):
        td.cat([td.zeros(2), td.zeros(2, dtype="float64")])


def test_cat_rejects_zero_dimensional_tensors():
    with pytest.raises(ValueError, match=r"^cat: zero-dimensional tensors cannot be "
                                         r"concatenated \(use stack\)$"):
        td.cat([td.tensor(1.0), td.tensor(2.0)])


def test_stack_rejects_tensors_of_different_shapes():
    with pytest.raises(ValueError, match=r"^stack: all tensors must have the same shape: "
                                         r"tensors\[0\] has shape \(2,\), tensors\[1\] has "
                                         r"shape \(3,\)$"):
        td.stack([td.zeros(2), td.zeros(3)])


def test_pad_rejects_an_odd_number_of_widths():
    with pytest.raises(ValueError, match=r"^pad: pad must have an even length \(\(left, right\) "
                                         r"pairs\), got 3: \(1, 1, 1\)$"):
        td.pad(td.zeros(2, 2), (1, 1, 1))


def test_pad_rejects_more_pairs_than_dims():
    with pytest.raises(ValueError, match=r"^pad: pad \(1, 1, 1, 1\) has 2 \(left, right\) pairs "
                                         r"but the input has only 1 dimensions \(shape \(2,\)\)$"):
        td.pad(td.zeros(2), (1, 1, 1, 1))


def test_pad_rejects_a_crop_larger_than_the_dim():
    with pytest.raises(ValueError, match=r"^pad: pad \(-2, -1\) would give dimension 0 \(size 2\) "
                                         r"a negative size -1$"):
        td.pad(td.zeros(2), (-2, -1))


def test_pad_rejects_a_non_numeric_value():
    with pytest.raises(TypeError, match=r"^pad: value must be a number, got str 'x'$"):
        td.pad(td.zeros(2), (1, 1), value="x")
