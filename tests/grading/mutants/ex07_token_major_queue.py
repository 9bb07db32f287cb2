"""Exercise 07 (MoE routing), a mutant: assignments queue token by token (token 0's choices, then
token 1's...): second choices take slots before later tokens' first choices."""

import numpy as np

from tinydyn.grading.exercises.ex07_moe_routing import SOLUTION


def capacity_positions(experts, capacity):
    s, k = experts.shape
    flat = experts.reshape(-1)  # the bug: token-major order
    onehot = np.eye(int(flat.max()) + 1, dtype=np.int64)[flat]
    pos = (np.cumsum(onehot, axis=0) - onehot)[np.arange(flat.size), flat]  # CUMSUM
    pos = pos.reshape(k, s).T
    return pos, pos < capacity


top_k_choices = SOLUTION.top_k_choices
load_balancing_loss = SOLUTION.load_balancing_loss
load_balancing_grad = SOLUTION.load_balancing_grad
moe_forward = SOLUTION.moe_forward
