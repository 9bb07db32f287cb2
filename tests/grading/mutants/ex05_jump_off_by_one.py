"""Exercise 05 (LSTM-Jump), a mutant: after a jump of k the next read is p + k, one token too early
(an off-by-one in the jump rule)."""

import numpy as np


def read_positions(length, read, jumps):
    out, start = [], 0
    for j in range(len(jumps) + 1):
        end = min(start + read, length)
        out.extend(range(start, end))
        if end == length or j == len(jumps) or jumps[j] == 0:
            break
        start = end + int(jumps[j]) - 1  # the bug: p + k, not p + k + 1
        if start >= length:
            break
    return np.array(out, np.int64)


def sample_jump(logits, u):
    p = np.exp(logits - logits.max())
    cdf = np.cumsum(p / p.sum())
    return int(min(np.searchsorted(cdf, u, side="right"), len(logits) - 1))


def _advantage(rewards, baselines, mask):
    return (rewards[:, None] - baselines) * mask


def reinforce_loss(log_probs, rewards, baselines, mask):
    B = len(rewards)
    adv = _advantage(rewards, baselines, mask)
    err = (rewards[:, None] - baselines) * mask
    return float(-(adv * log_probs).sum() / B), float((err ** 2).sum() / B)


def reinforce_grads(log_probs, rewards, baselines, mask):
    B = len(rewards)
    adv = _advantage(rewards, baselines, mask)
    err = (rewards[:, None] - baselines) * mask
    return -adv / B, -2.0 * err / B
