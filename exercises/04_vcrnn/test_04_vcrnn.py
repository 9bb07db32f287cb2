"""Graded tests of exercise 04 (VCRNN): 10 points.

Every test calls the functions of ``student.py`` (fixture ``impl``) on the stored inputs
(fixture ``refs``) and compares with the library's results (fixture ``check``): the soft mask
of :mod:`tinydyn.kernels.vcrnn`, its hard decision, the compiled hard inference kernel run for
one step, and the cost model of :mod:`tinydyn.dynamic.skimming.vcrnn`.
"""

import numpy as np
import pytest

pytestmark = pytest.mark.exercise("04")


def _array(received, name):
    assert received is not None, f"{name}: the function returned None"
    return np.asarray(received)


# ---- the soft mask ------------------------------------------------------------------------------


@pytest.mark.points(2)
def test_soft_mask_values(impl, refs, check):
    received = impl.vcrnn_soft_mask(refs["mask_m"], int(refs["mask_d"]),
                                    float(refs["mask_sharpness"]), 0.0)
    check.allclose(_array(received, "mask"), refs["mask_expected"],
                   f"mask (m = {np.round(refs['mask_m'], 3).tolist()}, sharpness 3, eps 0)")


@pytest.mark.points(1)
def test_soft_mask_threshold_gives_exact_zeros_and_ones(impl, refs, check):
    received = _array(impl.vcrnn_soft_mask(refs["thres_m"], int(refs["mask_d"]),
                                           float(refs["thres_sharpness"]),
                                           float(refs["thres_eps"])), "mask")
    check.allclose(received, refs["thres_expected"], "mask (sharpness 2, eps 0.05)")
    exact = (refs["thres_expected"] == 0) | (refs["thres_expected"] == 1)
    check.equal(received[exact], refs["thres_expected"][exact],
                "mask entries beyond the threshold (must be exactly 0.0 or 1.0)")


# ---- the hard decision --------------------------------------------------------------------------


@pytest.mark.points(2)
def test_rows_round_ties_down_and_clip(impl, refs, check):
    m, d = refs["rows_m"], int(refs["rows_d"])
    received = _array(impl.vcrnn_rows(m, d), "rows")
    assert received.dtype.kind in "iu", f"rows: expected integers, received dtype {received.dtype}"
    check.equal(received.astype(np.int64), refs["rows_expected"],
                f"rows for m * d = {np.round(m * d, 3).tolist()} (d = {d})")


# ---- one hard step ------------------------------------------------------------------------------


def _step(impl, refs, i, w_ih=None, w_hh=None, bias=None):
    return _array(impl.vcrnn_step_hard(
        refs["step_x"][i], refs["step_h"][i].copy(),
        refs["step_w_ih"] if w_ih is None else w_ih,
        refs["step_w_hh"] if w_hh is None else w_hh,
        refs["step_bias"] if bias is None else bias, int(refs["step_k"][i])), "h_new")


@pytest.mark.points(2)
def test_step_hard_values(impl, refs, check):
    for i, k in enumerate(refs["step_k"]):
        check.allclose(_step(impl, refs, i), refs["step_expected"][i],
                       f"h_new (case {i}, k = {k} of {refs['step_h'].shape[1]} rows)")


@pytest.mark.points(1)
def test_step_hard_copies_skipped_rows_whatever_their_weights(impl, refs, check):
    # rows k.. of the weights are not used by a hard step: fill them with NaN, and the new
    # state must still equal the reference (a step that computes every row, then blends,
    # picks the NaN up), and h itself must come back unchanged
    for i, k in enumerate(refs["step_k"]):
        w_ih, w_hh, bias = refs["step_w_ih"].copy(), refs["step_w_hh"].copy(), refs["step_bias"]
        bias = bias.copy()
        w_ih[k:], w_hh[k:], bias[k:] = np.nan, np.nan, np.nan
        h = refs["step_h"][i].copy()
        received = _array(impl.vcrnn_step_hard(refs["step_x"][i], h, w_ih, w_hh, bias, int(k)),
                          "h_new")
        check.allclose(received, refs["step_expected"][i],
                       f"h_new (case {i}, k = {k}, NaN in the weights of rows {k}..)")
        check.equal(h, refs["step_h"][i], f"h after the step (case {i}): it must not change")


# ---- the cost -----------------------------------------------------------------------------------


@pytest.mark.points(2)
def test_step_flops_match_the_hand_count(impl, refs, check):
    received = np.array([impl.vcrnn_step_flops(int(k), int(dx), int(d))
                         for k, dx, d in refs["flops_cases"]])
    assert received.dtype.kind in "iu", f"FLOPs: expected ints, received dtype {received.dtype}"
    cases = [tuple(int(v) for v in row) for row in refs["flops_cases"]]
    check.equal(received, refs["flops_expected"], f"FLOPs for (k, input_size, hidden_size) = "
                f"{cases}")
