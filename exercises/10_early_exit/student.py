"""Exercise 10 (early exit): the entropy and patience exit rules, and one compaction step.

Work through lesson 10 (``lessons/10_early_exit.py``) first. A multi-exit network has a
classifier after each of its L layers; ``logits[i]`` holds layer i+1's logits for every
sample. A sample stops at the first layer whose exit rule fires, and is predicted by that
layer; if no rule fires it stops at layer L. You write three pieces:

1. ``entropy_exit``: DeeBERT's rule, stop when the entropy of softmax(logits) is small;
2. ``patience_exit``: PABEE's rule, stop when enough layers in a row agree;
3. ``compaction_step``: after a layer, gather the rows that go on into a smaller batch.

All arrays are NumPy arrays; do not modify your inputs. Layers are numbered 1..L in the
results. Check your work with ``tinydyn grade 10`` (or ``pytest exercises/10_early_exit``).
"""

import numpy as np  # noqa: F401  (you will need it)


def entropy_exit(logits, threshold):
    """Exit layers and predictions under the entropy rule.

    Sample n stops at the first layer i (1-based) with ``H(softmax(logits[i-1, n])) <
    threshold`` (strictly less), where ``H(p) = -sum_c p_c log p_c`` in nats; at layer L if
    none. Logits can be in the thousands: compute the entropy stably (shift by the row max,
    use a log-softmax), never from ``exp(logits)`` directly.

    Args:
        logits: (L, N, C) float64. threshold: float >= 0.

    Returns:
        (exit_layers (N,) int64 in 1..L, predictions (N,) int64 = argmax of the exit layer's
        logits).
    """
    raise NotImplementedError(
        "exercise 10 (early_exit): implement entropy_exit — see lesson 10")


def patience_exit(logits, patience):
    """Exit layers and predictions under the patience rule.

    Each sample keeps a counter, 0 at the start. After layer i (1-based) with prediction
    ``y_i = argmax logits[i-1, n]``: if i > 1 and ``y_i == y_{i-1}`` the counter grows by one,
    otherwise it is reset to 0. The sample stops as soon as the counter reaches ``patience``
    (so at layer patience + 1 at the earliest), at layer L if it never does.

    Args:
        logits: (L, N, C) float64. patience: int >= 1.

    Returns:
        (exit_layers (N,) int64 in 1..L, predictions (N,) int64).
    """
    raise NotImplementedError(
        "exercise 10 (early_exit): implement patience_exit — see lesson 10")


def compaction_step(fires, ids, hidden, mask, counts):
    """One compaction step: the rows whose exit fired leave, the others are gathered.

    Row r of the batch holds sample ``ids[r]``, its hidden states ``hidden[r]``, its padding
    mask ``mask[r]`` (True = padding) and its patience counter ``counts[r]``. Keep the rows
    where ``fires`` is False, in their order, with all of their state.

    Args:
        fires: (B,) bool. ids: (B,) int64. hidden: (B, T, D) float64. mask: (B, T) bool.
        counts: (B,) int64.

    Returns:
        (kept_ids (B',), kept_hidden (B', T, D), kept_mask (B', T), kept_counts (B',),
        exited_ids (B - B',)) where exited_ids are the ids of the rows that fired, in order.
    """
    raise NotImplementedError(
        "exercise 10 (early_exit): implement compaction_step — see lesson 10")
