"""Exercise 08 (balanced routing), a mutant: balanced_hash breaks equal frequencies by the
higher id first, which only matters where frequencies tie."""

import numpy as np


def token_bid(scores, price, eps):
    return _bid(scores, price, eps)


def _bid(scores, price, eps):
    cheapest = price.argmin(axis=1)
    low = price[np.arange(len(scores)), cheapest]
    value = scores - low
    e = int(np.argmax(value))
    j = int(cheapest[e])
    others = (scores[:, None] - price).ravel()  # every slot's value
    others = np.delete(others, e * price.shape[1] + j)
    w = others.max() if others.size else value[e]
    return e, j, float(price[e, j] + (value[e] - w) + eps)


def auction(scores, eps):
    t, n_experts = scores.shape
    c = t // n_experts
    price = np.zeros((n_experts, c))
    owner = -np.ones((n_experts, c), dtype=np.int64)
    expert = -np.ones(t, dtype=np.int64)
    free = list(range(t))
    while free:
        tok = free.pop()
        e, j, p = _bid(scores[tok], price, eps)
        if owner[e, j] >= 0:
            expert[owner[e, j]] = -1
            free.append(int(owner[e, j]))
        owner[e, j] = tok
        expert[tok] = e
        price[e, j] = p
    return expert


def balanced_hash(frequencies, n_experts):
    load = np.zeros(n_experts)
    table = np.zeros(len(frequencies), dtype=np.int64)
    # the bug: equal frequencies visited higher id first
    order = np.lexsort((-np.arange(len(frequencies)), -np.asarray(frequencies)))
    for v in order:
        e = int(np.argmin(load))
        table[v] = e
        load[e] += frequencies[v]
    return table
