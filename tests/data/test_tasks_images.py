import numpy as np
import pytest

from tinydyn.data import load_task


@pytest.fixture(scope="module")
def task():
    return load_task("shapes", seed=0, n_train=500, n_val=50, n_test=50)


def test_images_are_float32_in_unit_range_with_the_input_shape(task):
    images = task.train.fields[0]
    assert images.dtype == np.float32 and images.shape == (500, 1, 12, 12)
    assert task.input_shape == (1, 12, 12)
    assert images.min() >= 0.0 and images.max() <= 1.0


@pytest.mark.parametrize("size", [8, 16])
def test_size_is_configurable(size):
    task = load_task("shapes", seed=0, size=size, n_train=20, n_val=0, n_test=0)
    assert task.train.fields[0].shape == (20, 1, size, size)


def test_every_class_appears_roughly_equally(task):
    counts = np.bincount(task.train.fields[1], minlength=5)
    assert task.num_classes == 5 and counts.min() > 0.6 * counts.max()


def test_without_noise_every_image_has_a_drawn_shape_inside_the_frame():
    task = load_task("shapes", seed=0, noise=0.0, n_train=200, n_val=0, n_test=0)
    images = task.train.fields[0][:, 0]
    assert (images.reshape(200, -1) > 0).sum(axis=1).min() >= 3
    center, radius = task.train.center, task.train.radius
    assert (center >= radius[:, None]).all() and (center <= 11 - radius[:, None]).all()


def test_classes_option_selects_and_orders_the_shapes():
    task = load_task("shapes", seed=0, classes=("line", "circle"), n_train=50, n_val=0, n_test=0)
    assert task.num_classes == 2 and task.info["classes"] == ("line", "circle")
    assert set(task.train.fields[1].tolist()) == {0, 1}


def test_classes_differ_in_their_mean_image(task):
    images, labels = task.train.fields
    means = np.stack([images[labels == c].mean(0).ravel() for c in range(5)])
    gaps = np.abs(means[:, None] - means[None]).sum(-1) + np.eye(5) * 1e9
    assert gaps.min() > 1.0


def test_unknown_shape_lists_the_available_ones():
    with pytest.raises(ValueError, match="shapes: unknown shape 'star'; available: square, "
                                         "circle, triangle, cross, line"):
        load_task("shapes", classes=("square", "star"))


def test_size_below_8_is_refused():
    with pytest.raises(ValueError, match="shapes: size must be >= 8, got 6"):
        load_task("shapes", size=6)
