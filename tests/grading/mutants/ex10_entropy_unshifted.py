"""Mutant of exercise 10: the entropy computed from exp(logits) without shifting by the row max
(DeeBERT's released formula), which overflows for logits near 1000."""

import numpy as np

from tinydyn.grading.exercises.ex10_early_exit import SOLUTION


def entropy_exit(logits, threshold):
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        e = np.exp(logits)  # the bug: no max-subtraction
        s = e.sum(axis=2)
        h = np.log(s) - (logits * e).sum(axis=2) / s  # (L, N)
    depth, n = h.shape
    exits = np.full(n, depth, np.int64)
    for j in range(n):
        for i in range(depth):
            if h[i, j] < threshold:
                exits[j] = i + 1
                break
    preds = logits[exits - 1, np.arange(n)].argmax(axis=1)
    return exits, preds


patience_exit = SOLUTION.patience_exit
compaction_step = SOLUTION.compaction_step
