"""The token-pruning lesson's figures draw what they are given (Agg backend)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from tinydyn.course.figures.pruning import plot_kept_per_layer, plot_surviving_tokens  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_surviving_tokens_grid_and_signal_frames():
    positions = [[np.arange(6), np.arange(4)], [np.array([0, 2, 5]), np.array([0, 3])],
                 [np.array([0, 2]), np.array([0])]]
    fig = plot_surviving_tokens(positions, [5, 3], [[1, 4], [2]], titles=["a", "b"])
    assert len(fig.axes) == 2
    grid = fig.axes[0].images[0].get_array()
    np.testing.assert_array_equal(grid[1], [1, 0, 1, 0, 0, 1])
    np.testing.assert_array_equal(grid[2], [1, 0, 1, 0, 0, 0])
    frames = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    assert sorted(f.get_x() for f in frames) == [1.5, 4.5]  # tokens 1 and 4 -> columns 2, 5
    assert fig.axes[1].images[0].get_array().shape == (3, 4)


def test_surviving_tokens_rejects_mismatched_examples():
    with pytest.raises(ValueError, match="plot_surviving_tokens: positions"):
        plot_surviving_tokens([[np.arange(3)]], [2, 2], [[0], [1]])


def test_kept_per_layer_one_line_per_method_and_the_full_length():
    fig = plot_kept_per_layer({"LTP": [100, 5, 5, 4], "Transkimmer": [100, 50, 20, 20]}, 100)
    lines = fig.axes[0].get_lines()
    assert len(lines) == 3
    np.testing.assert_array_equal(lines[0].get_ydata(), [100, 5, 5, 4])
    with pytest.raises(ValueError, match="plot_kept_per_layer"):
        plot_kept_per_layer({"x": [[1, 2]]}, 3)
