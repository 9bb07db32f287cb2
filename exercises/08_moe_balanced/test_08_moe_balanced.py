"""Graded tests of exercise 08 (balanced and unlearned routing): 10 points.

Every test calls the functions of ``student.py`` (fixture ``impl``) on the stored inputs
(fixture ``refs``) and compares with the library's results (fixture ``check``): the bid of the
library's auction, the optimum of each assignment problem (Hungarian algorithm), and the
library's balanced hash. Auctions are graded by balance and total score, which every correct
auction guarantees whatever order its tokens bid in.
"""

import numpy as np
import pytest

pytestmark = pytest.mark.exercise("08")

CASES = range(5)


def _bid(impl, scores, price, eps):
    received = impl.token_bid(scores.copy(), price.copy(), eps)
    assert received is not None and len(received) == 3, "token_bid: return (e, j, new_price)"
    return int(received[0]), int(received[1]), float(received[2])


# ---- one bid ---------------------------------------------------------------------------------


@pytest.mark.points(2)
def test_token_bid_random_cases(impl, refs, check):
    got = [_bid(impl, s, p, 0.01) for s, p in zip(refs["bid_scores"], refs["bid_price"])]
    check.equal(np.array([[g[0], g[1]] for g in got], np.int64),
                np.stack([refs["bid_expert"], refs["bid_slot"]], axis=1),
                "(expert, slot) of each bid")
    check.allclose(np.array([g[2] for g in got]), refs["bid_new_price"],
                   "new price (did you count the same expert's next slot as the runner-up?)")


@pytest.mark.points(1)
def test_token_bid_edge_cases(impl, refs, check):
    # equal slot prices; a single slot in all; one slot per expert
    for i in range(3):
        e, j, price = _bid(impl, refs[f"edge{i}_scores"], refs[f"edge{i}_price"], 0.01)
        check.equal(np.array([e, j], np.int64), refs[f"edge{i}_expected"],
                    f"edge case {i}: (expert, slot)")
        check.allclose(np.array(price), refs[f"edge{i}_new_price"], f"edge case {i}: price")


# ---- the auction -----------------------------------------------------------------------------


def _assign(impl, refs, kind, i):
    scores = refs[f"auc_{kind}{i}_scores"]
    received = impl.auction(scores.copy(), float(refs[f"auc_{kind}{i}_eps"]))
    assert received is not None, "auction: the function returned None"
    expert = np.asarray(received).astype(np.int64).ravel()
    assert expert.shape == (scores.shape[0],), \
        f"auction: expected {scores.shape[0]} experts, got shape {expert.shape}"
    assert expert.min() >= 0 and expert.max() < scores.shape[1], "auction: expert out of range"
    return scores, expert, float(scores[np.arange(len(expert)), expert].sum())


@pytest.mark.points(1)
def test_auction_is_balanced(impl, refs, check):
    for kind in ("real", "int"):
        for i in CASES:
            scores, expert, _ = _assign(impl, refs, kind, i)
            t, e = scores.shape
            check.equal(np.bincount(expert, minlength=e), np.full(e, t // e, np.int64),
                        f"tokens per expert ({kind} case {i})")


@pytest.mark.points(2)
def test_auction_is_within_t_eps_of_the_optimum(impl, refs, check):
    for i in CASES:
        scores, expert, total = _assign(impl, refs, "real", i)
        t, e = scores.shape
        best, eps = float(refs[f"auc_real{i}_optimum"]), float(refs[f"auc_real{i}_eps"])
        balanced = (np.bincount(expert, minlength=e) == t // e).all()
        assert balanced, f"real case {i}: the assignment is not balanced"
        assert best - t * eps - 1e-9 <= total <= best + 1e-9, \
            (f"real case {i}: total score {total:.6f}, the optimum is {best:.6f}; a correct "
             f"auction is within T * eps = {t * eps:.3f} of it")


@pytest.mark.points(2)
def test_auction_is_exact_on_integer_scores(impl, refs, check):
    for i in CASES:
        scores, expert, total = _assign(impl, refs, "int", i)
        t, e = scores.shape
        balanced = (np.bincount(expert, minlength=e) == t // e).all()
        assert balanced, f"integer case {i}: the assignment is not balanced"
        check.allclose(np.array(total), refs[f"auc_int{i}_optimum"],
                       f"integer case {i}: total score (eps < 1/T makes the auction exact)")


# ---- the balanced hash -----------------------------------------------------------------------


@pytest.mark.points(1)
def test_balanced_hash(impl, refs, check):
    received = impl.balanced_hash(refs["hash_freqs"].copy(), 6)
    assert received is not None, "balanced_hash: the function returned None"
    check.equal(np.asarray(received).astype(np.int64), refs["hash_table"], "hash table")


@pytest.mark.points(1)
def test_balanced_hash_with_equal_frequencies(impl, refs, check):
    received = impl.balanced_hash(refs["hash_tie_freqs"].copy(), 4)
    assert received is not None, "balanced_hash: the function returned None"
    check.equal(np.asarray(received).astype(np.int64), refs["hash_tie_table"],
                "hash table (equal frequencies: lower id first; equal loads: lower expert)")
