"""Mutant of exercise 01: dgamma uses the centred x instead of xhat (missing the 1/std)."""

import numpy as np

from tinydyn.grading.exercises.ex01_autograd import SOLUTION


def layer_norm_backward(x, gamma, dout, eps=1e-5):
    centred = x - x.mean(axis=1, keepdims=True)
    rstd = 1.0 / np.sqrt((centred ** 2).mean(axis=1, keepdims=True) + eps)
    xhat = centred * rstd
    g = dout * gamma
    dx = rstd * (g - g.mean(axis=1, keepdims=True) - xhat * (g * xhat).mean(axis=1, keepdims=True))
    dgamma = (dout * centred).sum(axis=0)  # the bug: should be dout * xhat
    return dx, dgamma, dout.sum(axis=0)


softmax_cross_entropy_backward = SOLUTION.softmax_cross_entropy_backward
topological_order = SOLUTION.topological_order
