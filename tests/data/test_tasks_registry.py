import sys
import types

import numpy as np
import pytest

from tinydyn.data import Task, list_tasks, load_task

SMALL = {"n_train": 60, "n_val": 20, "n_test": 20}
SYNTHETIC = ["sparse_signal", "pointer_text", "mixed_difficulty", "multi_domain", "shapes"]


def arrays_of(task):
    """Every array of every split, fields and meta, in a fixed order."""
    out = []
    for ds in (task.train, task.val, task.test):
        for field in ds.fields:
            out.extend(field if isinstance(field, list) else [field])
        out.extend(ds.meta[k] for k in sorted(ds.meta))
    return out


def test_list_tasks_names_every_builtin_task():
    assert set(SYNTHETIC + ["digits"]) <= set(list_tasks())


@pytest.mark.parametrize("name", SYNTHETIC)
def test_same_seed_gives_identical_arrays(name):
    a, b = arrays_of(load_task(name, seed=3, **SMALL)), arrays_of(load_task(name, seed=3, **SMALL))
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("name", SYNTHETIC)
def test_different_seeds_give_different_data(name):
    a = load_task(name, seed=0, **SMALL).train.fields[0]
    b = load_task(name, seed=1, **SMALL).train.fields[0]
    a = np.concatenate(a) if isinstance(a, list) else a
    b = np.concatenate(b) if isinstance(b, list) else b
    assert a.shape != b.shape or not np.array_equal(a, b)


@pytest.mark.parametrize("name", SYNTHETIC)
def test_split_sizes_follow_the_options(name):
    task = load_task(name, seed=0, n_train=30, n_val=7, n_test=5)
    assert isinstance(task, Task)
    assert (len(task.train), len(task.val), len(task.test)) == (30, 7, 5)


@pytest.mark.parametrize("name", SYNTHETIC)
def test_every_task_describes_itself(name):
    task = load_task(name, seed=0, **SMALL)
    assert task.description and task.num_classes is not None
    assert (task.vocab_size is None) != (task.input_shape is None)


def test_default_sizes_are_2000_500_500():
    task = load_task("mixed_difficulty")
    assert (len(task.train), len(task.val), len(task.test)) == (2000, 500, 500)


def test_unknown_task_lists_the_available_ones():
    with pytest.raises(ValueError, match=r"load_task: unknown task 'mnist'; available: digits, "):
        load_task("mnist")


def test_unknown_option_is_a_type_error_listing_the_options():
    with pytest.raises(TypeError, match=r"load_task: task 'shapes' has no option 'length'; its "
                                        r"options are n_train, n_val, n_test, size"):
        load_task("shapes", length=3)


def test_negative_seed_is_refused():
    with pytest.raises(ValueError, match="load_task: seed must be >= 0, got -1"):
        load_task("shapes", seed=-1)


def test_float_seed_is_a_type_error():
    with pytest.raises(TypeError, match="load_task: seed must be an int, got float 1.0"):
        load_task("shapes", seed=1.0)


def test_digits_without_sklearn_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"'digits' task needs scikit-learn.*pip install "
                                          r"scikit-learn.*'shapes'"):
        load_task("digits")


def test_digits_with_sklearn_scales_and_splits(monkeypatch):
    # a stand-in for sklearn.datasets.load_digits: the test must not depend on sklearn
    rng = np.random.default_rng(0)
    fake = types.ModuleType("sklearn.datasets")
    fake.load_digits = lambda: types.SimpleNamespace(
        images=rng.integers(0, 17, size=(50, 8, 8)).astype(float),
        target=np.arange(50) % 10)
    monkeypatch.setitem(sys.modules, "sklearn", types.ModuleType("sklearn"))
    monkeypatch.setitem(sys.modules, "sklearn.datasets", fake)
    task = load_task("digits", n_val=10, n_test=5)
    images = task.train.fields[0]
    assert images.shape == (35, 1, 8, 8) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert task.input_shape == (1, 8, 8) and task.num_classes == 10
