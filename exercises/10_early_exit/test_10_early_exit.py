"""Graded tests of exercise 10 (early exit): 10 points.

Every test calls the functions of ``student.py`` (fixture ``impl``) on the stored inputs
(fixture ``refs``) and compares with the library's results (fixture ``check``): the exit
decisions of the library's entropy and patience policies, and the gather its compaction
engine applies to a batch's state.
"""

import numpy as np
import pytest

pytestmark = pytest.mark.exercise("10")


def _pair(received, name):
    assert received is not None and len(received) == 2, \
        f"{name}: return (exit_layers, predictions)"
    return (np.asarray(received[0]).astype(np.int64).ravel(),
            np.asarray(received[1]).astype(np.int64).ravel())


def _entropy(impl, refs, check, case, logits):
    t = float(refs[f"entropy_{case}_threshold"])
    exits, preds = _pair(impl.entropy_exit(logits.copy(), t), "entropy_exit")
    check.equal(exits, refs[f"entropy_{case}_exits"], f"exit layers (threshold {t:.4f})")
    check.equal(preds, refs[f"entropy_{case}_preds"], f"predictions (threshold {t:.4f})")


# ---- the entropy rule -----------------------------------------------------------------------


@pytest.mark.points(2)
def test_entropy_exit_moderate_threshold(impl, refs, check):
    _entropy(impl, refs, check, "mid", refs["logits"])


@pytest.mark.points(1)
def test_entropy_exit_high_threshold(impl, refs, check):
    _entropy(impl, refs, check, "high", refs["logits"])


@pytest.mark.points(1)
def test_entropy_exit_large_logits_stay_finite(impl, refs, check):
    _entropy(impl, refs, check, "big", refs["entropy_big_logits"])


# ---- the patience rule ----------------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.parametrize("patience", [1, 2, 3])
def test_patience_exit(impl, refs, check, patience):
    exits, preds = _pair(impl.patience_exit(refs["patience_logits"].copy(), patience),
                         "patience_exit")
    check.equal(exits, refs[f"patience_{patience}_exits"], f"exit layers (patience {patience})")
    check.equal(preds, refs[f"patience_{patience}_preds"], f"predictions (patience {patience})")


@pytest.mark.points(1)
def test_patience_exit_large_patience_runs_to_the_end(impl, refs, check):
    depth = refs["patience_logits"].shape[0]
    for patience in (depth - 1, depth):
        exits, preds = _pair(impl.patience_exit(refs["patience_logits"].copy(), patience),
                             "patience_exit")
        check.equal(exits, refs[f"patience_{patience}_exits"],
                    f"exit layers (patience {patience}: an exit only at layer L)")
        check.equal(preds, refs[f"patience_{patience}_preds"],
                    f"predictions (patience {patience})")


# ---- one compaction step --------------------------------------------------------------------


@pytest.mark.points(2)
def test_compaction_step_gathers_rows_and_their_state(impl, refs, check):
    args = [refs[f"comp_{k}"].copy() for k in ("fires", "ids", "hidden", "mask", "counts")]
    received = impl.compaction_step(*args)
    assert received is not None and len(received) == 5, \
        "compaction_step: return (kept_ids, kept_hidden, kept_mask, kept_counts, exited_ids)"
    ids, hidden, mask, counts, done = (np.asarray(r) for r in received)
    check.equal(ids.astype(np.int64).ravel(), refs["comp_kept_ids"], "ids of the rows kept")
    check.allclose(hidden, refs["comp_kept_hidden"], "hidden states of the rows kept")
    check.equal(mask.astype(bool), refs["comp_kept_mask"], "padding masks of the rows kept")
    check.equal(counts.astype(np.int64).ravel(), refs["comp_kept_counts"],
                "patience counters of the rows kept")
    check.equal(done.astype(np.int64).ravel(), refs["comp_done"], "ids of the rows that exited")
