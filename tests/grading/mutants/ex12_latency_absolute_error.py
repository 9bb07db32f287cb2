"""Mutant of exercise 12: the latency model is fitted in seconds, not in relative error, so the
longest measurements decide the fit."""

import numpy as np

from tinydyn.grading.exercises.ex12_measuring import SOLUTION


def fit_latency(steps, flops, seconds):
    design = np.stack([steps, flops], axis=1)  # the bug: rows not divided by their own time
    a, b = np.linalg.lstsq(design, seconds, rcond=None)[0]
    return max(float(a), 0.0), max(float(b), 0.0)


pareto_front = SOLUTION.pareto_front
elue_score = SOLUTION.elue_score
realisation = SOLUTION.realisation
