"""The LSTM-Jump lesson's figures draw what they are given, on tiny inputs (Agg backend)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tinydyn.course.figures.lstm_jump import plot_call_time, plot_reads, read_grid  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_read_grid_marks_padding_jumped_read_and_signals():
    positions = np.array([[0, 1, 4, -1], [0, -1, -1, -1]])
    grid = read_grid(np.array([5, 3]), positions, signal_positions=np.array([[4, 2], [2, -1]]))
    np.testing.assert_array_equal(grid, [[1, 1, 2, 0, 3], [1, 0, 2, -1, -1]])


def test_read_grid_rejects_lengths_of_another_batch():
    with pytest.raises(ValueError, match=r"read_grid: positions must be \(B, T\)"):
        read_grid(np.array([3]), np.zeros((2, 3), int))


def test_plot_reads_writes_each_real_token_of_short_sequences():
    tokens = np.array([[5, 6, 7], [8, 9, 0]])
    ax = plot_reads(tokens, np.array([3, 2]), np.array([[0, 2], [1, -1]]), title="t")
    assert sorted(t.get_text() for t in ax.texts) == ["5", "6", "7", "8", "9"]  # not padding
    np.testing.assert_array_equal(ax.images[0].get_array(), [[1, 0, 1], [0, 1, -1]])
    assert "signal" not in ax.get_xlabel() and ax.get_title() == "t"


def test_plot_reads_leaves_long_sequences_unlabelled():
    ax = plot_reads(np.ones((1, 50), int), np.array([50]), np.arange(50)[None])
    assert len(ax.texts) == 0


def test_call_time_points_fit_and_lstm_in_microseconds():
    ax = plot_call_time([2, 10], [3e-6, 7e-6], (2e-6, 0.5e-6), lstm=(40, 30e-6))
    points, fit, lstm = ax.get_lines()
    np.testing.assert_allclose(points.get_ydata(), [3, 7])
    np.testing.assert_allclose(fit.get_xdata(), [0, 40])  # the line reaches the LSTM's tokens
    np.testing.assert_allclose(fit.get_ydata(), [2, 22])
    np.testing.assert_allclose(lstm.get_ydata(), [30])


def test_call_time_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="plot_call_time: n_read and seconds"):
        plot_call_time([1, 2], [1e-6], (0, 1e-6))
