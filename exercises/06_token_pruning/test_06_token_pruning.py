"""Graded tests of exercise 06 (token pruning): 10 points.

Every test calls the functions of ``student.py`` (fixture ``impl``) on the stored inputs
(fixture ``refs``) and compares with the library's results (fixture ``check``): LTP's score
and masks as the library's models compute them, and the repacking its hard inference applies
to a padded batch.
"""

import numpy as np
import pytest

pytestmark = pytest.mark.exercise("06")


def _array(received, name):
    assert received is not None, f"{name}: the function returned None"
    return np.asarray(received)


# ---- the importance score -------------------------------------------------------------------


@pytest.mark.points(2)
def test_importance_scores_hard_weights(impl, refs, check):
    s = _array(impl.importance_scores(refs["probs"].copy(), refs["w_hard"].copy()), "scores")
    check.allclose(s, refs["scores_hard"], "scores with 0/1 query weights", rtol=1e-9,
                   atol=1e-12)


@pytest.mark.points(1)
def test_importance_scores_soft_weights(impl, refs, check):
    s = _array(impl.importance_scores(refs["probs"].copy(), refs["w_soft"].copy()), "scores")
    check.allclose(s, refs["scores_soft"], "scores with soft query weights", rtol=1e-9,
                   atol=1e-12)


# ---- the masks ------------------------------------------------------------------------------


@pytest.mark.points(1)
def test_soft_mask_values(impl, refs, check):
    m = _array(impl.soft_mask(refs["mask_scores"].copy(), float(refs["theta"]),
                              float(refs["temp_mid"]), refs["prunable"].copy()), "soft_mask")
    check.allclose(m, refs["soft_mid"], f"soft mask (T = {float(refs['temp_mid'])})",
                   rtol=1e-9, atol=1e-12)


@pytest.mark.points(1)
def test_soft_mask_steep_temperature_and_unprunable_tokens(impl, refs, check):
    with np.errstate(over="raise", invalid="raise"):
        m = _array(impl.soft_mask(refs["mask_scores"].copy(), float(refs["theta"]),
                                  float(refs["temp_steep"]), refs["prunable"].copy()),
                   "soft_mask")
    check.allclose(m, refs["soft_steep"], "soft mask (steep T: does your exp overflow?)",
                   rtol=1e-9, atol=1e-12)


@pytest.mark.points(1)
def test_hard_keep(impl, refs, check):
    keep = _array(impl.hard_keep(refs["mask_scores"].copy(), float(refs["theta"]),
                                 refs["prunable"].copy()), "hard_keep")
    check.equal(keep.astype(bool), refs["hard"], "kept tokens ([CLS] and padding kept)")


# ---- hard pruning with compaction -----------------------------------------------------------


def _pruned(impl, refs, case):
    out = impl.prune_layer(refs[f"{case}_hidden"].copy(), refs[f"{case}_keep"].copy())
    assert out is not None and len(out) == 3, "prune_layer: return (packed, valid, index)"
    return (np.asarray(out[0]), np.asarray(out[1]).astype(bool),
            np.asarray(out[2]).astype(np.int64))


@pytest.mark.points(2)
def test_prune_layer_packs_the_kept_rows(impl, refs, check):
    packed, valid, index = _pruned(impl, refs, "batch")
    check.equal(valid, refs["batch_valid"], "valid rows of the packed batch")
    check.equal(index, refs["batch_index"], "source row of each packed row")
    check.allclose(packed, refs["batch_packed"], "packed hidden states", rtol=0, atol=0)


@pytest.mark.points(1)
def test_prune_layer_pads_shorter_sequences_with_zeros(impl, refs, check):
    packed, valid, _ = _pruned(impl, refs, "batch")
    check.equal(packed[~valid], np.zeros_like(packed[~valid]), "padding rows are zeros")


@pytest.mark.points(1)
def test_prune_layer_edge_cases(impl, refs, check):
    # one sequence keeps only [CLS], one keeps everything
    packed, valid, index = _pruned(impl, refs, "edge")
    check.equal(index, refs["edge_index"], "source rows (only [CLS]; everything kept)")
    check.allclose(packed, refs["edge_packed"], "packed hidden states", rtol=0, atol=0)
