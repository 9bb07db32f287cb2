"""Mutant of exercise 12: the unconstrained fit is returned as it is, negative step price
included (a time model that says more steps make a network faster)."""

import numpy as np

from tinydyn.grading.exercises.ex12_measuring import SOLUTION


def fit_latency(steps, flops, seconds):
    design = np.stack([steps, flops], axis=1) / seconds[:, None]
    a, b = np.linalg.lstsq(design, np.ones_like(seconds), rcond=None)[0]  # the bug: no clip
    return float(a), float(b)


pareto_front = SOLUTION.pareto_front
elue_score = SOLUTION.elue_score
realisation = SOLUTION.realisation
