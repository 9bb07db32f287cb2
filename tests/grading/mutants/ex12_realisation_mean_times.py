"""Mutant of exercise 12: the speed-up compares mean times, which one slow sample moves."""

import numpy as np

from tinydyn.grading.exercises.ex12_measuring import SOLUTION


def realisation(base_seconds, method_seconds, base_flops, method_flops):
    speedup = float(np.mean(base_seconds) / np.mean(method_seconds))  # the bug
    flop_speedup = float(base_flops) / float(method_flops)
    return speedup, flop_speedup, speedup / flop_speedup


pareto_front = SOLUTION.pareto_front
elue_score = SOLUTION.elue_score
fit_latency = SOLUTION.fit_latency
