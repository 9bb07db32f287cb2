"""The VCRNN lesson's figures draw what they are given, on tiny inputs (Agg backend)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tinydyn.course.figures.vcrnn import (  # noqa: E402
    moving_average,
    plot_rows_updated,
    plot_soft_mask,
    plot_step_time,
    plot_tradeoff,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_moving_average_is_the_mean_of_each_window():
    np.testing.assert_allclose(moving_average([1, 2, 3, 6], 2), [1.5, 2.5, 4.5])


def test_moving_average_rejects_a_series_shorter_than_the_window():
    with pytest.raises(ValueError, match=r"moving_average: values must be 1-D with at least "
                                         r"width = 5"):
        moving_average([1.0, 2.0], 5)


def test_soft_mask_one_line_per_sharpness_labelled_with_its_sum():
    ax = plot_soft_mask(0.5, 4, [1.0, 100.0])
    masks = [line for line in ax.get_lines() if line.get_label().startswith("λ")]
    assert len(masks) == 2
    sharp = masks[1].get_ydata()
    np.testing.assert_allclose(sharp, [1, 1, 0, 0], atol=1e-6)  # m d = 2: the first 2 rows
    assert masks[1].get_label() == "λ = 100: Σe = 2.00"


def test_rows_updated_blanks_padding_and_circles_signals():
    ks = np.array([[4, 0, 2], [8, 1, 0]])
    ax = plot_rows_updated(ks, np.array([3, 2]), 8, signal_positions=np.array([[0], [-1]]))
    shown = ax.images[0].get_array()
    np.testing.assert_allclose(shown[0], [0.5, 0.0, 0.25])
    assert shown.mask[1, 2] and not shown.mask[1, 1]  # past the length: blank
    circles = [line for line in ax.get_lines() if line.get_label() == "signal token"]
    assert list(circles[0].get_xdata()) == [0] and list(circles[0].get_ydata()) == [0]


def test_rows_updated_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="plot_rows_updated: ks must be"):
        plot_rows_updated(np.zeros((2, 3), int), np.array([3]), 8)


def test_step_time_draws_points_fit_ideal_and_lstm_in_nanoseconds():
    ks = np.array([0, 4, 8])
    ax = plot_step_time(ks, np.array([1e-7, 1.4e-7, 1.8e-7]), (1e-7, 1e-8), 4e-7,
                        np.array([0.1, 0.3, 0.5]))
    lines = ax.get_lines()
    assert len(lines) == 4
    np.testing.assert_allclose(lines[0].get_ydata(), [100, 140, 180])
    np.testing.assert_allclose(lines[1].get_ydata(), [100, 140, 180])  # the fit, exact here
    np.testing.assert_allclose(lines[2].get_ydata(), [40, 120, 200])
    assert lines[3].get_ydata()[0] == pytest.approx(400)


def test_tradeoff_two_panels_same_accuracies_time_in_ms():
    axes = plot_tradeoff({"VCRNN": ([10.0, 20.0], [1e-3, 2e-3], [0.8, 0.9]),
                          "LSTM": ([400.0], [4e-3], [0.95])},
                         names={"VCRNN": ["a", "b"]})
    assert len(axes) == 2
    assert [t.get_text() for t in axes[0].texts] == ["a", "b"]
    xs_time = np.concatenate([line.get_xdata() for line in axes[1].get_lines()])
    assert {1.0, 2.0, 4.0} <= set(np.round(xs_time, 9))
    assert axes[0].get_xscale() == "log"


def test_tradeoff_rejects_columns_of_different_lengths():
    with pytest.raises(ValueError, match=r"plot_tradeoff: methods\['x'\] must be"):
        plot_tradeoff({"x": ([1.0, 2.0], [1.0], [0.5, 0.6])})


def test_log_axis_labels_are_short_plain_numbers():
    from tinydyn.course.figures.vcrnn import _short

    assert [_short(v) for v in (2e6, 5e4, 100.0, 0.05)] == ["2M", "50k", "100", "0.05"]
