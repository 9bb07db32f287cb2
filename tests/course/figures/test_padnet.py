"""The PAD-Net lesson's figures draw what they are given, on tiny inputs (Agg backend)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tinydyn.course.figures.padnet import (  # noqa: E402
    mask_image,
    plot_accuracy_vs_params,
    plot_lambda,
    plot_layer_ratios,
    plot_mask,
    plot_schedules,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_a_conv_mask_becomes_one_row_per_output_channel():
    mask = np.arange(2 * 3 * 2 * 2).reshape(2, 3, 2, 2) % 2
    assert mask_image(mask).shape == (2, 12)
    np.testing.assert_array_equal(mask_image(mask)[1], mask[1].ravel())
    with pytest.raises(ValueError, match="mask_image: mask must be 2-D or 4-D"):
        mask_image(np.ones(3))


def test_plot_mask_shows_the_dynamic_fraction():
    ax = plot_mask(np.array([[1, 0, 0, 0]]), title="conv 2")
    assert ax.get_title() == "conv 2: 25% dynamic"
    np.testing.assert_array_equal(ax.images[0].get_array(), [[1, 0, 0, 0]])


def test_plot_layer_ratios_draws_a_curve_per_layer_and_the_target():
    log = {"layer_ratios": [[0.9, 0.5], [0.6, 0.2]], "density": [0.7, 0.4]}
    ax = plot_layer_ratios(log, names=["a", "b"])
    assert [line.get_label() for line in ax.lines] == ["a", "b", "global target kappa^(t/T)"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [0.5, 0.2])
    with pytest.raises(ValueError, match="plot_layer_ratios"):
        plot_layer_ratios({"layer_ratios": []})


def test_plot_schedules_starts_at_one_and_ends_at_kappa():
    ax = plot_schedules(0.25, 4)
    for line in ax.lines:
        assert line.get_ydata()[0] == 1.0 and line.get_ydata()[-1] == pytest.approx(0.25)
    np.testing.assert_allclose(ax.lines[0].get_ydata()[2], 0.5)   # 0.25 ** (2/4)


def test_accuracy_and_lambda_plots_take_curves_and_single_points():
    ax = plot_accuracy_vs_params({"PAD": [(10, 0.5), (20, 0.7)], "full": (30, 0.6)})
    assert len(ax.lines) == 2 and list(ax.lines[1].get_ydata()) == [60.0]
    ax = plot_lambda({"kappa 0.3": [1.0, 1.1, 1.2]})
    assert list(ax.lines[0].get_ydata()) == [1.0, 1.1, 1.2]
