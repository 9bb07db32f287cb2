"""The auction algorithm for a balanced assignment of T tokens to E experts (BASE layers).

Problem: scores ``s[t, e]`` (T, E); find ``a: tokens -> experts`` maximising ``sum_t s[t, a_t]``
with every expert receiving exactly ``capacity = T / E`` tokens. Copy each expert ``capacity``
times into *slots*: this is a T x T linear assignment problem, which Bertsekas' auction solves.

Every slot has a price (all start at 0). An unassigned token looks at the value
``s[t, e] - price(slot)`` of every slot, takes the best (``v1``, the cheapest slot of its best
expert) and the second best (``w``: another expert's cheapest slot, or the next-cheapest slot of
the same expert), and bids ``price + (v1 - w) + eps`` for the best one: the most it could pay
and still prefer it. The slot's previous owner is evicted and bids again later. When every token
holds a slot, every token is within ``eps`` of its best choice at the final prices
("eps-complementary slackness"), and the total score is within ``T * eps`` of the optimum; with
integer scores and ``eps < 1/T`` it *is* the optimum. ``eps`` is lowered in phases
(epsilon-scaling: big steps find the rough prices fast, small steps make them exact), keeping
the prices and freeing every token at the start of each phase.

Two implementations with the same signature:

* :func:`auction_numba` is the Gauss-Seidel auction: one token bids at a time, from a
  first-in first-out queue of unassigned tokens, and each expert keeps its cheapest and
  second-cheapest slot up to date.
* :func:`auction_numpy` is the Jacobi auction, in whole-array NumPy: every unassigned token
  bids at once, and each slot goes to its highest bidder (ties to the lowest token index).

Both end with eps-complementary slackness, so both totals are within ``T * eps`` of the
optimum; they may reach different assignments only where several are that close to optimal.
:func:`balanced_assignment` validates its arguments and calls the one the backend selects.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from tinydyn._checks import check_float, fail
from tinydyn.kernels.backend import dispatch

__all__ = [
    "Assignment", "auction_numba", "auction_numpy", "balanced_assignment", "default_eps",
    "jacobi_bids", "warmup",
]


@njit(cache=True)
def _refresh(price, capacity, e, min_price, min_slot, second_price):
    """Cheapest slot of expert ``e`` (lowest index on ties) and the next-cheapest price."""
    best = np.inf
    second = np.inf
    arg = e * capacity
    for j in range(e * capacity, (e + 1) * capacity):
        p = price[j]
        if p < best:
            second = best
            best = p
            arg = j
        elif p < second:
            second = p
    min_price[e] = best
    min_slot[e] = arg
    second_price[e] = second


@njit(cache=True)
def auction_numba(scores, capacity, eps_start, eps_final, factor):
    """Gauss-Seidel auction. ``scores`` (T, E) float64 with ``T == E * capacity``.

    Returns ``(expert, n_bids)``: int64 (T,) expert of every token, and the number of bids.
    """
    n_tokens, n_experts = scores.shape
    n_slots = n_experts * capacity
    price = np.zeros(n_slots)
    owner = np.full(n_slots, -1, dtype=np.int64)
    slot_of = np.full(n_tokens, -1, dtype=np.int64)
    min_price = np.zeros(n_experts)
    min_slot = np.zeros(n_experts, dtype=np.int64)
    second_price = np.zeros(n_experts)
    queue = np.empty(n_tokens, dtype=np.int64)  # circular: never more than T waiting
    n_bids = 0
    eps = eps_start
    while True:
        for j in range(n_slots):
            owner[j] = -1
        for t in range(n_tokens):
            slot_of[t] = -1
            queue[t] = t
        head = 0
        waiting = n_tokens
        for e in range(n_experts):
            _refresh(price, capacity, e, min_price, min_slot, second_price)
        while waiting > 0:
            t = queue[head]
            head = (head + 1) % n_tokens
            waiting -= 1
            best_e = 0
            v1 = -np.inf
            w = -np.inf
            for e in range(n_experts):
                v = scores[t, e] - min_price[e]
                if v > v1:  # strict: the lowest expert index wins ties
                    if v1 > w:
                        w = v1
                    v1 = v
                    best_e = e
                elif v > w:
                    w = v
            # the same expert's next-cheapest slot is an alternative too
            v = scores[t, best_e] - second_price[best_e]
            if v > w:
                w = v
            if w == -np.inf:  # a single slot in all: nothing to outbid
                w = v1
            s = min_slot[best_e]
            price[s] = price[s] + (v1 - w) + eps
            previous = owner[s]
            owner[s] = t
            slot_of[t] = s
            if previous >= 0:
                slot_of[previous] = -1
                queue[(head + waiting) % n_tokens] = previous
                waiting += 1
            _refresh(price, capacity, best_e, min_price, min_slot, second_price)
            n_bids += 1
        if eps <= eps_final:
            break
        eps = max(eps / factor, eps_final)
    expert = np.empty(n_tokens, dtype=np.int64)
    for t in range(n_tokens):
        expert[t] = slot_of[t] // capacity
    return expert, n_bids


def jacobi_bids(scores, price, eps):
    """The bids of several tokens at once (the step both auctions repeat), in NumPy.

    Args:
        scores: (u, E) the scores of the bidding tokens. price: (E, C) slot prices.
        eps: the bid increment.
    Returns:
        ``(expert, slot, bid)``, (u,) each: the expert each token bids for (its best value
        ``scores - cheapest price``, the lower expert on ties), that expert's cheapest slot
        (the lower index on ties), and the new price ``price + (v1 - w) + eps`` where ``w`` is
        the best value among all other slots (other experts' cheapest slots and the same
        expert's next-cheapest slot; ``w = v1`` when there is no other slot).
    """
    n_experts, capacity = price.shape
    experts = np.arange(n_experts)
    cheapest = np.argmin(price, axis=1)
    min_price = price[experts, cheapest]
    second_price = (np.partition(price, 1, axis=1)[:, 1] if capacity > 1
                    else np.full(n_experts, np.inf))
    value = scores - min_price  # (u, E)
    rows = np.arange(scores.shape[0])
    best = np.argmax(value, axis=1)  # the lowest expert index wins ties
    v1 = value[rows, best]
    value[rows, best] = scores[rows, best] - second_price[best]
    w = value.max(axis=1)
    w = np.where(np.isneginf(w), v1, w)
    return best, cheapest[best], min_price[best] + (v1 - w) + eps


def auction_numpy(scores, capacity, eps_start, eps_final, factor):
    """The Jacobi twin of :func:`auction_numba` (same arguments, same kind of result)."""
    n_tokens, n_experts = scores.shape
    price = np.zeros((n_experts, capacity))
    owner = np.full(n_experts * capacity, -1, dtype=np.int64)
    slot_of = np.full(n_tokens, -1, dtype=np.int64)
    n_bids = 0
    eps = eps_start
    while True:
        owner[:] = -1
        slot_of[:] = -1
        while True:
            free = np.flatnonzero(slot_of < 0)
            if free.size == 0:
                break
            best, cheapest, bid = jacobi_bids(scores[free], price, eps)
            slot = best * capacity + cheapest
            # per slot the highest bid wins; equal bids go to the lowest token index
            order = np.lexsort((free, -bid, slot))
            first = np.ones(order.size, dtype=bool)
            first[1:] = slot[order][1:] != slot[order][:-1]
            win = order[first]
            won_slot, won_token = slot[win], free[win]
            price.reshape(-1)[won_slot] = bid[win]
            evicted = owner[won_slot]
            slot_of[evicted[evicted >= 0]] = -1
            owner[won_slot] = won_token
            slot_of[won_token] = won_slot
            n_bids += free.size
        if eps <= eps_final:
            break
        eps = max(eps / factor, eps_final)
    return slot_of // capacity, n_bids


class Assignment(NamedTuple):
    """The result of :func:`balanced_assignment`."""

    expert: np.ndarray  # int64 (T,): the expert of every token, each expert exactly T/E times
    n_bids: int  # bids made over all phases (the work the auction did)
    eps: float  # the final eps: the total is within T * eps of the optimum


def default_eps(scores: np.ndarray) -> float:
    """``1e-4 * (max - min) / T``: the total is then within 1e-4 of the score range of the
    optimum; floored so that ``price + eps`` still changes a float64 price."""
    n_tokens = scores.shape[0]
    spread = float(scores.max() - scores.min()) if scores.size else 0.0
    return max(1e-4 * spread / max(n_tokens, 1), _eps_floor(scores))


def _eps_floor(scores: np.ndarray) -> float:
    # prices stay within a few score ranges of 0; below this an increment could vanish in
    # rounding and the auction would never end
    scale = float(np.abs(scores).max()) if scores.size else 0.0
    return 1e-10 * (1.0 + 2.0 * scale)


def balanced_assignment(scores: np.ndarray, eps: float | None = None,
                        scaling: float = 4.0) -> Assignment:
    """Assign T tokens to E experts, exactly T/E each, maximising the total score.

    Args:
        scores: (T, E) finite float array, ``T`` divisible by ``E``.
        eps: the final bid increment (> 0); the total is within ``T * eps`` of the optimum
            (exactly optimal for integer scores when ``eps < 1/T``). Default
            :func:`default_eps`.
        scaling: eps is divided by this (> 1) between phases, from ``(max - min) / 4``.
    """
    fn = "balanced_assignment"
    if not isinstance(scores, np.ndarray):
        fail(fn, f"scores must be a numpy.ndarray, got {type(scores).__name__}", TypeError)
    if not np.issubdtype(scores.dtype, np.floating) and not np.issubdtype(scores.dtype,
                                                                           np.integer):
        fail(fn, f"scores must be a float or integer array, got dtype {scores.dtype}", TypeError)
    if scores.ndim != 2 or scores.shape[0] == 0 or scores.shape[1] == 0:
        fail(fn, f"scores must be 2-D (T, E) with T, E >= 1, got shape {scores.shape}")
    n_tokens, n_experts = scores.shape
    if n_tokens % n_experts:
        fail(fn, f"the number of tokens T must be divisible by the number of experts E for a "
             f"balanced assignment, got T={n_tokens}, E={n_experts}")
    scores = np.ascontiguousarray(scores, dtype=np.float64)
    if not np.isfinite(scores).all():
        fail(fn, "scores must be finite, got NaN or inf")
    floor = _eps_floor(scores)
    if eps is None:
        eps = default_eps(scores)
    eps = check_float(fn, "eps", eps, low=0.0, low_open=True)
    if eps < floor:
        fail(fn, f"eps must be >= {floor:.3g} for these scores (smaller increments are lost "
             f"in float64 rounding), got {eps}")
    scaling = check_float(fn, "scaling", scaling, low=1.0, low_open=True)
    eps_start = max(eps, float(scores.max() - scores.min()) / 4.0)
    capacity = n_tokens // n_experts
    expert, n_bids = dispatch(auction_numba, auction_numpy)(scores, capacity, eps_start, eps,
                                                             scaling)
    return Assignment(np.asarray(expert, dtype=np.int64), int(n_bids), eps)


def warmup() -> None:
    """Compile (or load from the on-disk cache) the kernel."""
    auction_numba(np.array([[1.0, 0.0], [0.0, 1.0]]), 1, 0.25, 0.1, 4.0)
