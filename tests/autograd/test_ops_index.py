"""Indexing ops: forward against NumPy/explicit loops, float64 gradient checks, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinydyn as td
from tinydyn import Tensor, grad_check
from tinydyn.autograd.ops_index import IndexOutOfRangeError
from tinydyn.kernels.backend import use_backend

FAST = settings(derandomize=True, deadline=None, max_examples=25)
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


def leaf(rng, *shape, dtype=np.float64):
    return Tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)


# ---- getitem --------------------------------------------------------------------------------

BASIC_AND_ADVANCED = [
    (1,), (-1, slice(2, None)), (slice(None, None, 2), None, Ellipsis, 1),
    (slice(1, 3), slice(None, None, -1)), (Ellipsis, 0), (slice(None), [0, 0, 3]),
    ([3, 3, 0], slice(1, 4, 2), [2, 2, 1]), (np.array([[1, 1], [0, 2]]),),
    (None, 2, Ellipsis), (), (Ellipsis,),
]


@pytest.mark.parametrize("index", BASIC_AND_ADVANCED, ids=repr)
def test_getitem_forward_matches_numpy(index):
    a = leaf(np.random.default_rng(0), 4, 5, 3)
    np.testing.assert_array_equal(td.getitem(a, index).data, a.data[index])


@pytest.mark.parametrize("index", BASIC_AND_ADVANCED, ids=repr)
def test_getitem_gradient(index):
    a = leaf(np.random.default_rng(1), 4, 5, 3)
    assert grad_check(lambda x: x[index], a)


def test_getitem_boolean_mask_gradient():
    a = leaf(np.random.default_rng(2), 4, 3)
    mask = Tensor(a.data > 0)
    np.testing.assert_array_equal(a[mask].data, a.data[a.data > 0])
    assert grad_check(lambda x: x[mask], a)
    assert grad_check(lambda x: x[np.array([True, False, True, True])], a)


@FAST
@given(shape=shapes, n=st.integers(0, 8), seed=st.integers(0, 2**16))
def test_getitem_integer_array_on_axis0_gradient_with_repeats(shape, n, seed):
    rng = np.random.default_rng(seed)
    a = leaf(rng, *shape)
    index = rng.integers(-shape[0], shape[0], size=n)
    np.testing.assert_array_equal(a[index].data, a.data[index])
    assert grad_check(lambda x: x[index], a)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_getitem_row_gather_backward_accumulates_repeats(backend):
    a = Tensor(np.zeros((3, 2), dtype=np.float32), requires_grad=True)
    with use_backend(backend):
        a[[2, 0, 2, -1]].sum().backward()
    assert a.grad.dtype == np.float32
    np.testing.assert_array_equal(a.grad.data, [[1, 1], [0, 0], [3, 3]])


def test_getitem_keeps_float32():
    a = Tensor(np.ones((3, 4), dtype=np.float32), requires_grad=True)
    out = a[1:, [0, 0]]
    out.sum().backward()
    assert out.dtype == np.float32 and a.grad.dtype == np.float32


def test_iterating_over_a_tensor_stops_at_its_length():
    a = Tensor(np.arange(6.0).reshape(3, 2))
    assert [row.tolist() for row in a] == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]


@pytest.mark.parametrize(
    "index, exc, message",
    [
        (3, IndexOutOfRangeError,
         r"getitem: index value 3 is out of range for dimension 0 of size 3: "
         r"expected -3 <= index < 3"),
        ((0, [4]), ValueError, r"getitem: index value 4 is out of range for dimension 1 of size 4"),
        (1.0, TypeError, r"getitem: index entries must be .* got float 1.0"),
        ([0.5], TypeError, r"getitem: index arrays must be integer or boolean, got dtype float64"),
        (slice(0.0, 2), TypeError,
         r"getitem: slice start, stop and step must be ints or None, got float 0.0"),
        (slice(None, None, 0), ValueError, r"getitem: slice step must not be zero"),
        ((0, 0, 0), IndexError, r"getitem: too many indices for a tensor of shape \(3, 4\)"),
        ((Ellipsis, Ellipsis), ValueError, r"getitem: an index can only have a single ellipsis"),
        (np.array([True, False]), ValueError,
         r"getitem: boolean mask of shape \(2,\) does not match the indexed dimensions 0..0 "
         r"of shape \(3,\)"),
        (True, TypeError, r"getitem: a bool is not an index"),
    ],
)
def test_getitem_bad_index_raises_clear_error(index, exc, message):
    a = Tensor(np.zeros((3, 4)))
    with pytest.raises(exc, match=message):
        a[index]


# ---- gather / take_along_dim ----------------------------------------------------------------


@FAST
@given(shape=shapes, data=st.data(), seed=st.integers(0, 2**16))
def test_gather_matches_loop_and_gradient(shape, data, seed):
    rng = np.random.default_rng(seed)
    dim = data.draw(st.integers(0, len(shape) - 1))
    # index may be smaller than the input outside dim, and any length along dim (repeats)
    index_shape = tuple(data.draw(st.integers(1, n)) if k != dim else data.draw(st.integers(1, 5))
                        for k, n in enumerate(shape))
    index = rng.integers(0, shape[dim], size=index_shape)
    a = leaf(rng, *shape)
    out = td.gather(a, dim, index)
    for pos in np.ndindex(*index_shape):
        source = list(pos)
        source[dim] = index[pos]
        assert out.data[pos] == a.data[tuple(source)]
    assert grad_check(lambda x: x.gather(dim, index), a)


def _without(shape, dim):
    return shape[:dim] + (1,) + shape[dim + 1:]


@pytest.mark.parametrize(
    "a_shape, index_shape, dim, out_shape",
    [((1, 5), (3, 2), 1, (3, 2)), ((4, 5), (1, 7), 1, (4, 7)),
     ((4, 1, 3), (2, 6, 1), 0, (2, 6, 3)), ((2, 3), (2, 3), -1, (2, 3))],
)
def test_take_along_dim_broadcasts_and_gradient(a_shape, index_shape, dim, out_shape):
    rng = np.random.default_rng(3)
    a = leaf(rng, *a_shape)
    index = rng.integers(0, a_shape[dim], size=index_shape)
    out = td.take_along_dim(a, Tensor(index), dim)
    assert out.shape == out_shape
    # torch semantics: broadcast input and indices everywhere but dim, then gather
    d = dim % len(a_shape)
    outer = np.broadcast_shapes(_without(a_shape, d), _without(index_shape, d))
    expected = np.take_along_axis(
        np.broadcast_to(a.data, outer[:d] + (a_shape[d],) + outer[d + 1:]),
        np.broadcast_to(index, outer[:d] + (index_shape[d],) + outer[d + 1:]), axis=d)
    np.testing.assert_array_equal(out.data, expected)
    assert grad_check(lambda x: td.take_along_dim(x, index, dim), a)


def test_take_along_dim_without_dim_uses_the_flattened_input():
    a = leaf(np.random.default_rng(4), 3, 4)
    index = np.array([11, 0, 0, 5])
    np.testing.assert_array_equal(td.take_along_dim(a, index).data, a.data.reshape(-1)[index])
    assert grad_check(lambda x: x.take_along_dim(index, None), a)


def test_gather_takes_argmax_like_torch():
    a = Tensor(np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]]))
    np.testing.assert_array_equal(td.gather(a, 1, [[1], [0]]).data, [[5.0], [7.0]])


# ---- embedding ------------------------------------------------------------------------------


@FAST
@given(rows=st.integers(1, 6), width=st.integers(1, 4), index_shape=shapes,
       seed=st.integers(0, 2**16))
def test_embedding_matches_row_lookup_and_gradient(rows, width, index_shape, seed):
    rng = np.random.default_rng(seed)
    weight = leaf(rng, rows, width)
    indices = rng.integers(0, rows, size=index_shape)  # repeats are frequent with few rows
    out = td.embedding(indices, weight)
    assert out.shape == index_shape + (width,)
    np.testing.assert_array_equal(out.data, weight.data[indices])
    assert grad_check(lambda w: td.embedding(indices, w), weight)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("padding_idx", [1, -3])
def test_embedding_padding_row_gets_no_gradient(backend, padding_idx):
    rng = np.random.default_rng(7)
    weight = Tensor(rng.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    indices = Tensor(np.array([[1, 0, 1], [2, 1, 0]]))
    with use_backend(backend):
        td.embedding(indices, weight, padding_idx=padding_idx).sum().backward()
    counts = np.bincount(indices.data.ravel(), minlength=4).astype(np.float32)
    counts[1] = 0.0
    assert weight.grad.dtype == np.float32
    np.testing.assert_array_equal(weight.grad.data, np.repeat(counts[:, None], 3, axis=1))


@pytest.mark.parametrize("indices", [[0, 2], np.array([0, 2]), Tensor(np.array([0, 2]))],
                         ids=["list", "ndarray", "Tensor"])
def test_embedding_in_the_old_weight_first_order_is_refused(indices):
    # embedding(weight, indices) was this function's order before it followed PyTorch's
    with pytest.raises(TypeError, match=r"embedding: the arguments are \(input, weight\) as in "
                       r"torch.nn.functional.embedding.*swap them"):
        td.embedding(A, indices)


def test_embedding_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    weight, indices = rng.standard_normal((6, 3)), rng.integers(0, 6, (2, 5))
    upstream = rng.standard_normal((2, 5, 3))
    ours = Tensor(weight, requires_grad=True)
    mine = td.embedding(indices, ours, padding_idx=2)
    mine.backward(upstream)
    theirs = torch.tensor(weight, requires_grad=True)
    out = torch.nn.functional.embedding(torch.tensor(indices), theirs, padding_idx=2)
    out.backward(torch.tensor(upstream))
    np.testing.assert_array_equal(mine.data, out.detach().numpy())  # both copy rows: exact
    # gradients are sums of upstream rows, in an order that may differ: a tolerance
    np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy(), rtol=1e-12, atol=1e-14)


# ---- errors ---------------------------------------------------------------------------------

A = Tensor(np.zeros((3, 4)))


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (lambda: td.gather(A, 1, [[4]]), ValueError,
         r"gather: index value 4 is out of range for dimension 1 of size 4: "
         r"expected 0 <= index < 4"),
        (lambda: td.gather(A, 0, [[-1]]), IndexError, r"gather: index value -1 is out of range"),
        (lambda: td.gather(A, 0, [[0.0]]), TypeError,
         r"gather: index must be an integer tensor of indices, got dtype float64"),
        (lambda: td.gather(A, 0, [0]), ValueError,
         r"gather: index must have as many dimensions as the input \(2\), got shape \(1,\)"),
        (lambda: td.gather(A, 0, np.zeros((1, 5), dtype=int)), ValueError,
         r"gather: index shape \(1, 5\) is larger than input shape \(3, 4\) in dimension 1"),
        (lambda: td.gather(A, 2, [[0]]), ValueError,
         r"gather: dim=2 is out of range for a tensor with 2 dimensions"),
        (lambda: td.gather(A, 0.0, [[0]]), TypeError, r"gather: dim must be an int, got float"),
        (lambda: td.take_along_dim(A, np.zeros((2, 3), dtype=int), 0), ValueError,
         r"take_along_dim: input shape \(3, 4\) and indices shape \(2, 3\) do not broadcast "
         r"outside dimension 0"),
        (lambda: td.take_along_dim(A, np.array([[1.5]]), 0), TypeError,
         r"take_along_dim: indices must be an integer tensor"),
        (lambda: td.scatter_add(A, 0, [[3]], Tensor(np.ones((1, 1)))), ValueError,
         r"scatter_add: index value 3 is out of range for dimension 0 of size 3"),
        (lambda: td.scatter_add(A, 0, [[0, 0]], Tensor(np.ones((1, 1)))), ValueError,
         r"scatter_add: index shape \(1, 2\) is larger than src shape \(1, 1\)"),
        (lambda: td.scatter_add(A, 0, [[0]], Tensor(np.ones((1, 1), np.float32))), TypeError,
         r"scatter_add: src must have the dtype of the input \(float64\), got dtype float32"),
        (lambda: td.scatter_add(A, 0, [[0]], 1.0), TypeError,
         r"scatter_add: src must be a Tensor, got float"),
        (lambda: td.index_add(A, 0, [0, 3], Tensor(np.ones((2, 4)))), ValueError,
         r"index_add: index value 3 is out of range for dimension 0 of size 3: "
         r"expected 0 <= index < 3"),
        (lambda: td.index_add(A, 1, [0], Tensor(np.ones((3, 2)))), ValueError,
         r"index_add: source must have shape \(3, 1\) .* got shape \(3, 2\)"),
        (lambda: td.index_add(A, 0, [[0]], Tensor(np.ones((1, 4)))), ValueError,
         r"index_add: index must be 1-D, got shape \(1, 1\)"),
        (lambda: td.index_add(A, 0, "0", Tensor(np.ones((1, 4)))), TypeError,
         r"index_add: index must be a Tensor, ndarray or list of ints, got str"),
        (lambda: td.masked_fill(A, np.ones((3, 4)), 0.0), TypeError,
         r"masked_fill: mask must be boolean, got dtype float64"),
        (lambda: td.masked_fill(A, np.ones(3, dtype=bool), 0.0), ValueError,
         r"masked_fill: mask of shape \(3,\) does not broadcast with input shape \(3, 4\)"),
        (lambda: td.masked_fill(A, [True], 0.0), TypeError,
         r"masked_fill: mask must be a boolean Tensor or ndarray, got list"),
        (lambda: td.masked_fill(A, np.ones((3, 4), dtype=bool), "x"), TypeError,
         r"masked_fill: value must be a number or a 0-d Tensor, got str 'x'"),
        (lambda: td.masked_fill(A, np.ones((3, 4), dtype=bool), Tensor(np.ones(2))), ValueError,
         r"masked_fill: value must be a number or a 0-d Tensor, got a Tensor of shape \(2,\)"),
        (lambda: td.embedding([[3]], A), ValueError,
         r"embedding: input value 3 is out of range for a weight with 3 rows: "
         r"expected 0 <= input < 3"),
        (lambda: td.embedding(Tensor(np.array([0.0])), A), TypeError,
         r"embedding: input must be an integer tensor of indices, got dtype float64"),
        (lambda: td.embedding([0], Tensor(np.zeros(3))), ValueError,
         r"embedding: weight must be 2-D \(num_embeddings, embedding_dim\), got shape \(3,\)"),
        (lambda: td.embedding([0], A, padding_idx=3), ValueError,
         r"embedding: padding_idx=3 is out of range for a weight with 3 rows: "
         r"expected -3 <= padding_idx < 3"),
        (lambda: td.embedding([0], A, padding_idx=1.0), TypeError,
         r"embedding: padding_idx must be an int or None, got float 1.0"),
        (lambda: td.embedding([0], A.data), TypeError,
         r"embedding: weight must be a Tensor, got ndarray"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
