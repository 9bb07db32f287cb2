"""Lesson 12's figures and operating points."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from tinydyn.bench.rows import make_row  # noqa: E402
from tinydyn.course.figures import measuring  # noqa: E402


def _rows():
    base = make_row(family="f", method="base", task="t", accuracy=0.90, baseline=True,
                    flop_speedup=1.0, speedup_batch1=1.0)
    rows = [base]
    for acc, flop, speed in ((0.895, 2.0, 1.5), (0.893, 3.0, 1.8), (0.85, 8.0, 3.0)):
        rows.append(make_row(family="f", method="m", task="t", accuracy=acc,
                             flop_speedup=flop, speedup_batch1=speed))
    rows.append(make_row(family="g", method="b", task="u", accuracy=0.8, baseline=True))
    rows.append(make_row(family="g", method="n", task="u", accuracy=0.7, flop_speedup=2.0,
                         speedup_batch1=1.1))
    return rows


def test_operating_point_is_the_cheapest_within_the_drop():
    points = measuring.operating_points(_rows(), max_drop=0.01)
    first = points[0]
    assert (first["family"], first["flop_speedup"], first["within_drop"]) == ("f", 3.0, True)
    assert first["accuracy_drop"] == pytest.approx(0.007)


def test_operating_point_ignores_a_row_that_saves_no_flops():
    rows = _rows()[:1] + [make_row(family="f", method="wider", task="t", accuracy=0.95,
                                   flop_speedup=0.9, speedup_batch1=0.8)]
    assert measuring.operating_points(rows)[0]["method"] == "wider"  # the most accurate


def test_operating_point_falls_back_to_the_most_accurate():
    second = measuring.operating_points(_rows())[1]
    assert (second["family"], second["within_drop"]) == ("g", False)


def test_operating_points_refuse_a_bad_drop():
    with pytest.raises(ValueError, match="operating_points: max_drop must be in"):
        measuring.operating_points(_rows(), max_drop=1.5)


def test_speedup_map_draws_one_series_per_family_and_the_diagonal():
    ax = measuring.plot_speedup_map(_rows())
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[:3] == ["f", "g", "realisation 1"]


def test_survival_plot_draws_each_sweep():
    points = [{"family": "f", "method": "m", "axis": axis, "x_name": "width", "x": x,
               "batch_size": 1 if axis == "size" else x, "realisation": 0.5}
              for axis in ("size", "batch") for x in (1, 4)]
    left, right = measuring.plot_survival(points)
    assert left.get_xlabel() == "width (batch 1)" and right.get_xlabel() == "width"


def test_predictions_plot_refuses_nothing_to_draw():
    with pytest.raises(ValueError, match="plot_predictions: predictions must not be empty"):
        measuring.plot_predictions([])
