"""Exercise 07 (MoE routing), a mutant: queue positions by an inclusive cumulative sum: every
position one too high, one slot lost per expert."""

import numpy as np

from tinydyn.grading.exercises.ex07_moe_routing import SOLUTION


def capacity_positions(experts, capacity):
    s, k = experts.shape
    flat = experts.T.reshape(-1)  # ORDER
    onehot = np.eye(int(flat.max()) + 1, dtype=np.int64)[flat]
    pos = np.cumsum(onehot, axis=0)[np.arange(flat.size), flat]  # the bug: inclusive
    pos = pos.reshape(k, s).T
    return pos, pos < capacity


top_k_choices = SOLUTION.top_k_choices
load_balancing_loss = SOLUTION.load_balancing_loss
load_balancing_grad = SOLUTION.load_balancing_grad
moe_forward = SOLUTION.moe_forward
