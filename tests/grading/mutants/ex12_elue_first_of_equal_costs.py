"""Mutant of exercise 12: the reference is interpolated through every point as sorted, so of
two reference points at one cost the one sorted first (not the best) sets the curve there."""

import numpy as np

from tinydyn.grading.exercises.ex12_measuring import SOLUTION


def elue_score(costs, accuracies, ref_costs, ref_accuracies):
    order = np.argsort(ref_costs, kind="stable")
    reference = np.interp(costs, ref_costs[order], ref_accuracies[order])  # the bug: no best
    return float(np.mean(accuracies - reference))


pareto_front = SOLUTION.pareto_front
realisation = SOLUTION.realisation
fit_latency = SOLUTION.fit_latency
