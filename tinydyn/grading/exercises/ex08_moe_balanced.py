"""Exercise 08 (balanced and unlearned routing): the auction algorithm and a balanced hash.

The student writes the pieces of lesson 08 that balance the load of experts:

* ``token_bid(scores, price, eps)``: one token's bid in the auction for expert slots;
* ``auction(scores, eps)``: the whole auction, a balanced assignment of T tokens to E experts
  (T/E each) whose total score is within ``T * eps`` of the optimum;
* ``balanced_hash(frequencies, n_experts)``: the Hash layers' balanced table (most frequent
  id first, to the least loaded expert).

The references come from the library: the NumPy auction's bid step
(:func:`tinydyn.kernels.auction.jacobi_bids`), the optimum of each assignment problem found by
the Hungarian algorithm on the expert-replicated matrix
(:func:`tinydyn.dynamic.moe.auction.hungarian_assignment`), and
:func:`tinydyn.dynamic.moe.hashing.balanced_hash`. An auction is graded by what every correct
auction guarantees (balance, and the total score), not by which of several near-optimal
assignments it reaches.
"""

from __future__ import annotations

import numpy as np

from tinydyn.dynamic.moe.auction import assignment_score, hungarian_assignment
from tinydyn.dynamic.moe.hashing import balanced_hash as _balanced_hash
from tinydyn.kernels.auction import balanced_assignment, jacobi_bids

TITLE = "Balanced routing: the auction algorithm and a balanced hash"
LESSON = "lessons/08_moe_balanced.py"
PREREQUISITES = ("07",)  # lessons to have done first (the instructors' syllabus)
# What student.py may import (see tinydyn.grading.integrity); nothing from tinydyn.
ALLOWED_IMPORTS = ("numpy", "math")

EPS = 0.01  # the bid increment of the graded bids and of the real-valued auctions
MARGIN = 1e-6  # graded bid decisions are at least this far from a tie


def _library_bid(scores, price, eps):
    expert, slot, bid = jacobi_bids(np.asarray(scores, np.float64)[None].copy(),
                                    np.asarray(price, np.float64), float(eps))
    return int(expert[0]), int(slot[0]), float(bid[0])


def _library_auction(scores, eps):
    return balanced_assignment(np.asarray(scores, np.float64), eps=float(eps)).expert


class SOLUTION:
    """The functions of ``exercises/08_moe_balanced/student.py``, implemented with the library."""

    token_bid = staticmethod(_library_bid)
    auction = staticmethod(_library_auction)
    balanced_hash = staticmethod(_balanced_hash)


def _clear_of_ties(scores, price) -> bool:
    """No two experts' best values and no two slot prices of the bid expert within MARGIN."""
    values = scores - price.min(axis=1)
    top = np.sort(values)[::-1]
    if len(top) > 1 and top[0] - top[1] < MARGIN:
        return False
    slots = np.sort(price[int(np.argmax(values))])
    return len(slots) < 2 or slots[1] - slots[0] >= MARGIN


def _bid_cases(rng, n, n_experts, capacity):
    scores, prices = [], []
    while len(scores) < n:
        s = rng.normal(0.0, 1.0, size=n_experts)
        p = rng.uniform(0.0, 1.0, size=(n_experts, capacity))
        if len(scores) % 2:  # a clear favourite: its own next slot is often the runner-up
            s[rng.integers(n_experts)] += 1.5
        if _clear_of_ties(s, p):
            scores.append(s)
            prices.append(p)
    return np.array(scores), np.array(prices)


def make_references(seed: int) -> dict:
    """Inputs and the library's outputs (int64 decisions and tables, float64 prices/totals)."""
    rng = np.random.default_rng(seed)
    out = {}
    # bids: random cases (E = 4 experts of 3 slots), then edge cases placed on purpose
    scores, prices = _bid_cases(rng, 12, 4, 3)
    bids = [_library_bid(s, p, EPS) for s, p in zip(scores, prices)]
    out.update(bid_scores=scores, bid_price=prices,
               bid_expert=np.array([b[0] for b in bids], np.int64),
               bid_slot=np.array([b[1] for b in bids], np.int64),
               bid_new_price=np.array([b[2] for b in bids]))
    edges = [  # equal slot prices (slot 0 by the rule; the runner-up is the same expert),
        (np.array([0.5, 2.0, 1.0]), np.zeros((3, 2))),
        (np.array([1.5]), np.array([[0.25]])),  # a single slot in all: the price rises by eps
        (np.array([1.0, 3.0]), np.array([[0.0], [1.5]])),  # one slot per expert
    ]
    for i, (s, p) in enumerate(edges):
        e, j, b = _library_bid(s, p, EPS)
        out.update({f"edge{i}_scores": s, f"edge{i}_price": p,
                    f"edge{i}_expected": np.array([e, j], np.int64),
                    f"edge{i}_new_price": np.array(b)})
    # auctions: real scores (within T * eps of the optimum) and integer scores with
    # eps < 1/T (exactly optimal)
    shapes = [(12, 3), (16, 4), (20, 2), (24, 4), (18, 3)]
    for kind in ("real", "int"):
        for i, (t, e) in enumerate(shapes):
            if kind == "real":
                s, eps = rng.normal(0.0, 1.0, size=(t, e)), EPS
            else:
                s, eps = rng.integers(-6, 7, size=(t, e)).astype(np.float64), 1.0 / (t + 1)
            best = assignment_score(s, hungarian_assignment(s))
            out.update({f"auc_{kind}{i}_scores": s, f"auc_{kind}{i}_eps": np.array(eps),
                        f"auc_{kind}{i}_optimum": np.array(best)})
    # balanced hash: Zipf-like integer counts, and counts with ties (lower id first)
    freqs = np.floor(2000.0 / np.arange(1, 41) ** 0.8).astype(np.int64)
    freqs = freqs[rng.permutation(40)]
    ties = rng.integers(1, 5, size=30) * 10
    out.update(hash_freqs=freqs, hash_table=_balanced_hash(freqs, 6),
               hash_tie_freqs=ties, hash_tie_table=_balanced_hash(ties, 4))
    return out
