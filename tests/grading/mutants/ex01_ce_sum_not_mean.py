"""Mutant of exercise 01: the gradient of the SUMMED cross-entropy (no division by N)."""

import numpy as np

from tinydyn.grading.exercises.ex01_autograd import SOLUTION


def softmax_cross_entropy_backward(logits, targets):
    shifted = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(shifted)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(targets)), targets] -= 1.0
    return p  # the bug: the loss is a mean, so this should be divided by N


layer_norm_backward = SOLUTION.layer_norm_backward
topological_order = SOLUTION.topological_order
