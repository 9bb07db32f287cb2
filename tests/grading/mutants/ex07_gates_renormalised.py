"""Exercise 07 (MoE routing), a mutant: gates renormalised over the k chosen experts (GShard's
rule) instead of the router probabilities."""

import numpy as np

from tinydyn.grading.exercises.ex07_moe_routing import SOLUTION


def _softmax(logits):
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def top_k_choices(logits, k):
    p = _softmax(logits)
    experts = np.argsort(-p, axis=1, kind="stable")[:, :k]
    gates = np.take_along_axis(p, experts, axis=1)
    gates = gates / gates.sum(axis=1, keepdims=True)  # the bug: renormalised
    return experts.astype(np.int64), gates


capacity_positions = SOLUTION.capacity_positions
load_balancing_loss = SOLUTION.load_balancing_loss
load_balancing_grad = SOLUTION.load_balancing_grad
moe_forward = SOLUTION.moe_forward
