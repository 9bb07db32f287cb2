"""Lesson 10's figures: the numbers they draw, and their input checks."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")
import matplotlib  # noqa: E402

matplotlib.use("Agg")

from tinydyn.course.figures.early_exit import (  # noqa: E402
    batch_occupancy,
    layer_confidence,
    plot_batch_occupancy,
    plot_exit_histograms,
    plot_layer_confidence,
    plot_policy_sweeps,
)


def test_layer_confidence_values():
    z = np.stack([np.zeros((2, 2)), np.array([[9.0, 0.0], [0.0, 9.0]])])
    info = layer_confidence(z, np.array([0, 0]))
    np.testing.assert_allclose(info["accuracy"], [1.0, 0.5])  # argmax of a tie is class 0
    np.testing.assert_allclose(info["max_prob"][0], 0.5)
    np.testing.assert_allclose(info["entropy"][0], np.log(2))
    assert info["entropy"][1] < 0.01
    ax = plot_layer_confidence(z, np.array([0, 0]))
    assert len(ax.get_lines()) == 2
    with pytest.raises(ValueError, match="layer_confidence"):
        layer_confidence(np.zeros((2, 3)), np.zeros(3))


def test_batch_occupancy_counts():
    occ = batch_occupancy(np.array([1, 3, 2, 2]), batch_size=2, depth=3)
    assert occ["wait-for-all"].tolist() == [4, 4, 2]   # batch (1, 3) runs 3 layers, (2, 2) two
    assert occ["compaction"].tolist() == [4, 3, 1]
    assert occ["compaction"].sum() == 1 + 3 + 2 + 2   # the sum of the exit layers
    ax = plot_batch_occupancy(np.array([1, 3, 2, 2]), 2, 3)
    assert len(ax.patches) == 6


def test_histograms_and_sweeps_draw_and_check():
    ax = plot_exit_histograms({"easy": np.array([1, 1, 2]), "hard": np.array([3, 3, 2])}, 3)
    heights = [p.get_height() for p in ax.patches]
    assert heights[:3] == pytest.approx([2 / 3, 1 / 3, 0])
    with pytest.raises(ValueError, match="plot_exit_histograms"):
        plot_exit_histograms({"x": np.array([0])}, 3)
    ax = plot_policy_sweeps({"a": ([1, 2], [0.5, 0.7])}, 0.8, 4)
    assert len(ax.get_lines()) == 3
    with pytest.raises(TypeError, match="plot_policy_sweeps"):
        plot_policy_sweeps({}, 0.8, 4)
