"""The auction kernel: Numba (Gauss-Seidel) against its NumPy twin (Jacobi), both against an
exact assignment, and the validating wrapper."""

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinydyn.dynamic.moe.auction import assignment_score, hungarian_assignment, is_balanced
from tinydyn.kernels.auction import (
    auction_numba,
    auction_numpy,
    balanced_assignment,
    default_eps,
    warmup,
)
from tinydyn.kernels.backend import use_backend

FAST = settings(derandomize=True, deadline=None, max_examples=30)
KERNELS = {"numba": auction_numba, "numpy": auction_numpy}


def _integer_case(seed, n_experts, capacity):
    rng = np.random.default_rng(seed)
    return rng.integers(-6, 7, size=(n_experts * capacity, n_experts)).astype(np.float64)


def _run(kernel, scores, eps):
    capacity = scores.shape[0] // scores.shape[1]
    start = max(eps, float(scores.max() - scores.min()) / 4)
    expert, n_bids = KERNELS[kernel](scores, capacity, start, eps, 4.0)
    return np.asarray(expert), n_bids


@pytest.mark.parametrize("kernel", ["numba", "numpy"])
@FAST
@given(seed=st.integers(0, 2**16), n_experts=st.integers(1, 4), capacity=st.integers(1, 4))
def test_integer_scores_with_eps_below_one_over_t_reach_the_exact_optimum(kernel, seed,
                                                                            n_experts, capacity):
    scores = _integer_case(seed, n_experts, capacity)
    eps = 1.0 / (scores.shape[0] + 1)  # T * eps < 1: any suboptimal total is at least 1 worse
    expert, n_bids = _run(kernel, scores, eps)
    assert is_balanced(expert, n_experts)
    assert n_bids >= scores.shape[0]
    exact = assignment_score(scores, hungarian_assignment(scores))
    assert assignment_score(scores, expert) == pytest.approx(exact, abs=1e-9)


@pytest.mark.parametrize("kernel", ["numba", "numpy"])
@pytest.mark.parametrize("seed", range(4))
def test_real_scores_are_within_t_eps_of_the_optimum(kernel, seed):
    rng = np.random.default_rng(seed)
    scores = rng.standard_normal((24, 4))
    eps = 0.05  # coarse on purpose, so the bound (not exactness) is what is tested
    expert, _ = _run(kernel, scores, eps)
    exact = assignment_score(scores, hungarian_assignment(scores))
    total = assignment_score(scores, expert)
    assert is_balanced(expert, 4)
    assert exact - 24 * eps - 1e-9 <= total <= exact + 1e-9


@pytest.mark.parametrize("seed", range(5))
def test_numba_kernel_and_numpy_twin_agree(seed):
    # distinct real scores: the optimum is unique, and a tiny eps makes both reach it
    rng = np.random.default_rng(100 + seed)
    scores = rng.standard_normal((32, 4))
    eps = default_eps(scores)
    a, _ = _run("numba", scores, eps)
    b, _ = _run("numpy", scores, eps)
    np.testing.assert_allclose(assignment_score(scores, a), assignment_score(scores, b),
                               rtol=0, atol=32 * eps)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_wrapper_is_balanced_and_optimal_on_both_backends(backend):
    rng = np.random.default_rng(7)
    scores = rng.standard_normal((40, 5)).astype(np.float32)
    with use_backend(backend):
        result = balanced_assignment(scores)
    assert result.expert.dtype == np.int64 and result.expert.shape == (40,)
    assert is_balanced(result.expert, 5)
    exact = assignment_score(scores, hungarian_assignment(scores))
    assert assignment_score(scores, result.expert) >= exact - 40 * result.eps - 1e-9


def test_integer_scores_are_accepted_and_one_expert_takes_everything():
    result = balanced_assignment(np.arange(6).reshape(6, 1))
    np.testing.assert_array_equal(result.expert, np.zeros(6))


def test_a_clear_preference_is_followed_when_it_is_balanced():
    # token t strongly prefers expert t % 3: that assignment is balanced, so it is the optimum
    scores = np.zeros((9, 3))
    scores[np.arange(9), np.arange(9) % 3] = 5.0
    np.testing.assert_array_equal(balanced_assignment(scores).expert, np.arange(9) % 3)


def test_everyone_preferring_one_expert_still_gets_a_balanced_assignment():
    # the column each token prefers is the same; balance forces most of them elsewhere, and the
    # optimum gives expert 0 the tokens that prefer it most
    scores = np.zeros((8, 2))
    scores[:, 0] = np.arange(8)
    result = balanced_assignment(scores)
    np.testing.assert_array_equal(result.expert, [1, 1, 1, 1, 0, 0, 0, 0])


@pytest.mark.parametrize("bad, exc, words", [
    ([[1.0, 2.0]], TypeError, "numpy.ndarray"),
    (np.ones(4), ValueError, "2-D"),
    (np.ones((5, 2)), ValueError, "divisible"),
    (np.array([[np.nan, 1.0], [0.0, 1.0]]), ValueError, "finite"),
    (np.ones((2, 2), dtype=bool), TypeError, "dtype bool"),
])
def test_bad_scores_raise_naming_the_function(bad, exc, words):
    with pytest.raises(exc, match=f"balanced_assignment:.*{words}"):
        balanced_assignment(bad)


def test_bad_eps_and_scaling_raise():
    scores = np.eye(2)
    with pytest.raises(ValueError, match="balanced_assignment: eps must be > 0"):
        balanced_assignment(scores, eps=0.0)
    with pytest.raises(ValueError, match="balanced_assignment: eps must be >= .*rounding"):
        balanced_assignment(scores * 1e6, eps=1e-9)
    with pytest.raises(ValueError, match="balanced_assignment: scaling must be > 1"):
        balanced_assignment(scores, scaling=1.0)


def test_warmup_runs_and_the_kernel_works_without_jit():
    warmup()
    code = ("import numpy as np; from tinydyn.kernels.auction import auction_numba;"
            "e, n = auction_numba(np.array([[0., 2.], [1., 0.]]), 1, 0.5, 0.1, 4.0);"
            "assert list(e) == [1, 0], e")
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


def test_jacobi_bids_by_hand():
    from tinydyn.kernels.auction import jacobi_bids

    price = np.array([[0.0, 0.5], [0.0, 0.0]])
    # token 0: expert 0's cheapest slot is worth 3, the runner-up is expert 0's other slot
    # (3 - 0.5 = 2.5), not expert 1 (1): the bid raises the price by 0.5 + eps
    # token 1: expert 1 (worth 2) has a second slot just as cheap, worth 2 too: + 0 + eps
    expert, slot, bid = jacobi_bids(np.array([[3.0, 1.0], [1.0, 2.0]]), price, 0.1)
    np.testing.assert_array_equal(expert, [0, 1])
    np.testing.assert_array_equal(slot, [0, 0])
    np.testing.assert_allclose(bid, [0.6, 0.1])
    # a single slot in all: nothing to outbid, the price rises by eps
    _, _, bid = jacobi_bids(np.array([[5.0]]), np.array([[2.0]]), 0.25)
    np.testing.assert_allclose(bid, [2.25])
