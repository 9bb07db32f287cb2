"""The balanced-routing lesson's figures draw what they are given (Agg backend)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tinydyn.course.figures.moe_balanced import (  # noqa: E402
    expert_group_counts,
    plot_assignments,
    plot_expert_groups,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_assignments_one_marker_set_per_assignment_labelled_with_its_total():
    scores = np.array([[1.0, 0.0], [2.0, 0.5], [0.0, 1.0], [1.0, 1.0]])
    ax = plot_assignments(scores, {"a": [0, 0, 1, 1], "b": [1, 0, 1, 0]})
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["a: total 5.00", "b: total 4.00"]
    assert len(ax.collections) == 2


def test_expert_group_counts_and_the_share_plot():
    counts = expert_group_counts(np.array([0, 0, 1, 1, 1]), np.array([2, 2, 0, 1, 1]), 2, 3)
    np.testing.assert_array_equal(counts, [[0, 0, 2], [1, 2, 0]])
    ax = plot_expert_groups(counts, title="t")
    np.testing.assert_allclose(ax.images[0].get_array(), [[0, 0, 1], [1 / 3, 2 / 3, 0]])


def test_bad_input_raises():
    with pytest.raises(ValueError, match="expert_group_counts: expert and group must have"):
        expert_group_counts(np.zeros(2, int), np.zeros(3, int), 1, 1)
    with pytest.raises(ValueError, match=r"plot_assignments: assignment 'a' must have shape"):
        plot_assignments(np.zeros((3, 2)), {"a": [0, 1]})
    with pytest.raises(ValueError, match="plot_expert_groups: counts must be 2-D"):
        plot_expert_groups(np.zeros(3))
