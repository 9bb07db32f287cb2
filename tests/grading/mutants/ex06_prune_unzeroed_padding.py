"""Exercise 06 (token pruning), a mutant: Prune_layer fills the rows after the kept ones with the
not-kept rows (a raw stable-sort gather), not zeros.."""

import numpy as np

from tinydyn.grading.exercises.ex06_token_pruning import SOLUTION


def prune_layer(hidden, keep):
    B, n, D = hidden.shape
    width = max(1, int(keep.sum(axis=1).max()))
    packed = np.zeros((B, width, D))
    valid = np.zeros((B, width), bool)
    index = np.full((B, width), -1, np.int64)
    for b in range(B):
        rows = np.flatnonzero(keep[b])
        order = np.argsort(~keep[b], kind="stable")[:width]
        packed[b] = hidden[b, order]
        valid[b, :len(rows)] = True
        index[b, :len(rows)] = rows
    return packed, valid, index


importance_scores = SOLUTION.importance_scores
soft_mask = SOLUTION.soft_mask
hard_keep = SOLUTION.hard_keep
