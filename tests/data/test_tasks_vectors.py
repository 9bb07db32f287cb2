import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinydyn.data import load_task
from tinydyn.data.tasks import checkerboard_label


@pytest.fixture(scope="module")
def mixed():
    return load_task("mixed_difficulty", seed=0, n_train=1000, n_val=100, n_test=100)


def prototype_prediction(task, x):
    return np.argmax(x @ task.info["prototypes"].T, axis=1)


@settings(derandomize=True, deadline=None, max_examples=10)
@given(fraction=st.floats(0.0, 1.0), n_val=st.integers(0, 40))
def test_every_split_has_the_requested_easy_fraction(fraction, n_val):
    task = load_task("mixed_difficulty", seed=0, n_train=50, n_val=n_val, n_test=13,
                     easy_fraction=fraction)
    for ds in (task.train, task.val, task.test):
        assert int((ds.difficulty == 0).sum()) == round(fraction * len(ds))


def test_default_easy_fraction_is_0_7(mixed):
    assert (mixed.train.difficulty == 0).mean() == pytest.approx(0.7)


def test_easy_examples_are_separated_by_the_prototype_projection(mixed):
    x, y = mixed.train.fields
    easy = mixed.train.difficulty == 0
    assert (prototype_prediction(mixed, x[easy]) == y[easy]).mean() > 0.97


def test_hard_examples_are_not_separated_by_any_linear_rule(mixed):
    x, y = mixed.train.fields
    hard = mixed.train.difficulty == 1
    assert (prototype_prediction(mixed, x[hard]) == y[hard]).mean() < 0.65
    # the best least-squares linear classifier fitted on the hard examples themselves
    features = np.c_[x[hard], np.ones(hard.sum())]
    w = np.linalg.lstsq(features, np.eye(2)[y[hard]], rcond=None)[0]
    assert (np.argmax(features @ w, axis=1) == y[hard]).mean() < 0.65


def test_hard_labels_follow_the_checkerboard_rule(mixed):
    x, y = mixed.train.fields
    hard = mixed.train.difficulty == 1
    rule = checkerboard_label(x[hard], mixed.info["hard_directions"], 0.5, 2)
    np.testing.assert_array_equal(rule, y[hard])


def test_hard_directions_are_orthogonal_to_the_prototypes(mixed):
    dots = mixed.info["hard_directions"] @ mixed.info["prototypes"].T
    np.testing.assert_allclose(dots, 0.0, atol=1e-12)


def test_mixed_labels_are_roughly_balanced(mixed):
    counts = np.bincount(mixed.train.fields[1])
    assert counts.min() / counts.sum() > 0.4


def test_mixed_inputs_are_float32_of_input_shape(mixed):
    assert mixed.train.fields[0].dtype == np.float32
    assert mixed.train.fields[0].shape[1:] == mixed.input_shape == (8,)


def test_mixed_dim_must_leave_room_for_prototypes():
    with pytest.raises(ValueError, match="mixed_difficulty: dim must be >= num_classes \\+ 2 = "
                                         "6 .* got 5"):
        load_task("mixed_difficulty", num_classes=4, dim=5)


def test_mixed_easy_fraction_above_one_is_refused():
    with pytest.raises(ValueError, match="mixed_difficulty: easy_fraction must be <= 1.0, got 1.5"):
        load_task("mixed_difficulty", easy_fraction=1.5)


def test_checkerboard_colours_neighbouring_cells_differently():
    directions = np.eye(2)
    x = np.array([[0.5, 0.5], [1.5, 0.5], [1.5, 1.5], [-0.5, 0.5]])
    assert checkerboard_label(x, directions, 1.0, 2).tolist() == [0, 1, 0, 1]


# ---- multi_domain ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def domains():
    return load_task("multi_domain", seed=0, n_train=800, n_val=100, n_test=100)


def test_domain_is_recoverable_from_the_input(domains):
    x = domains.train.fields[0]
    centers = domains.info["centers"]
    nearest = np.argmin(((x[:, None, :] - centers[None]) ** 2).sum(-1), axis=1)
    assert (nearest == domains.train.domain).mean() > 0.95


def test_every_domain_appears(domains):
    assert set(domains.train.domain.tolist()) == {0, 1, 2, 3}


def test_classes_are_balanced_within_each_domain():
    task = load_task("multi_domain", seed=1, n_train=400, n_val=0, n_test=0, num_classes=3)
    y, d = task.train.fields[1], task.train.domain
    for k in range(4):
        counts = np.bincount(y[d == k], minlength=3)
        assert counts.max() - counts.min() <= 1


def test_domains_have_different_functions(domains):
    # a single linear rule fitted across domains does much worse than one per domain
    x, y = domains.train.fields
    d = domains.train.domain

    def linear_accuracy(rows):
        f = np.c_[x[rows], np.ones(rows.sum())]
        w = np.linalg.lstsq(f, np.eye(2)[y[rows]], rcond=None)[0]
        return (np.argmax(f @ w, axis=1) == y[rows]).mean()

    per_domain = np.mean([linear_accuracy(d == k) for k in range(4)])
    assert per_domain > linear_accuracy(np.ones(len(y), bool)) + 0.1


def test_regression_targets_are_standardised_per_domain():
    task = load_task("multi_domain", seed=0, n_train=400, n_val=0, n_test=0, kind="regression",
                     out_dim=2)
    y, d = task.train.fields[1], task.train.domain
    assert y.shape == (400, 2) and y.dtype == np.float32 and task.num_classes is None
    for k in range(4):
        np.testing.assert_allclose(y[d == k].mean(0), 0.0, atol=1e-5)
        np.testing.assert_allclose(y[d == k].std(0), 1.0, atol=1e-4)


def test_multi_domain_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="multi_domain: kind must be 'classification' or "
                                         "'regression', got 'ranking'"):
        load_task("multi_domain", kind="ranking")
