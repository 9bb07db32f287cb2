"""Exercise 08 (balanced routing), a mutant: auction is greedy with capacity (tokens in order
take their best expert that has room): balanced, but not optimal."""

import numpy as np

from tinydyn.grading.exercises.ex08_moe_balanced import SOLUTION


def auction(scores, eps):
    t, n_experts = scores.shape
    room = np.full(n_experts, t // n_experts)
    expert = np.empty(t, dtype=np.int64)
    for tok in range(t):  # the bug: greedy, no prices, no eviction
        e = int(np.argmax(np.where(room > 0, scores[tok], -np.inf)))
        expert[tok] = e
        room[e] -= 1
    return expert


token_bid = SOLUTION.token_bid
balanced_hash = SOLUTION.balanced_hash
