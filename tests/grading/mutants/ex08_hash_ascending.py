"""Exercise 08 (balanced routing), a mutant: balanced_hash visits the ids from the least
frequent up."""

import numpy as np

from tinydyn.grading.exercises.ex08_moe_balanced import SOLUTION


def balanced_hash(frequencies, n_experts):
    load = np.zeros(n_experts)
    table = np.zeros(len(frequencies), dtype=np.int64)
    order = np.argsort(np.asarray(frequencies), kind="stable")  # the bug: ascending
    for v in order:
        e = int(np.argmin(load))
        table[v] = e
        load[e] += frequencies[v]
    return table


token_bid = SOLUTION.token_bid
auction = SOLUTION.auction
