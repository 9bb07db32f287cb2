"""The Skim-RNN lesson's figures draw what they are given, on tiny inputs (Agg backend)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from tinydyn.course.figures.skim_rnn import (  # noqa: E402
    plot_flop_shares,
    plot_gumbel_samples,
    plot_skim_tokens,
    plot_threshold_tradeoff,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_gumbel_samples_one_histogram_per_temperature():
    fig = plot_gumbel_samples([0.0, -1.0], [5.0, 0.5], np.random.default_rng(0), draws=200)
    assert len(fig.axes) == 2
    assert all(len(ax.patches) == 40 for ax in fig.axes)  # 40 bins each
    assert sum(p.get_height() for p in fig.axes[1].patches) == 200


def test_gumbel_samples_fraction_above_half_is_p_skim_at_any_temperature():
    # argmax(l + g) does not depend on tau: the titles report the same fraction
    fig = plot_gumbel_samples(np.log([0.7, 0.3]), [5.0, 0.2], np.random.default_rng(1),
                              draws=4000)
    fractions = {ax.get_title().split(", ")[1] for ax in fig.axes}
    assert len(fractions) == 1


def test_gumbel_samples_needs_a_generator():
    with pytest.raises(TypeError, match="plot_gumbel_samples.*rng"):
        plot_gumbel_samples([0.0, 0.0], [1.0], rng=0)


def test_skim_tokens_one_square_per_shown_token_and_frames_signal():
    tokens = np.array([[1, 2, 60, 3], [4, 5, 0, 0]])
    skims = np.array([[1, 1, 0, 1], [0, 1, 0, 0]], bool)
    signal = tokens >= 51
    fig = plot_skim_tokens(tokens, np.array([4, 2]), skims, signal, labels=[1, 0], width=3)
    squares = [p for p in fig.axes[0].patches if isinstance(p, Rectangle)]
    assert len(squares) == 3 + 2  # width 3 cuts row 0; row 1 has 2 real tokens
    framed = [p for p in squares if p.get_edgecolor()[3] > 0]
    assert len(framed) == 1
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "label 1, read 1/4" in texts and "label 0, read 1/2" in texts


def test_skim_tokens_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="plot_skim_tokens"):
        plot_skim_tokens(np.zeros((2, 3), int), [3, 3], np.zeros((2, 2)), np.zeros((2, 3)))


def test_flop_shares_stack_sums_to_the_cost_model():
    fig = plot_flop_shares(100.0, 20.0, 5.0, read_rate=0.25)
    ax = fig.axes[0]
    assert len(ax.collections) == 3  # decision, small cell, big cell
    (point,) = [line for line in ax.lines if line.get_marker() == "o"]
    assert point.get_ydata()[0] == pytest.approx(0.25 + 0.75 * 0.2 + 0.05)


def test_flop_shares_rejects_a_small_cell_dearer_than_the_big_one():
    with pytest.raises(ValueError, match="plot_flop_shares"):
        plot_flop_shares(10.0, 20.0, 1.0)


def test_threshold_tradeoff_two_panels_with_every_threshold_labelled():
    rows = [{"threshold": t, "accuracy": a, "flops": f, "seconds": s}
            for t, a, f, s in ((0.1, 0.8, 1e5, 1e-4), (0.5, 0.9, 2e5, 2e-4),
                               (1.0, 0.7, 6e5, 5e-4))]
    lstm = {"accuracy": 0.92, "flops": 5e5, "seconds": 4e-4}
    fig = plot_threshold_tradeoff(rows, lstm)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert sorted(t.get_text() for t in ax.texts) == ["0.1", "0.5", "1"]
        assert ax.get_xscale() == "log"


def test_threshold_tradeoff_names_a_missing_key():
    with pytest.raises(TypeError, match="plot_threshold_tradeoff.*seconds"):
        plot_threshold_tradeoff([{"threshold": 0.5, "accuracy": 0.9, "flops": 1.0}],
                                {"accuracy": 0.9, "flops": 1.0, "seconds": 1.0})


def test_threshold_tradeoff_labels_costs_readably_in_microseconds():
    rows = [{"threshold": t, "accuracy": 0.9, "flops": f, "seconds": s}
            for t, f, s in ((0.1, 2e5, 5e-5), (1.0, 2e6, 6e-4))]
    fig = plot_threshold_tradeoff(rows, {"accuracy": 0.95, "flops": 2e6, "seconds": 5e-4})
    fig.canvas.draw()
    flops_ax, time_ax = fig.axes
    assert "µs" in time_ax.get_xlabel()
    assert time_ax.get_xlim()[0] < 50 < 600 < time_ax.get_xlim()[1]  # plotted in µs
    flop_labels = {t.get_text() for t in flops_ax.get_xticklabels()}
    assert {"200k", "500k", "1M", "2M"} <= flop_labels
    assert all(t.get_text() == "" for t in flops_ax.get_xticklabels(minor=True))
