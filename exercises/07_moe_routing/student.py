"""Exercise 07 (MoE routing): top-k routing with capacity, the load-balancing loss, the layer.

Work through lesson 07 (``lessons/07_moe_learned_routing.py``) first. A router scores S tokens
against E experts (``logits`` (S, E)); each token picks its k best experts; each expert has C
slots and takes tokens in priority order (every token's first choice, in token order, before
any second choice); assignments past an expert's C-th slot are dropped. You write five pieces:

1. ``top_k_choices``: each token's k experts and their gates;
2. ``capacity_positions``: each assignment's slot in its expert's queue (an exclusive
   cumulative sum), and which assignments fit;
3. ``load_balancing_loss``: Switch's ``E * sum_i f_i P_i``;
4. ``load_balancing_grad``: its gradient with respect to the router logits, by hand;
5. ``moe_forward``: the layer's output, combining the kept assignments.

All arrays are NumPy arrays (float64 unless said otherwise); do not modify your inputs.
Check your work with ``tinydyn grade 07`` (or ``pytest exercises/07_moe_routing``).
"""

import numpy as np  # noqa: F401  (you will need it)


def top_k_choices(logits, k):
    """Each token's k experts, best first, and their gates.

    ``p = softmax(logits)`` row by row (stably: logits may be large). Token s chooses the k
    experts with the largest ``p[s]`` in decreasing order (equal values: lower index first);
    the gate of a choice is its probability ``p[s, e]`` (not renormalised).

    Args:
        logits: (S, E) float64. k: int, 1 <= k <= E.

    Returns:
        ``(experts, gates)``: (S, k) int64 and (S, k) float64; column r is the r-th choice.
    """
    raise NotImplementedError(
        "exercise 07 (moe_routing): implement top_k_choices — see lesson 07")


def capacity_positions(experts, capacity):
    """Slot positions by priority, and which assignments fit in ``capacity`` slots.

    The S·k assignments queue rank by rank: all first choices (tokens 0, 1, .., S-1), then
    all second choices, and so on. An assignment's position is the number of assignments
    before it in this order that chose the same expert (an *exclusive* cumulative sum of the
    one-hot expert mask). It is kept iff its position is < ``capacity``.

    Args:
        experts: (S, k) int64, experts[s, r] = token s's r-th choice (distinct in a row).
        capacity: int >= 1, slots per expert.

    Returns:
        ``(positions, keep)``: (S, k) int64 queue positions (also for dropped assignments) and
        (S, k) bool. Example: experts [[0, 1], [0, 1], [1, 0]], capacity 2 ->
        positions [[0, 0], [1, 1], [2, 2]], keep [[T, T], [T, T], [F, F]].
    """
    raise NotImplementedError(
        "exercise 07 (moe_routing): implement capacity_positions — see lesson 07")


def load_balancing_loss(probs, experts):
    """Switch Transformer's balancing loss, unweighted: ``E * sum_i f_i * P_i``.

    ``f_i``: the fraction of the S tokens that have expert i among their choices (``experts``);
    ``P_i``: the mean over tokens of ``probs[:, i]``, the *full* router softmax.

    Args:
        probs: (S, E) float64, rows summing to 1. experts: (S, k) int64.

    Returns:
        float. (It equals k when every probability is 1/E.)
    """
    raise NotImplementedError(
        "exercise 07 (moe_routing): implement load_balancing_loss — see lesson 07")


def load_balancing_grad(logits, experts):
    """The gradient of ``load_balancing_loss(softmax(logits), experts)`` with respect to
    ``logits`` (S, E). The counts ``f`` are constants (choices have no gradient); only ``P``
    depends on the logits, through the softmax of each row.

    Returns:
        (S, E) float64.
    """
    raise NotImplementedError(
        "exercise 07 (moe_routing): implement load_balancing_grad — see lesson 07")


def moe_forward(x, experts, gates, keep, w1, b1, w2, b2):
    """The MoE layer's output: for every kept assignment (s, r) with expert e = experts[s, r],
    add ``gates[s, r] * FFN_e(x[s])`` to ``y[s]``, where
    ``FFN_e(u) = relu(u @ w1[e] + b1[e]) @ w2[e] + b2[e]``. A token with no kept assignment
    gets y[s] = 0 (the residual connection carries it).

    Args:
        x: (S, d). experts: (S, k) int64. gates: (S, k). keep: (S, k) bool.
        w1: (E, d, F), b1: (E, F), w2: (E, F, d), b2: (E, d).

    Returns:
        y: (S, d) float64.
    """
    raise NotImplementedError(
        "exercise 07 (moe_routing): implement moe_forward — see lesson 07")
