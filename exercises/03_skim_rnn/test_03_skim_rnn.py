"""Graded tests of exercise 03 (Skim-RNN): 10 points.

Every test calls the functions of ``student.py`` (fixture ``impl``) on the stored inputs
(fixture ``refs``) and compares with the library's outputs (fixture ``check``).
"""

import numpy as np
import pytest

pytestmark = pytest.mark.exercise("03")

NAMES = ("w_big", "b_big", "w_small", "b_small", "w_dec", "b_dec")


def _weights(refs):
    return [refs[k] for k in NAMES]


def _step(impl, refs, case, tau=None, hard=None):
    tau = refs[f"step_{case}_tau"].item() if tau is None else tau
    hard = bool(refs[f"step_{case}_hard"]) if hard is None else hard
    out = impl.skim_step(refs["step_x"], refs["step_h"], refs["step_c"], *_weights(refs),
                         refs[f"step_{case}_noise"], tau, hard)
    assert isinstance(out, tuple) and len(out) == 3, (
        "skim_step must return a tuple (h_new, c_new, r)")
    return out


def _sequence(impl, refs, case):
    out = impl.skim_inference(refs["seq_xs"], refs["seq_h0"], refs["seq_c0"], *_weights(refs),
                              refs[f"seq_{case}_threshold"].item())
    assert isinstance(out, tuple) and len(out) == 3, (
        "skim_inference must return a tuple (h, c, skims)")
    return out


# ---- one soft step ------------------------------------------------------------------------------

@pytest.mark.points(2)
def test_skim_step_soft_gumbel_softmax(impl, refs, check):
    h, c, r = _step(impl, refs, "soft")
    check.allclose(r, refs["step_soft_r"], "r (soft decision weights)")
    check.allclose(h, refs["step_soft_h"], "h_new (soft)")
    check.allclose(c, refs["step_soft_c"], "c_new (soft)")


@pytest.mark.points(2)
def test_skim_step_hard_is_one_hot(impl, refs, check):
    h, c, r = _step(impl, refs, "hard")
    check.equal(np.asarray(r, np.float64), refs["step_hard_r"],
                "r (hard: one-hot of argmax y, row by row; some rows read, some skim)")
    check.allclose(h, refs["step_hard_h"], "h_new (hard)")
    check.allclose(c, refs["step_hard_c"], "c_new (hard)")


@pytest.mark.points(1)
def test_skim_step_skimming_copies_the_tail_of_the_state(impl, refs, check):
    h, c, r = _step(impl, refs, "skimall", tau=0.5, hard=True)
    check.equal(np.asarray(r, np.float64), refs["step_skimall_r"], "r (every row skims)")
    ds = refs["w_small"].shape[0] // 4
    check.equal(h[:, ds:], refs["step_h"][:, ds:], f"h_new[:, {ds}:] (must be h, untouched)")
    check.allclose(h, refs["step_skimall_h"], "h_new (skimming)")
    check.allclose(c, refs["step_skimall_c"], "c_new (skimming)")


# ---- hard inference -----------------------------------------------------------------------------

@pytest.mark.points(1)
@pytest.mark.parametrize("case", ["low", "half"])
def test_skim_inference_decisions(impl, refs, check, case):
    _, _, skims = _sequence(impl, refs, case)
    threshold = refs[f"seq_{case}_threshold"].item()
    check.equal(np.asarray(skims, bool), refs[f"seq_{case}_skims"],
                f"skims (p(skim) > {threshold})")


@pytest.mark.points(2)
def test_skim_inference_final_state(impl, refs, check):
    h, c, _ = _sequence(impl, refs, "half")
    check.allclose(h, refs["seq_half_h"], "h (final state, threshold 0.5)")
    check.allclose(c, refs["seq_half_c"], "c (final state, threshold 0.5)")


@pytest.mark.points(1)
def test_skim_inference_threshold_one_reads_every_token(impl, refs, check):
    h, c, skims = _sequence(impl, refs, "one")
    check.equal(np.asarray(skims, bool), refs["seq_one_skims"],
                "skims (threshold 1: p(skim) > 1 never holds, even where p(skim) = 1.0)")
    check.allclose(h, refs["seq_one_h"], "h (every token read by the big cell)")
