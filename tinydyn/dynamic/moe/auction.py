"""Exact and greedy balanced assignments, the yardsticks of BASE layers' auction.

The auction (:func:`tinydyn.kernels.auction.balanced_assignment`) is fast and within
``T * eps`` of the optimum. To check it, this module solves the same problem exactly:

* :func:`brute_force_assignment` tries every balanced assignment (tiny T only);
* :func:`hungarian_assignment` runs the Hungarian algorithm (Kuhn-Munkres, in the O(n^3)
  shortest-augmenting-path form) on the *expert-replicated* T x T matrix, each expert copied
  T/E times;

and :func:`greedy_capacity_assignment` is the naive alternative the auction must beat: tokens
in order take their favourite expert that still has room.

All take scores (T, E) with T divisible by E, and return the expert of every token, int64 (T,).
"""

from __future__ import annotations

import itertools

import numpy as np

from tinydyn._checks import fail

__all__ = [
    "assignment_score", "brute_force_assignment", "greedy_capacity_assignment",
    "hungarian_assignment", "is_balanced",
]


def _check_scores(fn: str, scores) -> np.ndarray:
    if not isinstance(scores, np.ndarray):
        fail(fn, f"scores must be a numpy.ndarray, got {type(scores).__name__}", TypeError)
    if scores.ndim != 2 or 0 in scores.shape:
        fail(fn, f"scores must be 2-D (T, E) with T, E >= 1, got shape {scores.shape}")
    if scores.shape[0] % scores.shape[1]:
        fail(fn, f"T must be divisible by E, got T={scores.shape[0]}, E={scores.shape[1]}")
    scores = np.asarray(scores, dtype=np.float64)
    if not np.isfinite(scores).all():
        fail(fn, "scores must be finite, got NaN or inf")
    return scores


def assignment_score(scores: np.ndarray, expert: np.ndarray) -> float:
    """``sum_t scores[t, expert[t]]``."""
    expert = np.asarray(expert, dtype=np.int64)
    if expert.shape != (scores.shape[0],):
        fail("assignment_score", f"expert must have shape ({scores.shape[0]},), got "
             f"{expert.shape}")
    return float(np.asarray(scores, dtype=np.float64)[np.arange(expert.size), expert].sum())


def is_balanced(expert: np.ndarray, n_experts: int) -> bool:
    """True iff every expert appears exactly ``len(expert) / n_experts`` times."""
    expert = np.asarray(expert, dtype=np.int64)
    if expert.size % n_experts:
        return False
    counts = np.bincount(expert, minlength=n_experts)
    return counts.size == n_experts and bool((counts == expert.size // n_experts).all())


def brute_force_assignment(scores: np.ndarray) -> np.ndarray:
    """The best balanced assignment by trying all of them (T <= 12: up to 369,600 for T=12,
    E=3). Ties go to the first assignment in lexicographic order of the expert sequence."""
    fn = "brute_force_assignment"
    scores = _check_scores(fn, scores)
    n_tokens, n_experts = scores.shape
    if n_tokens > 12:
        fail(fn, f"T must be <= 12 for brute force, got T={n_tokens}")
    capacity = n_tokens // n_experts
    best, best_total = None, -np.inf
    # distinct orderings of the multiset {e repeated capacity times}, in lexicographic order
    base = np.repeat(np.arange(n_experts), capacity)
    for perm in sorted(set(itertools.permutations(base.tolist()))):
        total = scores[np.arange(n_tokens), perm].sum()
        if total > best_total:
            best, best_total = perm, total
    return np.array(best, dtype=np.int64)


def hungarian_assignment(scores: np.ndarray) -> np.ndarray:
    """The best balanced assignment by the Hungarian algorithm on the replicated matrix.

    Minimises the cost ``-scores`` over a T x T matrix whose column j is expert ``j // C``
    (C = T/E). Rows are added one at a time; each addition finds a shortest augmenting path
    with Dijkstra-like relaxation over reduced costs ``cost - u[row] - v[col]`` (potentials
    ``u``, ``v`` keep every reduced cost >= 0), then flips the path: O(T^3) in all.
    """
    fn = "hungarian_assignment"
    scores = _check_scores(fn, scores)
    n, n_experts = scores.shape
    capacity = n // n_experts
    cost = -np.repeat(scores, capacity, axis=1)  # (T, T): slot j belongs to expert j // C
    # 1-based arrays with a virtual column 0, as in the textbook form of the algorithm
    u = np.zeros(n + 1)
    v = np.zeros(n + 1)
    row_of_col = np.zeros(n + 1, dtype=np.int64)  # 0 = free
    way = np.zeros(n + 1, dtype=np.int64)
    for row in range(1, n + 1):
        row_of_col[0] = row
        col0 = 0
        min_reduced = np.full(n + 1, np.inf)
        used = np.zeros(n + 1, dtype=bool)
        while True:
            used[col0] = True
            r = row_of_col[col0]
            # relax every unused column from row r (vectorised over columns)
            cols = np.flatnonzero(~used[1:]) + 1
            reduced = cost[r - 1, cols - 1] - u[r] - v[cols]
            better = reduced < min_reduced[cols]
            min_reduced[cols[better]] = reduced[better]
            way[cols[better]] = col0
            col1 = cols[np.argmin(min_reduced[cols])]
            delta = min_reduced[col1]
            # shift potentials so the tightest column becomes reachable at reduced cost 0
            u[row_of_col[used]] += delta
            v[used] -= delta
            min_reduced[~used] -= delta
            col0 = col1
            if row_of_col[col0] == 0:
                break
        while col0:  # flip the augmenting path back to the root
            col1 = way[col0]
            row_of_col[col0] = row_of_col[col1]
            col0 = col1
    expert = np.empty(n, dtype=np.int64)
    expert[row_of_col[1:] - 1] = np.arange(n) // capacity
    return expert


def greedy_capacity_assignment(scores: np.ndarray) -> np.ndarray:
    """Tokens in order each take their best expert that still has fewer than T/E tokens."""
    scores = _check_scores("greedy_capacity_assignment", scores)
    n_tokens, n_experts = scores.shape
    capacity = n_tokens // n_experts
    room = np.full(n_experts, capacity)
    expert = np.empty(n_tokens, dtype=np.int64)
    for t in range(n_tokens):
        choice = int(np.argmax(np.where(room > 0, scores[t], -np.inf)))
        expert[t] = choice
        room[choice] -= 1
    return expert
