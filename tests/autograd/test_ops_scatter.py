"""Indexing ops that write by index (scatter_add, index_add, masked_fill): forward against
NumPy/explicit loops, float64 gradient checks. Their bad-argument errors are tested with the
other indexing ops' in test_ops_index.py."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinydyn as td
from tinydyn import Tensor, grad_check
from tinydyn.kernels.backend import use_backend

FAST = settings(derandomize=True, deadline=None, max_examples=25)
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


def leaf(rng, *shape, dtype=np.float64):
    return Tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)


# ---- scatter_add / index_add ----------------------------------------------------------------


@FAST
@given(shape=shapes, data=st.data(), seed=st.integers(0, 2**16))
def test_scatter_add_matches_loop_and_gradient(shape, data, seed):
    rng = np.random.default_rng(seed)
    dim = data.draw(st.integers(0, len(shape) - 1))
    index_shape = tuple(data.draw(st.integers(1, n)) if k != dim else data.draw(st.integers(1, 4))
                        for k, n in enumerate(shape))
    src_shape = tuple(n + data.draw(st.integers(0, 1)) for n in index_shape)  # src may be larger
    index = rng.integers(0, shape[dim], size=index_shape)
    a, src = leaf(rng, *shape), leaf(rng, *src_shape)
    expected = a.data.copy()
    for pos in np.ndindex(*index_shape):
        target = list(pos)
        target[dim] = index[pos]
        expected[tuple(target)] += src.data[pos]
    np.testing.assert_allclose(td.scatter_add(a, dim, index, src).data, expected, atol=1e-12)
    assert grad_check(lambda x, s: x.scatter_add(dim, index, s), a, src)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@FAST
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
       data=st.data(), seed=st.integers(0, 2**16))
def test_index_add_matches_loop_and_gradient(backend, shape, data, seed):
    rng = np.random.default_rng(seed)
    dim = data.draw(st.integers(0, len(shape) - 1))
    n = data.draw(st.integers(0, 6))
    index = rng.integers(0, shape[dim], size=n)
    a = leaf(rng, *shape)
    source = leaf(rng, *(shape[:dim] + (n,) + shape[dim + 1:]))
    expected = a.data.copy()
    for i, j in enumerate(index):
        expected[(slice(None),) * dim + (j,)] += source.data[(slice(None),) * dim + (i,)]
    with use_backend(backend):
        np.testing.assert_allclose(td.index_add(a, dim, index, source).data, expected,
                                   atol=1e-12)
        assert grad_check(lambda x, s: x.index_add(dim, index, s), a, source)


def test_index_add_keeps_float32_and_leaves_input_untouched():
    a = Tensor(np.zeros((3, 2), dtype=np.float32))
    out = td.index_add(a, 0, [1, 1], Tensor(np.ones((2, 2), dtype=np.float32)))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.data, [[0, 0], [2, 2], [0, 0]])
    np.testing.assert_array_equal(a.data, np.zeros((3, 2)))


def test_index_add_works_on_integer_tensors():
    counts = td.index_add(Tensor(np.zeros(3, dtype=np.int64)), 0, [2, 0, 2],
                          Tensor(np.ones(3, dtype=np.int64)))
    assert counts.dtype == np.int64 and counts.tolist() == [1, 0, 2]


# ---- masked_fill ----------------------------------------------------------------------------


@pytest.mark.parametrize("a_shape, mask_shape", [((3, 4), (3, 4)), ((3, 4), (4,)),
                                                 ((3, 1), (2, 3, 4)), ((2, 3), (2, 1))])
def test_masked_fill_broadcasts_and_gradient(a_shape, mask_shape):
    rng = np.random.default_rng(5)
    a = leaf(rng, *a_shape)
    mask = rng.random(mask_shape) < 0.5
    out = td.masked_fill(a, Tensor(mask), -2.5)
    np.testing.assert_array_equal(out.data, np.where(mask, -2.5, a.data))
    assert grad_check(lambda x: x.masked_fill(mask, -2.5), a)


def test_masked_fill_gradient_is_zero_where_filled():
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    mask = np.array([[True, False, False], [False, False, True]])
    a.masked_fill(mask, 0.0).sum().backward()
    np.testing.assert_array_equal(a.grad.data, ~mask)


def test_masked_fill_with_a_0d_tensor_value_differentiates_the_value():
    rng = np.random.default_rng(6)
    a, value = leaf(rng, 3, 4), Tensor(np.array(0.3), requires_grad=True)
    mask = rng.random((3, 4)) < 0.5
    assert grad_check(lambda x, v: td.masked_fill(x, mask, v), a, value)


def test_masked_fill_with_minus_infinity_keeps_float32():
    a = Tensor(np.zeros((2, 2), dtype=np.float32))
    out = td.masked_fill(a, np.eye(2, dtype=bool), float("-inf"))
    assert out.dtype == np.float32 and np.isneginf(out.data).sum() == 2
