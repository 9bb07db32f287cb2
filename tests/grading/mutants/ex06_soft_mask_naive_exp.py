"""Exercise 06 (token pruning), a mutant: The sigmoid as 1 / (1 + exp(-z)): overflows for a steep
temperature.."""

import numpy as np


def importance_scores(probs, query_weight):
    w = query_weight
    received = (probs * w[:, None, :, None]).sum(axis=(1, 2))
    return received / (probs.shape[1] * w.sum(axis=1, keepdims=True))


def soft_mask(scores, threshold, temperature, prunable):
    z = (scores - threshold) / temperature
    m = 1.0 / (1.0 + np.exp(-z))
    return np.where(prunable, m, 1.0)


def hard_keep(scores, threshold, prunable):
    return np.where(prunable, scores >= threshold, True)


def prune_layer(hidden, keep):
    B, n, D = hidden.shape
    width = max(1, int(keep.sum(axis=1).max()))
    packed = np.zeros((B, width, D))
    valid = np.zeros((B, width), bool)
    index = np.full((B, width), -1, np.int64)
    for b in range(B):
        rows = np.flatnonzero(keep[b])
        packed[b, :len(rows)] = hidden[b, rows]
        valid[b, :len(rows)] = True
        index[b, :len(rows)] = rows
    return packed, valid, index
