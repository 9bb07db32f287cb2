"""Exercise 07 (MoE routing), a mutant: moe_forward combines every assignment, dropped ones
included."""

import numpy as np

from tinydyn.grading.exercises.ex07_moe_routing import SOLUTION


def moe_forward(x, experts, gates, keep, w1, b1, w2, b2):
    y = np.zeros_like(x)
    for s in range(experts.shape[0]):
        for r in range(experts.shape[1]):
            if True:  # the bug: keep is ignored
                e = experts[s, r]
                y[s] += gates[s, r] * (np.maximum(x[s] @ w1[e] + b1[e], 0) @ w2[e] + b2[e])
    return y


top_k_choices = SOLUTION.top_k_choices
capacity_positions = SOLUTION.capacity_positions
load_balancing_loss = SOLUTION.load_balancing_loss
load_balancing_grad = SOLUTION.load_balancing_grad
