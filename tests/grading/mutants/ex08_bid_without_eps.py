"""Exercise 08 (balanced routing), a mutant: token_bid forgets the + eps (a bid only matches the
runner-up; the auction itself bids correctly, since without eps it can cycle forever)."""

from tinydyn.grading.exercises.ex08_moe_balanced import SOLUTION


def token_bid(scores, price, eps):
    e, j, p = SOLUTION.token_bid(scores, price, eps)
    return e, j, p - eps  # the bug: no + eps


auction = SOLUTION.auction
balanced_hash = SOLUTION.balanced_hash
