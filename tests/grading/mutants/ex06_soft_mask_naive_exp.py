"""Exercise 06 (token pruning), a mutant: The sigmoid as 1 / (1 + exp(-z)): overflows for a steep
temperature.."""

import numpy as np

from tinydyn.grading.exercises.ex06_token_pruning import SOLUTION


def soft_mask(scores, threshold, temperature, prunable):
    z = (scores - threshold) / temperature
    m = 1.0 / (1.0 + np.exp(-z))
    return np.where(prunable, m, 1.0)


importance_scores = SOLUTION.importance_scores
hard_keep = SOLUTION.hard_keep
prune_layer = SOLUTION.prune_layer
