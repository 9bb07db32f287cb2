"""Exercise 07 (MoE routing), a mutant: gates renormalised over the k chosen experts (GShard's
rule) instead of the router probabilities."""

import numpy as np


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


def capacity_positions(experts, capacity):
    s, k = experts.shape
    flat = experts.T.reshape(-1)  # ORDER
    onehot = np.eye(int(flat.max()) + 1, dtype=np.int64)[flat]
    pos = (np.cumsum(onehot, axis=0) - onehot)[np.arange(flat.size), flat]  # CUMSUM
    pos = pos.reshape(k, s).T
    return pos, pos < capacity


def _fractions(experts, n_experts):
    chosen = np.zeros((len(experts), n_experts))
    np.put_along_axis(chosen, experts, 1.0, axis=1)
    return chosen


def load_balancing_loss(probs, experts):
    s, e = probs.shape
    chosen = _fractions(experts, e)
    mean_p = probs.mean(axis=0)  # MEANP
    return float(e * (chosen.mean(axis=0) * mean_p).sum())


def load_balancing_grad(logits, experts):
    s, e = logits.shape
    p = _softmax(logits)
    chosen = _fractions(experts, e)
    g = np.broadcast_to(e * chosen.mean(axis=0) / s, p.shape)  # GRADP
    return p * (g - (p * g).sum(axis=1, keepdims=True))


def moe_forward(x, experts, gates, keep, w1, b1, w2, b2):
    y = np.zeros_like(x)
    for s in range(experts.shape[0]):
        for r in range(experts.shape[1]):
            if keep[s, r]:  # KEEP
                e = experts[s, r]
                y[s] += gates[s, r] * (np.maximum(x[s] @ w1[e] + b1[e], 0) @ w2[e] + b2[e])
    return y
