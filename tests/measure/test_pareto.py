import numpy as np
import pytest

from tinydyn.measure.pareto import area_under_front, pareto_front, plot_pareto


def test_front_keeps_only_non_dominated_points_by_cost():
    costs = [1, 2, 3, 4, 2.5]
    acc = [0.5, 0.7, 0.6, 0.9, 0.8]
    assert pareto_front(costs, acc).tolist() == [0, 1, 4, 3]


def test_front_with_equal_costs_keeps_the_most_accurate():
    assert pareto_front([1, 1], [0.2, 0.4]).tolist() == [1]


def test_area_of_a_single_step_front():
    # 0.5 accuracy from cost 1 to 3, then 1.0 from 3 to 5: mean over [1, 5] is 0.75
    assert area_under_front([1, 3, 5], [0.5, 1.0, 0.9]) == pytest.approx(0.75)


def test_area_with_log_cost_averages_on_log_budgets():
    area = area_under_front([1, 10, 100], [0.5, 1.0, 1.0], log_cost=True)
    assert area == pytest.approx(0.75)


def test_area_counts_zero_below_the_cheapest_point():
    assert area_under_front([2], [1.0], cost_range=(0, 4)) == pytest.approx(0.5)


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match=r"pareto_front: costs and accuracies must be 1-D and "
                                         r"of equal length, got shapes \(2,\) and \(3,\)"):
        pareto_front([1, 2], [1, 2, 3])


def test_plot_pareto_draws_points_and_front(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    ax = plot_pareto({"a": ([1, 2, 3], [0.1, 0.5, 0.4]), "b": (np.array([2.0]), [0.3])})
    assert len(ax.get_lines()) == 4
    ax.figure.savefig(tmp_path / "front.png")
    assert (tmp_path / "front.png").stat().st_size > 0


def test_plot_pareto_draws_error_bars_spanning_each_point(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    yerr = np.array([[0.1, 0.2], [0.05, 0.0]])
    plot_pareto({"m": ([1.0, 2.0], [0.5, 0.8])}, ax=ax, yerr={"m": yerr})
    bars = [c for c in ax.collections if c.get_segments()]
    assert len(bars) == 1
    spans = sorted((round(s[0][1], 6), round(s[1][1], 6)) for s in bars[0].get_segments())
    assert spans == [(0.4, 0.55), (0.6, 0.8)]
    plt.close(fig)


def test_plot_pareto_rejects_error_bars_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"plot_pareto.*yerr\['m'\].*shape \(2,\)"):
        plot_pareto({"m": ([1.0, 2.0], [0.5, 0.8])}, yerr={"m": [0.1, 0.2, 0.3]})


def test_plot_pareto_rejects_error_bars_for_an_unknown_method():
    with pytest.raises(ValueError, match=r"plot_pareto.*xerr names methods not in methods"):
        plot_pareto({"m": ([1.0], [0.5])}, xerr={"other": [0.1]})
