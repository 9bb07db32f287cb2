"""Exercise 08 (balanced routing), a mutant: token_bid takes the runner-up among the other
experts' cheapest slots only, forgetting the same expert's next-cheapest slot (the auction
itself bids correctly)."""

import numpy as np

from tinydyn.grading.exercises.ex08_moe_balanced import SOLUTION


def token_bid(scores, price, eps):
    cheapest = price.argmin(axis=1)
    value = scores - price[np.arange(len(scores)), cheapest]
    e = int(np.argmax(value))
    others = np.delete(value, e)  # the bug: the same expert's next slot is left out
    w = others.max() if others.size else value[e]
    return e, int(cheapest[e]), float(price[e, cheapest[e]] + (value[e] - w) + eps)


auction = SOLUTION.auction
balanced_hash = SOLUTION.balanced_hash
