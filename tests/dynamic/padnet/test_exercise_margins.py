"""Exercise 11's stored discrete decisions (masks chosen by a threshold) sit clear of ties, so a
student's float arithmetic cannot flip them; the tie case is exact on purpose and left out."""

from pathlib import Path

import numpy as np
import pytest

from tinydyn.dynamic.padnet import density_schedule, normalise, select_masks
from tinydyn.grading.exercises.ex11_padnet import saliency_problem
from tinydyn.grading.references import load_npz

REFS = Path(__file__).resolve().parents[3] / "exercises" / "11_padnet" / "references.npz"
MARGIN = 1e-9


def _gap(scores, density) -> float:
    """Relative gap between the last kept and the first dropped score of a global ranking."""
    flat = np.sort(np.concatenate([np.ravel(s) for s in scores]))[::-1]
    keep = int(np.floor(density * flat.size + 0.5))
    if keep in (0, flat.size):
        return np.inf
    return (flat[keep - 1] - flat[keep]) / flat.max()


@pytest.fixture
def refs():
    if not REFS.is_file():
        pytest.skip(f"no {REFS}")
    return load_npz(REFS)


def test_the_threshold_case_is_not_a_tie(refs):
    scores = [refs["threshold_s0"], refs["threshold_s1"]]
    assert _gap(scores, float(refs["threshold_density"])) > MARGIN


def test_every_round_of_the_stored_partition_is_clear_of_ties(refs):
    saliency_fn = saliency_problem(refs)
    masks = [np.ones(refs["imp_a0"].shape), np.ones(refs["imp_a1"].shape)]
    for density in density_schedule(float(refs["imp_kappa"]), int(refs["imp_T"])):
        scores = normalise(saliency_fn(masks))
        assert _gap(scores, density) > MARGIN
        masks = select_masks(scores, density)
    np.testing.assert_array_equal(masks[0], refs["imp_m0"])
    np.testing.assert_array_equal(masks[1], refs["imp_m1"])
