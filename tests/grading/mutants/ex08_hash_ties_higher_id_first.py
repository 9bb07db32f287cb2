"""Exercise 08 (balanced routing), a mutant: balanced_hash breaks equal frequencies by the
higher id first, which only matters where frequencies tie."""

import numpy as np

from tinydyn.grading.exercises.ex08_moe_balanced import SOLUTION


def balanced_hash(frequencies, n_experts):
    load = np.zeros(n_experts)
    table = np.zeros(len(frequencies), dtype=np.int64)
    # the bug: equal frequencies visited higher id first
    order = np.lexsort((-np.arange(len(frequencies)), -np.asarray(frequencies)))
    for v in order:
        e = int(np.argmin(load))
        table[v] = e
        load[e] += frequencies[v]
    return table


token_bid = SOLUTION.token_bid
auction = SOLUTION.auction
