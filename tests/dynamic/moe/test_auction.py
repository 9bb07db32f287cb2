"""The exact balanced assignments (brute force, Hungarian) and the greedy one."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinydyn.dynamic.moe.auction import (
    assignment_score,
    brute_force_assignment,
    greedy_capacity_assignment,
    hungarian_assignment,
    is_balanced,
)
from tinydyn.kernels.auction import balanced_assignment

FAST = settings(derandomize=True, deadline=None, max_examples=25)


@FAST
@given(seed=st.integers(0, 2**16), n_experts=st.integers(1, 3), capacity=st.integers(1, 3))
def test_hungarian_equals_brute_force_and_auction_on_small_cases(seed, n_experts, capacity):
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((n_experts * capacity, n_experts))
    brute = brute_force_assignment(scores)
    hungarian = hungarian_assignment(scores)
    assert is_balanced(brute, n_experts) and is_balanced(hungarian, n_experts)
    best = assignment_score(scores, brute)
    assert assignment_score(scores, hungarian) == pytest.approx(best, abs=1e-12)
    auction = balanced_assignment(scores, eps=1e-9)
    assert assignment_score(scores, auction.expert) == pytest.approx(best, abs=1e-6)


def test_brute_force_checks_every_balanced_assignment():
    rng = np.random.default_rng(3)
    scores = rng.standard_normal((6, 2))
    totals = [scores[np.arange(6), list(p)].sum()
              for p in itertools.product(range(2), repeat=6) if sum(p) == 3]
    assert assignment_score(scores, brute_force_assignment(scores)) == pytest.approx(max(totals))


def test_hungarian_agrees_with_scipy_on_a_larger_case():
    optimize = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(11)
    scores = rng.standard_normal((48, 6))
    rows, cols = optimize.linear_sum_assignment(np.repeat(scores, 8, axis=1), maximize=True)
    exact = np.repeat(scores, 8, axis=1)[rows, cols].sum()
    assert assignment_score(scores, hungarian_assignment(scores)) == pytest.approx(exact)


@pytest.mark.parametrize("seed", range(6))
def test_balanced_optimum_is_never_below_greedy_with_capacity(seed):
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((32, 4))
    greedy = greedy_capacity_assignment(scores)
    assert is_balanced(greedy, 4)
    best = assignment_score(scores, balanced_assignment(scores).expert)
    assert best >= assignment_score(scores, greedy) - 1e-9


def test_greedy_is_strictly_worse_on_a_case_made_for_it():
    # token 0 takes expert 0 first; token 1 needed it far more
    scores = np.array([[1.0, 0.9], [10.0, 0.0]])
    assert list(greedy_capacity_assignment(scores)) == [0, 1]
    assert list(hungarian_assignment(scores)) == [1, 0]


def test_is_balanced():
    assert is_balanced(np.array([0, 1, 1, 0]), 2)
    assert not is_balanced(np.array([0, 0, 0, 1]), 2)
    assert not is_balanced(np.array([0, 1, 2]), 2)


@pytest.mark.parametrize("fn", [brute_force_assignment, hungarian_assignment,
                                greedy_capacity_assignment])
def test_bad_input_raises_naming_the_function(fn):
    with pytest.raises(ValueError, match=f"{fn.__name__}: T must be divisible by E"):
        fn(np.ones((5, 2)))
    with pytest.raises(TypeError, match=f"{fn.__name__}: scores must be a numpy.ndarray"):
        fn([[1.0]])
    with pytest.raises(ValueError, match=f"{fn.__name__}: scores must be finite"):
        fn(np.array([[np.inf], [0.0]]))


def test_brute_force_refuses_large_t():
    with pytest.raises(ValueError, match="brute_force_assignment: T must be <= 12"):
        brute_force_assignment(np.zeros((14, 2)))


def test_exercise_08_bid_references_are_clear_of_ties():
    # the graded bids compare (expert, slot) exactly: the stored random cases must not sit on
    # a tie between two experts' best values or two slot prices (edge cases tie on purpose)
    from pathlib import Path

    from tinydyn.grading.references import load_npz

    path = Path(__file__).resolve().parents[3] / "exercises" / "08_moe_balanced" / "references.npz"
    if not path.is_file():
        pytest.skip(f"no {path} in this checkout")
    refs = load_npz(path)
    for scores, price in zip(refs["bid_scores"], refs["bid_price"]):
        values = np.sort(scores - price.min(axis=1))[::-1]
        assert values[0] - values[1] > 1e-9
        slots = np.sort(price[int(np.argmax(scores - price.min(axis=1)))])
        assert slots[1] - slots[0] > 1e-9
