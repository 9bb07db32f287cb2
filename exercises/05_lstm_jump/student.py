"""Exercise 05 (LSTM-Jump): the jump-reading loop; REINFORCE with a baseline.

Work through lesson 05 (``lessons/05_lstm_jump.py``) first. LSTM-Jump reads ``R`` tokens,
then a policy picks a jump ``k`` in ``{0, 1, .., K}``: 0 means stop, k > 0 skips the next k
tokens. Its policy is trained by REINFORCE with a learned baseline. You write four pieces:

1. ``read_positions``: which positions the reader reads, given its jump decisions;
2. ``sample_jump``: draw a jump from ``softmax(logits)`` with a given uniform number;
3. ``reinforce_loss``: the two losses of REINFORCE with a baseline;
4. ``reinforce_grads``: their gradients, by hand.

All arrays are NumPy arrays (float64 unless said otherwise); do not modify your inputs.
Check your work with ``tinydyn grade 05`` (or ``pytest exercises/05_lstm_jump``).
"""

import numpy as np  # noqa: F401  (you will need it)


def read_positions(length, read, jumps):
    """The positions read in a sequence of ``length`` tokens.

    Start at position 0 and read ``read`` tokens (fewer if the sequence ends). Then take the
    next decision k from ``jumps`` (in order): k = 0 stops; k > 0 skips k tokens, so after a
    segment ending at position p the next token read is p + k + 1. Stop as well when the
    sequence ends (a jump past the end included) and after the last decision of ``jumps``
    has been used and one more segment read (``len(jumps)`` is the budget N). A segment that
    ends exactly at the end of the sequence is followed by no decision.

    Args:
        length: int >= 1. read: int >= 1 (R). jumps: (N,) int64, values in [0, K].

    Returns:
        (n_read,) int64, the positions read, increasing. Example: length 10, read 2,
        jumps [3, 1] -> [0, 1, 5, 6, 8, 9].
    """
    raise NotImplementedError(
        "exercise 05 (lstm_jump): implement read_positions — see lesson 05")


def sample_jump(logits, u):
    """A jump drawn from ``softmax(logits)`` by inverting its cumulative distribution.

    With ``p = softmax(logits)`` and ``c_k = p_0 + .. + p_k``, return the smallest k with
    ``u < c_k`` (K if rounding leaves none). Logits may be large: compute the softmax stably.

    Args:
        logits: (K+1,) float64, unnormalised. u: float in [0, 1).

    Returns:
        int, the jump in [0, K].
    """
    raise NotImplementedError(
        "exercise 05 (lstm_jump): implement sample_jump — see lesson 05")


def reinforce_loss(log_probs, rewards, baselines, mask):
    """The two losses of REINFORCE with a learned baseline, for a batch of B episodes.

    Episode b took decisions j where ``mask[b, j]`` is True; ``log_probs[b, j]`` is the
    log-probability of the action it took and ``baselines[b, j]`` the reward predicted then.
    With the advantage ``a[b, j] = (rewards[b] - baselines[b, j]) * mask[b, j]`` (a constant:
    no gradient flows through it)::

        policy = -(1 / B) * sum_{b, j} a[b, j] * log_probs[b, j]
        value  =  (1 / B) * sum_{b, j} mask[b, j] * (rewards[b] - baselines[b, j]) ** 2

    Args:
        log_probs, baselines: (B, J) float64. rewards: (B,) float64. mask: (B, J) bool.

    Returns:
        ``(policy, value)``, two floats.
    """
    raise NotImplementedError(
        "exercise 05 (lstm_jump): implement reinforce_loss — see lesson 05")


def reinforce_grads(log_probs, rewards, baselines, mask):
    """The gradients of ``policy`` with respect to ``log_probs`` and of ``value`` with
    respect to ``baselines`` (the losses of :func:`reinforce_loss`).

    Returns:
        ``(d_log_probs, d_baselines)``, each (B, J) float64 (zero where mask is False).
    """
    raise NotImplementedError(
        "exercise 05 (lstm_jump): implement reinforce_grads — see lesson 05")
