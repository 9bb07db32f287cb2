"""Mutant of exercise 12: the front keeps a point as accurate as the best so far (>= instead of
>), so an exact duplicate of a front point is listed twice."""

import numpy as np

from tinydyn.grading.exercises.ex12_measuring import SOLUTION


def pareto_front(costs, accuracies):
    order = np.lexsort((-accuracies, costs))
    front, best = [], -np.inf
    for i in order:
        if accuracies[i] >= best:  # the bug
            front.append(i)
            best = accuracies[i]
    return np.array(front, dtype=np.int64)


elue_score = SOLUTION.elue_score
realisation = SOLUTION.realisation
fit_latency = SOLUTION.fit_latency
