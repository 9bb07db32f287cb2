"""Mutant of exercise 10: the patience rule stops when the counter reaches patience - 1, one
agreeing layer too early."""

import numpy as np

from tinydyn.grading.exercises.ex10_early_exit import SOLUTION


def patience_exit(logits, patience):
    depth, n, _ = logits.shape
    preds_all = logits.argmax(axis=2)
    exits = np.full(n, depth, np.int64)
    for j in range(n):
        count = 0
        for i in range(depth):
            if i > 0 and preds_all[i, j] == preds_all[i - 1, j]:
                count += 1
            else:
                count = 0
            if count >= patience - 1:  # the bug: one agreement short
                exits[j] = i + 1
                break
    return exits, preds_all[exits - 1, np.arange(n)]


entropy_exit = SOLUTION.entropy_exit
compaction_step = SOLUTION.compaction_step
