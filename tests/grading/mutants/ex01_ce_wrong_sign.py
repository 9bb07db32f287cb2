"""Mutant of exercise 01: the cross-entropy gradient has the wrong sign (onehot - p)."""

import numpy as np

from tinydyn.grading.exercises.ex01_autograd import SOLUTION


def softmax_cross_entropy_backward(logits, targets):
    shifted = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(shifted)
    p /= p.sum(axis=1, keepdims=True)
    onehot = np.zeros_like(p)
    onehot[np.arange(len(targets)), targets] = 1.0
    return (onehot - p) / len(targets)  # the bug: p - onehot is right


layer_norm_backward = SOLUTION.layer_norm_backward
topological_order = SOLUTION.topological_order
