import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinydyn import Tensor
from tinydyn.data import DataLoader, TensorDataset, default_collate, pad_collate


def indexed(n):
    return TensorDataset(np.arange(n, dtype=np.int64), np.arange(n, dtype=np.float32) * 2)


def epoch_ids(loader):
    return [int(v) for batch in loader for v in batch[0].data]


@settings(derandomize=True, deadline=None, max_examples=25)
@given(n=st.integers(1, 40), batch_size=st.integers(1, 12), drop_last=st.booleans(),
       shuffle=st.booleans())
def test_len_is_the_number_of_batches_yielded(n, batch_size, drop_last, shuffle):
    loader = DataLoader(indexed(n), batch_size, shuffle=shuffle, drop_last=drop_last, seed=0)
    batches = list(loader)
    assert len(batches) == len(loader)
    expected = n // batch_size if drop_last else math.ceil(n / batch_size)
    assert len(loader) == expected


@settings(derandomize=True, deadline=None, max_examples=25)
@given(n=st.integers(1, 40), batch_size=st.integers(1, 12))
def test_an_epoch_visits_every_example_once(n, batch_size):
    ids = epoch_ids(DataLoader(indexed(n), batch_size, shuffle=True, seed=1))
    assert sorted(ids) == list(range(n))


def test_drop_last_drops_only_the_short_batch():
    sizes = [len(b[0]) for b in DataLoader(indexed(10), 4, drop_last=True)]
    assert sizes == [4, 4]


def test_last_batch_is_short_without_drop_last():
    sizes = [len(b[0]) for b in DataLoader(indexed(10), 4)]
    assert sizes == [4, 4, 2]


def test_batches_are_tuples_of_tensors():
    batch = next(iter(DataLoader(indexed(5), 2)))
    assert isinstance(batch, tuple) and all(isinstance(t, Tensor) for t in batch)


def test_without_shuffle_order_is_the_dataset_order():
    assert epoch_ids(DataLoader(indexed(7), 3)) == list(range(7))


def test_same_seed_gives_the_same_order():
    a = DataLoader(indexed(30), 4, shuffle=True, seed=5)
    b = DataLoader(indexed(30), 4, shuffle=True, seed=5)
    assert [epoch_ids(a), epoch_ids(a)] == [epoch_ids(b), epoch_ids(b)]


def test_each_epoch_draws_a_new_order():
    loader = DataLoader(indexed(30), 4, shuffle=True, seed=5)
    assert epoch_ids(loader) != epoch_ids(loader)


def test_different_seeds_give_different_orders():
    a = DataLoader(indexed(30), 4, shuffle=True, seed=1)
    b = DataLoader(indexed(30), 4, shuffle=True, seed=2)
    assert epoch_ids(a) != epoch_ids(b)


def test_explicit_generator_is_used():
    a = DataLoader(indexed(30), 4, shuffle=True, rng=np.random.default_rng(9))
    b = DataLoader(indexed(30), 4, shuffle=True, seed=9)
    assert epoch_ids(a) == epoch_ids(b)


def test_rng_and_seed_together_are_refused():
    with pytest.raises(ValueError, match="DataLoader: give rng or seed, not both"):
        DataLoader(indexed(3), rng=np.random.default_rng(0), seed=0)


def test_rng_of_wrong_type_is_refused():
    with pytest.raises(TypeError, match="DataLoader: rng must be a numpy.random.Generator"):
        DataLoader(indexed(3), rng=0)


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="DataLoader: batch_size must be >= 1, got 0"):
        DataLoader(indexed(3), batch_size=0)


def test_batch_size_float_is_a_type_error():
    with pytest.raises(TypeError, match="DataLoader: batch_size must be an int, got float 2.0"):
        DataLoader(indexed(3), batch_size=2.0)


def test_shuffle_must_be_a_bool():
    with pytest.raises(TypeError, match="DataLoader: shuffle must be a bool, got int 1"):
        DataLoader(indexed(3), shuffle=1)


