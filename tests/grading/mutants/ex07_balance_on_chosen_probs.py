"""Exercise 07 (MoE routing), a mutant: P_i averages only the probabilities of the chosen experts,
not the full softmax."""

import numpy as np

from tinydyn.grading.exercises.ex07_moe_routing import SOLUTION


def _softmax(logits):
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def _fractions(experts, n_experts):
    chosen = np.zeros((len(experts), n_experts))
    np.put_along_axis(chosen, experts, 1.0, axis=1)
    return chosen


def load_balancing_loss(probs, experts):
    s, e = probs.shape
    chosen = _fractions(experts, e)
    mean_p = (probs * chosen).mean(axis=0)  # the bug: top-k probabilities only
    return float(e * (chosen.mean(axis=0) * mean_p).sum())


def load_balancing_grad(logits, experts):
    s, e = logits.shape
    p = _softmax(logits)
    chosen = _fractions(experts, e)
    g = e * chosen.mean(axis=0) / s * chosen  # the bug: only through the chosen entries
    return p * (g - (p * g).sum(axis=1, keepdims=True))


top_k_choices = SOLUTION.top_k_choices
capacity_positions = SOLUTION.capacity_positions
moe_forward = SOLUTION.moe_forward
