"""The context-dependent-filter image task (oriented bars on a bright or dark background)."""

import numpy as np
import pytest

from tinydyn.data.tasks import load_task


def _task(seed=0, **kw):
    return load_task("oriented_bars", seed=seed, n_train=200, n_val=20, n_test=20, **kw)


def test_same_seed_same_images_other_seed_other_images():
    a, b, c = _task(0), _task(0), _task(1)
    np.testing.assert_array_equal(a.train.fields[0], b.train.fields[0])
    assert not np.array_equal(a.train.fields[0], c.train.fields[0])


def test_shapes_dtypes_and_sizes():
    task = _task(size=12)
    images = task.train.fields[0]
    assert images.shape == (200, 1, 12, 12) and images.dtype == np.float32
    assert task.input_shape == (1, 12, 12) and task.num_classes == 2
    assert (len(task.val), len(task.test)) == (20, 20)


def test_label_is_whether_the_bar_orientation_matches_the_background():
    train = _task().train
    np.testing.assert_array_equal(train.fields[1], (train.horizontal == train.context).astype(int))


def test_the_bar_is_where_the_meta_says_with_its_orientation():
    train = _task(noise=0.0, contrast=0.25, bar_length=4).train
    for i in range(20):
        r, c = train.position[i]
        img = train.fields[0][i, 0]
        bar = img[r, c:c + 4] if train.horizontal[i] else img[r:r + 4, c]
        np.testing.assert_array_equal(bar, 1.0)
        assert np.count_nonzero(img == 1.0) == 4
        background = 0.25 if train.context[i] else -0.25
        assert np.isclose(img[img != 1.0], background).all()


def test_labels_and_contexts_are_balanced():
    train = load_task("oriented_bars", seed=3, n_train=2000, n_val=0, n_test=0).train
    assert abs(train.fields[1].mean() - 0.5) < 0.05 and abs(train.context.mean() - 0.5) < 0.05


def test_a_bar_longer_than_the_image_is_refused():
    with pytest.raises(ValueError, match="oriented_bars: bar_length must be at most size=8"):
        _task(size=8, bar_length=9)


def test_the_context_is_global_a_small_window_cannot_read_it_the_image_mean_can():
    # the design of the task: a 5x5 window (two 3x3 layers) reads the background poorly, the
    # mean of the whole image (what DY-Conv's attention pools) reads it reliably
    train = load_task("oriented_bars", seed=4, n_train=2000, n_val=0, n_test=0).train
    images, bright = train.fields[0][:, 0], train.context.astype(bool)
    # a 5x5 corner window without bar pixels (a 5-pixel bar cannot touch both corners)
    top, bottom = images[:, :5, :5], images[:, 11:, 11:]
    clean_top = ~np.isclose(top, 1.0).any((1, 2))
    local = np.where(clean_top, top.mean((1, 2)), bottom.mean((1, 2)))
    whole = images.mean((1, 2)) - 5 / 256  # the bar adds about 5/256 to the mean
    assert 0.75 < np.mean((local > 0) == bright) < 0.9
    assert np.mean((whole > 0) == bright) > 0.98