def test_default_collate_dtypes():
    ints, floats, f64 = default_collate([(1, 0.5, np.zeros(2)), (2, 1.5, np.ones(2))])
    assert (ints.dtype, floats.dtype, f64.dtype) == (np.int64, np.float32, np.float64)
    assert f64.shape == (2, 2)


def test_default_collate_points_to_pad_collate_for_ragged_fields():
    with pytest.raises(ValueError, match=r"default_collate: field 0 has examples of different "
                                         r"shapes \(3,\) and \(2,\); use collate_fn=pad_collate"):
        default_collate([(np.zeros(3), 0), (np.zeros(2), 1)])


def test_default_collate_refuses_an_empty_batch():
    with pytest.raises(ValueError, match="default_collate: got an empty list of examples"):
        default_collate([])


def test_pad_collate_pads_and_masks():
    tokens, mask, lengths, labels = pad_collate()([(np.array([5, 6, 7]), 1), (np.array([8]), 0)])
    np.testing.assert_array_equal(tokens.data, [[5, 6, 7], [8, 0, 0]])
    np.testing.assert_array_equal(mask.data, [[True, True, True], [True, False, False]])
    np.testing.assert_array_equal(lengths.data, [3, 1])
    np.testing.assert_array_equal(labels.data, [1, 0])
    assert tokens.dtype == np.int64 and mask.dtype == np.bool_ and lengths.dtype == np.int64


def test_pad_collate_uses_pad_value():
    tokens = pad_collate(pad_value=-1)([(np.array([5, 6]),), (np.array([8]),)])[0]
    np.testing.assert_array_equal(tokens.data, [[5, 6], [8, -1]])


def test_pad_collate_mask_comes_from_lengths_not_token_values():
    mask = pad_collate()([(np.array([0, 0]),), (np.array([0]),)])[1]
    np.testing.assert_array_equal(mask.data, [[True, True], [True, False]])


def test_pad_collate_field_selects_the_sequence():
    tokens, mask, lengths, label = pad_collate(field=1)([(1, np.array([4, 2])), (0, np.array([3]))])
    np.testing.assert_array_equal(tokens.data, [[4, 2], [3, 0]])
    np.testing.assert_array_equal(label.data, [1, 0])


@settings(derandomize=True, deadline=None, max_examples=25)
@given(lengths=st.lists(st.integers(0, 9), min_size=1, max_size=8))
def test_pad_collate_mask_sums_to_lengths(lengths):
    rng = np.random.default_rng(0)
    examples = [(rng.integers(1, 9, size=n),) for n in lengths]
    tokens, mask, out_lengths = pad_collate()(examples)
    assert tokens.shape == (len(lengths), max(lengths))
    np.testing.assert_array_equal(mask.data.sum(axis=1), lengths)
    np.testing.assert_array_equal(out_lengths.data, lengths)
    for row, example in zip(tokens.data, examples):
        np.testing.assert_array_equal(row[:len(example[0])], example[0])


def test_pad_collate_refuses_float_tokens():
    with pytest.raises(TypeError, match="pad_collate: example 0: tokens must be integers, got "
                                        "dtype float64"):
        pad_collate()([(np.array([1.0, 2.0]),)])


def test_pad_collate_refuses_2d_sequences():
    with pytest.raises(ValueError, match=r"pad_collate: example 0: the sequence must be 1-D, "
                                         r"got shape \(2, 2\)"):
        pad_collate()([(np.zeros((2, 2), dtype=np.int64),)])


def test_pad_collate_field_out_of_range():
    with pytest.raises(ValueError, match="pad_collate: field=2 is out of range for examples "
                                         "with 2 fields"):
        pad_collate(field=2)([(np.array([1]), 0)])


def test_loader_with_pad_collate_on_ragged_dataset():
    ds = TensorDataset([np.arange(1, n + 1) for n in (3, 1, 4, 2)], np.array([0, 1, 0, 1]))
    batches = list(DataLoader(ds, 2, collate_fn=pad_collate()))
    assert [b[0].shape for b in batches] == [(2, 3), (2, 4)]
