"""Graded tests of exercise 12 (measuring dynamic networks): 10 points.

Every test calls the functions of ``student.py`` (fixture ``impl``) on the stored inputs
(fixture ``refs``) and compares with the library's results (fixture ``check``):
tinydyn.measure.pareto, tinydyn.measure.elue and tinydyn.measure.latency.
"""

import numpy as np
import pytest

pytestmark = pytest.mark.exercise("12")


def _returned(value, name):
    assert value is not None, f"{name}: the function returned None"
    return value


# ---- the Pareto front -----------------------------------------------------------------------


def _front(impl, refs, check, cases):
    for i in cases:
        costs, accs = refs["front_costs"][i].copy(), refs["front_accs"][i].copy()
        got = np.asarray(_returned(impl.pareto_front(costs, accs), "pareto_front"))
        expected = refs["front_expected"][i]
        check.equal(got.astype(np.int64).ravel(), expected[expected >= 0],
                    f"front of case {i} (indices by increasing cost)")
        check.equal(costs, refs["front_costs"][i], "costs after pareto_front (left unchanged)")


@pytest.mark.points(2)
def test_pareto_front(impl, refs, check):
    _front(impl, refs, check, range(len(refs["front_costs"]) - 1))


@pytest.mark.points(1)
def test_pareto_front_with_ties(impl, refs, check):
    # a point at another's cost but less accurate, and an exact duplicate of a front point
    _front(impl, refs, check, [len(refs["front_costs"]) - 1])


# ---- the ELUE-style score -------------------------------------------------------------------


def _elue(impl, refs, i):
    return float(_returned(impl.elue_score(
        refs["elue_costs"][i].copy(), refs["elue_accs"][i].copy(),
        refs["elue_ref_costs"][i].copy(), refs["elue_ref_accs"][i].copy()), "elue_score"))


@pytest.mark.points(2)
def test_elue_score(impl, refs, check):
    got = np.array([_elue(impl, refs, i) for i in range(len(refs["elue_costs"]) - 1)])
    check.allclose(got, refs["elue_expected"][:-1], "ELUE-style scores")


@pytest.mark.points(1)
def test_elue_score_reference_with_two_points_at_one_cost(impl, refs, check):
    i = len(refs["elue_costs"]) - 1
    check.allclose(np.array([_elue(impl, refs, i)]), refs["elue_expected"][i:],
                   "score against a reference with two points at one cost (the best counts)")


# ---- realisation ----------------------------------------------------------------------------


@pytest.mark.points(2)
def test_realisation_from_timing_samples(impl, refs, check):
    got = []
    for base, method, (f_base, f_method) in zip(refs["real_base"], refs["real_method"],
                                                refs["real_flops"]):
        out = _returned(impl.realisation(base.copy(), method.copy(), float(f_base),
                                         float(f_method)), "realisation")
        got.append([float(v) for v in out])
    check.allclose(np.array(got), refs["real_expected"],
                   "(speedup, flop_speedup, realisation) per case (medians, not means?)")


# ---- the latency model ----------------------------------------------------------------------


def _latency(impl, refs, i):
    out = _returned(impl.fit_latency(refs["lat_steps"][i].copy(), refs["lat_flops"][i].copy(),
                                     refs["lat_seconds"][i].copy()), "fit_latency")
    return [float(v) for v in out]


@pytest.mark.points(1)
def test_fit_latency(impl, refs, check):
    got = np.array([_latency(impl, refs, i) for i in range(len(refs["lat_steps"]) - 1)])
    check.allclose(got, refs["lat_expected"][:-1], "(a, b) fitted in relative error",
                   rtol=1e-6, atol=1e-18)  # a ~ 1e-6 s, b ~ 1e-9 s: no absolute slack


@pytest.mark.points(1)
def test_fit_latency_keeps_coefficients_non_negative(impl, refs, check):
    i = len(refs["lat_steps"]) - 1
    check.allclose(np.array([_latency(impl, refs, i)]), refs["lat_expected"][i:],
                   "(a, b) where the unconstrained fit prices a step below 0", rtol=1e-6,
                   atol=1e-18)
