"""The ELUE-style score's three properties (spec C.8) and its input checks."""

import numpy as np
import pytest

from tinydyn.measure.elue import (
    elue_score,
    front_curve,
    interpolate_reference,
    plot_against_reference,
    reference_curve,
)

REF_C = np.array([10.0, 20.0, 40.0, 80.0])
REF_M = np.array([0.5, 0.7, 0.8, 0.85])


def test_points_on_the_reference_score_zero():  # P-C8.1
    rng = np.random.default_rng(0)
    costs = rng.uniform(10, 80, size=20)
    on = interpolate_reference(REF_C, REF_M, costs)
    assert elue_score(costs, on, REF_C, REF_M) == pytest.approx(0.0, abs=1e-12)
    # a point halfway along a segment sits halfway between its ends
    assert interpolate_reference(REF_C, REF_M, [30.0])[0] == pytest.approx(0.75)


def test_raising_every_point_raises_the_score_by_delta():  # P-C8.2
    rng = np.random.default_rng(1)
    costs, metrics = rng.uniform(5, 100, 15), rng.uniform(0.4, 0.9, 15)
    base = elue_score(costs, metrics, REF_C, REF_M)
    for delta in (0.03, -0.1):
        assert elue_score(costs, metrics + delta, REF_C, REF_M) == pytest.approx(base + delta)


def test_interpolation_is_exact_at_reference_points():  # P-C8.3
    shuffled = np.random.default_rng(2).permutation(4)
    got = interpolate_reference(REF_C[shuffled], REF_M[shuffled], REF_C)
    np.testing.assert_array_equal(got, REF_M)


def test_outside_the_range_the_ends_are_held():
    assert interpolate_reference(REF_C, REF_M, [1.0, 1000.0]).tolist() == [0.5, 0.85]


def test_duplicate_reference_costs_keep_the_best():
    c, m = reference_curve([1.0, 1.0, 2.0], [0.2, 0.4, 0.5])
    assert c.tolist() == [1.0, 2.0] and m.tolist() == [0.4, 0.5]


def test_front_curve_keeps_only_non_dominated_points():
    c, m = front_curve([1, 2, 3, 4], [0.5, 0.4, 0.7, 0.6])
    assert c.tolist() == [1, 3] and m.tolist() == [0.5, 0.7]


def test_bad_input_names_the_function():
    with pytest.raises(ValueError, match="elue_score"):
        elue_score([1, 2], [0.5], REF_C, REF_M)
    with pytest.raises(ValueError, match="reference_curve"):
        elue_score([1.0], [0.5], [], [])
    with pytest.raises(ValueError, match="finite"):
        elue_score([np.nan], [0.5], REF_C, REF_M)


def test_plot_shows_each_score():
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    ax = plot_against_reference({"m": (REF_C, REF_M + 0.1)}, (REF_C, REF_M))
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("+0.1" in s for s in labels)
