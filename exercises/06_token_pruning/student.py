"""Exercise 06 (token pruning): LTP's importance score with the soft mask; hard pruning of one
layer with compaction of a padded batch.

Work through lesson 06 (``lessons/06_token_pruning.py``) first. Shapes: B sequences, H heads,
T tokens (token 0 is [CLS]), D width. ``probs[b, h, j, i]`` is how much query j attends to
key i (each query's row sums to 1 over its keys). You write four pieces:

1. ``importance_scores``: the attention each token receives, averaged over heads and queries;
2. ``soft_mask``: LTP's training mask sigmoid((s - theta) / T), 1 where nothing can be pruned;
3. ``hard_keep``: LTP's inference decision s >= theta ([CLS] and padding never pruned);
4. ``prune_layer``: remove the pruned rows of a padded batch and repack it.

All arrays are NumPy arrays (float64 unless said otherwise); do not modify your inputs.
Check your work with ``tinydyn grade 06`` (or ``pytest exercises/06_token_pruning``).
"""

import numpy as np  # noqa: F401  (you will need it)


def importance_scores(probs, query_weight):
    """LTP's importance score of every token.

    ``s[b, i] = sum_h sum_j w[b, j] * probs[b, h, j, i] / (H * sum_j w[b, j])``: the attention
    token i receives, averaged over the H heads and over the queries j, each query weighted by
    ``w = query_weight`` (1 for a real token still in, 0 for padding and pruned tokens; in
    training, the soft mask values).

    Args:
        probs: (B, H, T, T) float64. query_weight: (B, T) float64 >= 0, at least one > 0 per row.

    Returns:
        (B, T) float64. With 0/1 weights, a sequence's scores over its kept tokens sum to 1.
    """
    raise NotImplementedError(
        "exercise 06 (token_pruning): implement importance_scores — see lesson 06")


def soft_mask(scores, threshold, temperature, prunable):
    """LTP's soft mask for training: ``sigmoid((scores - threshold) / temperature)`` where
    ``prunable`` is True, exactly 1.0 where it is False ([CLS], padding).

    Args:
        scores: (B, T) float64. threshold: float. temperature: float > 0 (a small one makes
        the sigmoid steep: compute it without overflow). prunable: (B, T) bool.

    Returns:
        (B, T) float64 in [0, 1].
    """
    raise NotImplementedError(
        "exercise 06 (token_pruning): implement soft_mask — see lesson 06")


def hard_keep(scores, threshold, prunable):
    """LTP's decision at inference: keep token i if ``scores >= threshold``; a token that is
    not ``prunable`` ([CLS], padding) is always "kept" (never counted as pruned).

    Args:
        scores: (B, T) float64. threshold: float. prunable: (B, T) bool.

    Returns:
        (B, T) bool.
    """
    raise NotImplementedError(
        "exercise 06 (token_pruning): implement hard_keep — see lesson 06")


def prune_layer(hidden, keep):
    """Physically remove the pruned tokens of a padded batch and repack it.

    Sequence b keeps the rows where ``keep[b]`` is True (padding rows are never kept). The
    result is as wide as the longest kept count, w = max_b sum(keep[b]) (at least 1): row b
    holds its kept rows first, in their original order, and zeros after them.

    Args:
        hidden: (B, n, D) float64. keep: (B, n) bool.

    Returns:
        ``(packed, valid, index)``: packed (B, w, D) float64; valid (B, w) bool, True on the
        rows holding a kept token; index (B, w) int64, the row of ``hidden`` each packed row
        came from, -1 where ``valid`` is False. Example: keep [[T, F, T], [F, T, F]] ->
        index [[0, 2], [1, -1]].
    """
    raise NotImplementedError(
        "exercise 06 (token_pruning): implement prune_layer — see lesson 06")
