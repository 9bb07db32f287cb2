"""Mutant of exercise 10: the compaction step gathers the hidden states and counters but
returns the padding mask of the whole batch (the rows' masks go out of step with them)."""

import numpy as np

from tinydyn.grading.exercises.ex10_early_exit import SOLUTION


def compaction_step(fires, ids, hidden, mask, counts):
    keep = ~np.asarray(fires, bool)
    return ids[keep], hidden[keep], mask, counts[keep], ids[~keep]  # the bug: mask ungathered


entropy_exit = SOLUTION.entropy_exit
patience_exit = SOLUTION.patience_exit
