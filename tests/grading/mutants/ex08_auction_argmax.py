"""Exercise 08 (balanced routing), a mutant: auction gives every token its favourite expert
(argmax): a total at least the optimum's, but not balanced."""

from tinydyn.grading.exercises.ex08_moe_balanced import SOLUTION


def auction(scores, eps):
    return scores.argmax(axis=1)  # the bug: no auction at all, every token its favourite


token_bid = SOLUTION.token_bid
balanced_hash = SOLUTION.balanced_hash
