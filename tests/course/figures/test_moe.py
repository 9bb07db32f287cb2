"""The learned-routing lesson's figures draw what they are given (Agg backend)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tinydyn import Tensor  # noqa: E402
from tinydyn.course.figures.moe import plot_load, plot_routing, plot_specialisation  # noqa: E402
from tinydyn.dynamic.moe import Routing, apply_capacity  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_routing_table_marks_the_dropped_assignments():
    r = Routing(np.array([0, 1, 2, 0, 1, 2]), np.array([0, 0, 0, 1, 1, 0]),
                Tensor(np.linspace(0.2, 0.7, 6)), None, 3, 2, rank=np.repeat([0, 1], 3))
    kept = apply_capacity(r, 2)
    ax = plot_routing(r, kept)
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 6
    assert sum("dropped" in t for t in texts) == kept.n_dropped == 2
    assert sum("slot" in t for t in texts) == 4


def test_load_lines_one_per_expert_and_the_even_share():
    load = np.tile([0.5, 0.25, 0.25], (30, 1))
    ax = plot_load(load, smooth=5, title="t")
    assert len(ax.lines) == 4                     # 3 experts + the dashed 1/E line
    np.testing.assert_allclose(ax.lines[0].get_ydata(), 0.5)
    np.testing.assert_allclose(ax.lines[-1].get_ydata(), 1 / 3)


def test_specialisation_rows_are_shares():
    ax = plot_specialisation(np.array([[3, 1], [0, 2]]))
    np.testing.assert_allclose(ax.images[0].get_array(), [[0.75, 0.25], [0, 1]])


def test_bad_input_raises():
    with pytest.raises(ValueError, match="plot_load: load must be 2-D"):
        plot_load(np.zeros(5))
    with pytest.raises(ValueError, match="plot_specialisation: counts must be 2-D"):
        plot_specialisation(np.zeros(3))
