"""Stored references keep every discrete decision away from a tie.

A reference decision (a skim, a jump, a row count, a saturated mask entry) is compared exactly,
with the student's code and with a regeneration on another machine. Both compute the floats
behind it with other operations than the machine that stored it, so exact agreement is only
guaranteed where the float is further from the decision boundary than rounding could move it.
These tests measure that distance on the stored inputs (ties placed on purpose, exact in any
IEEE arithmetic, are left out and named).
"""

from pathlib import Path

import numpy as np
import pytest

from tinydyn.grading.references import load_npz
from tinydyn.kernels.skim_rnn import hard_weights, skim_hard_forward

ROOT = Path(__file__).resolve().parents[2] / "exercises"
MARGIN = 1e-9  # float64 rounding of these small computations is below 1e-14


def _refs(folder: str) -> dict:
    path = ROOT / folder / "references.npz"
    if not path.is_file():
        pytest.skip(f"no {path} in this checkout")
    return load_npz(path)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def test_exercise_03_hard_step_decisions_are_not_ties():
    refs = _refs("03_skim_rnn")
    xh = np.concatenate([refs["step_x"], refs["step_h"]], axis=1)
    log_p = _log_softmax(xh @ refs["w_dec"].T + refs["b_dec"])
    for case in ("hard", "skimall"):
        gap = np.abs(np.diff(log_p + refs[f"step_{case}_noise"], axis=1))
        assert gap.min() > MARGIN, case


def test_exercise_03_skimming_decisions_are_not_ties():
    refs = _refs("03_skim_rnn")
    dx = refs["seq_xs"].shape[1]
    w = [np.ascontiguousarray(a) for a in (
        refs["w_big"][:, :dx], refs["w_big"][:, dx:], refs["b_big"], refs["w_small"][:, :dx],
        refs["w_small"][:, dx:], refs["b_small"], refs["w_dec"], refs["b_dec"])]
    for case in ("low", "half"):  # "one" reads everything: p > 1 is never true
        threshold = refs[f"seq_{case}_threshold"].item()
        *_, skims, p = skim_hard_forward(refs["seq_xs"][None], np.array([len(refs["seq_xs"])]),
                                         refs["seq_h0"][None], refs["seq_c0"][None],
                                         hard_weights(*w), threshold)
        np.testing.assert_array_equal(skims[0], refs[f"seq_{case}_skims"])
        assert np.abs(p - threshold).min() > MARGIN, case


def test_exercise_04_random_ratios_and_saturated_mask_entries_are_not_ties():
    refs = _refs("04_vcrnn")
    # rows: the first entries are exact ties on purpose (m * 8 a half-integer, exactly
    # representable); the random ones after them must keep clear of every boundary
    t = refs["rows_m"][-6:] * int(refs["rows_d"]) - 0.5
    assert np.abs(t - np.round(t)).min() > MARGIN
    # thresholded mask entries: exactly 0 or 1 only if the sigmoid is clear of eps and 1 - eps
    m, d = refs["thres_m"], int(refs["mask_d"])
    eps = float(refs["thres_eps"])
    z = float(refs["thres_sharpness"]) * (m[:, None] * d - (np.arange(d) + 0.5))
    e = 1 / (1 + np.exp(-z))
    assert np.abs(e - eps).min() > MARGIN and np.abs(e - (1 - eps)).min() > MARGIN


def test_exercise_05_uniforms_are_not_on_a_step_of_the_cdf():
    refs = _refs("05_lstm_jump")
    cdf = np.cumsum(np.exp(_log_softmax(refs["sample_logits"])), axis=1)[:, :-1]
    assert np.abs(cdf - refs["sample_u"][:, None]).min() > MARGIN
