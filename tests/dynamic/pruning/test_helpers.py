"""The small pieces the hard path and exercise 06 share: masks and the repacking plan."""

import numpy as np

from tinydyn import Tensor
from tinydyn.dynamic.pruning import compact_rows, ltp_hard_keep, ltp_soft_mask


def test_compact_rows_puts_kept_rows_first_in_order_and_cuts_to_the_longest():
    keep = np.array([[True, False, True, True], [False, True, False, False]])
    rows, valid = compact_rows(keep)
    np.testing.assert_array_equal(rows[0], [0, 2, 3])
    np.testing.assert_array_equal(rows[1, :1], [1])
    np.testing.assert_array_equal(valid, [[True, True, True], [True, False, False]])
    rows, valid = compact_rows(np.zeros((2, 3), bool))
    assert rows.shape == (2, 1) and not valid.any()


def test_soft_mask_is_one_where_nothing_can_be_pruned_and_steep_without_overflow():
    s = np.array([[0.5, 0.01, 0.2, 0.0]])
    prunable = np.array([[False, True, True, False]])
    with np.errstate(over="raise", invalid="raise"):
        m = ltp_soft_mask(Tensor(s), 0.1, 1e-5, prunable).data
    np.testing.assert_array_equal(m, [[1.0, 0.0, 1.0, 1.0]])
    m = ltp_soft_mask(Tensor(s), 0.1, 0.05, prunable).data
    np.testing.assert_allclose(m[0, 1], 1 / (1 + np.exp(0.09 / 0.05)), rtol=1e-12)
    keep = ltp_hard_keep(s, 0.1, prunable)
    np.testing.assert_array_equal(keep, [[True, False, True, True]])
