import numpy as np
import pytest

from tinydyn import Tensor
from tinydyn.data import Subset, TensorDataset, random_split


def make(n=10):
    x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    y = np.arange(n, dtype=np.int64) % 2
    return TensorDataset(x, y, names=("x", "y"), meta={"difficulty": np.arange(n) % 3})


def test_getitem_returns_one_entry_per_field():
    x, y = make()[4]
    np.testing.assert_array_equal(x, [12, 13, 14])
    assert y == 0


def test_negative_index_counts_from_the_end():
    assert make()[-1][1] == 1


def test_tensor_fields_are_accepted_as_arrays():
    ds = TensorDataset(Tensor(np.ones((4, 2))), np.zeros(4))
    assert isinstance(ds.fields[0], np.ndarray)


def test_ragged_list_field_keeps_each_sequence():
    ds = TensorDataset([np.arange(3), np.arange(5)], np.array([0, 1]))
    assert len(ds[1][0]) == 5


def test_fields_of_different_lengths_are_refused():
    with pytest.raises(ValueError, match=r"TensorDataset: all fields must have the same number "
                                         r"of examples, got 3 \(field 0\) and 2 \(field 1\)"):
        TensorDataset(np.zeros(3), np.zeros(2))


def test_wrong_number_of_names_is_refused():
    with pytest.raises(ValueError, match="names must have one entry per field"):
        TensorDataset(np.zeros(3), names=("a", "b"))


def test_non_array_field_is_a_type_error():
    with pytest.raises(TypeError, match="field 0 must be a numpy array, a Tensor or a list"):
        TensorDataset("abc")


def test_float_index_is_a_type_error():
    with pytest.raises(TypeError, match=r"TensorDataset: index must be an int, got float 1.0"):
        make()[1.0]


def test_out_of_range_index_is_an_index_error():
    with pytest.raises(IndexError, match="index 10 is out of range for a dataset of 10"):
        make()[10]


def test_meta_is_readable_as_an_attribute():
    np.testing.assert_array_equal(make().difficulty[:4], [0, 1, 2, 0])


def test_unknown_attribute_names_meta_fields():
    with pytest.raises(AttributeError, match="no attribute or meta field 'domain'"):
        _ = make().domain


def test_meta_of_wrong_length_is_refused():
    with pytest.raises(ValueError, match=r"meta\['d'\] must have 3 entries"):
        TensorDataset(np.zeros(3), meta={"d": np.zeros(2)})


def test_subset_takes_fields_and_meta_together():
    sub = make().subset([5, 2])
    assert sub[0][1] == 1 and list(sub.difficulty) == [2, 2]


def test_subset_refuses_float_indices():
    with pytest.raises(TypeError, match="indices must be integers, got dtype float64"):
        make().subset(np.array([1.0, 2.0]))


def test_with_meta_appends_metadata_as_fields():
    ds = make().with_meta("difficulty")
    assert ds.names == ("x", "y", "difficulty") and ds[5][2] == 2


def test_with_meta_unknown_name_lists_available():
    with pytest.raises(ValueError, match=r"unknown meta field 'domain'; available: "
                                         r"\['difficulty'\]"):
        make().with_meta("domain")


def test_subset_view_maps_indices():
    sub = Subset(make(), [7, 3])
    assert len(sub) == 2 and sub[1][0][0] == 9


def test_random_split_partitions_the_dataset():
    parts = random_split(make(), [6, 4], seed=0)
    seen = np.concatenate([p.indices for p in parts])
    assert sorted(seen.tolist()) == list(range(10))


def test_random_split_same_seed_same_split():
    a = random_split(make(), [6, 4], seed=3)
    b = random_split(make(), [6, 4], seed=3)
    np.testing.assert_array_equal(a[0].indices, b[0].indices)


def test_random_split_lengths_must_sum_to_the_size():
    with pytest.raises(ValueError, match=r"random_split: lengths must sum to len\(dataset\) = "
                                         r"10, got \[6, 3\] \(sum 9\)"):
        random_split(make(), [6, 3], seed=0)


def test_random_split_refuses_rng_and_seed_together():
    with pytest.raises(ValueError, match="random_split: give rng or seed, not both"):
        random_split(make(), [5, 5], rng=np.random.default_rng(0), seed=0)
