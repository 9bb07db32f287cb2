"""Exercise 05 (LSTM-Jump): the jump-reading loop; REINFORCE with a baseline.

The student writes the pieces of lesson 05 that decide where LSTM-Jump reads and how its jump
policy learns:

* ``read_positions(length, read, jumps)``: the positions read, given the jump decisions;
* ``sample_jump(logits, u)``: a jump drawn from ``softmax(logits)`` by inverting its CDF at u;
* ``reinforce_loss(log_probs, rewards, baselines, mask)``: the policy and baseline losses;
* ``reinforce_grads(...)``: their gradients with respect to ``log_probs`` and ``baselines``.

The references come from the library's real paths: the trainable
:class:`~tinydyn.dynamic.skimming.lstm_jump.LSTMJump` run with the jumps given as actions
(its read mask), the compiled inference kernel sampling one jump from a policy whose logits
are the given ones, and :func:`~tinydyn.dynamic.skimming.lstm_jump.reinforce_loss` with its
autograd backward.
"""

from __future__ import annotations

import numpy as np

from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.skimming.lstm_jump import LSTMJump, read_positions
from tinydyn.dynamic.skimming.lstm_jump import reinforce_loss as _reinforce_loss
from tinydyn.kernels.lstm_jump import lstm_jump_infer

TITLE = "LSTM-Jump: the jump-reading loop and REINFORCE with a baseline"
LESSON = "lessons/05_lstm_jump.py"
PREREQUISITES = ("02", "03", "04")  # lessons to have done first (the instructors' syllabus)
# What student.py may import (see tinydyn.grading.integrity); nothing from tinydyn.
ALLOWED_IMPORTS = ("numpy", "math")

K, N = 6, 4  # the largest jump and the jump budget of the graded reading cases
# Hand-picked reading cases (length, read, jumps): a stop at once, a jump past the end, the
# sequence ending inside a segment, the budget used up, a segment ending exactly at the end,
# and R >= length.
EDGE_CASES = [(12, 3, [0, 2, 2, 2]), (10, 2, [6, 1, 1, 1]), (11, 4, [1, 1, 1, 1]),
              (30, 2, [1, 1, 1, 1]), (8, 2, [2, 0, 0, 0]), (5, 7, [3, 3, 3, 3])]


def _library_positions(length, read, jumps):
    """The read mask of the trainable module run with the jumps as its actions."""
    model = LSTMJump(4, 2, 2, 2, read=int(read), max_jump=K, max_jumps=len(jumps),
                     rng=np.random.default_rng(0), dtype=np.float64)
    tokens = np.ones((1, int(length)), np.int64)
    out = model(tokens, np.array([length]), actions=np.asarray(jumps, np.int64)[None])
    return np.flatnonzero(out["read_mask"][0]).astype(np.int64)


def _library_sample(logits, u):
    """The kernel's sampled jump, from a policy whose logits are ``logits`` whatever h is."""
    logits = np.asarray(logits, np.float64)
    w = [np.zeros(s) for s in ((2, 1), (4, 1), (4, 1), (4,))]
    out = lstm_jump_infer(np.ones((1, 3), np.int64), np.array([3]), *w,
                          np.zeros((len(logits), 1)), logits, read=1, max_jumps=1,
                          uniforms=np.array([[float(u)]]))
    return int(out["jumps"][0, 0])


def _losses(log_probs, rewards, baselines, mask):
    lp = Tensor(np.asarray(log_probs, np.float64), requires_grad=True)
    b = Tensor(np.asarray(baselines, np.float64), requires_grad=True)
    policy, value = _reinforce_loss(lp, np.asarray(rewards, np.float64), b,
                                    np.asarray(mask, bool))
    return lp, b, policy, value


def _loss_values(log_probs, rewards, baselines, mask):
    _, _, policy, value = _losses(log_probs, rewards, baselines, mask)
    return float(policy.data), float(value.data)


def _loss_grads(log_probs, rewards, baselines, mask):
    lp, b, policy, value = _losses(log_probs, rewards, baselines, mask)
    (policy + value).backward()  # policy depends on lp only, value on b only
    return lp.grad.data.copy(), b.grad.data.copy()


class SOLUTION:
    """The functions of ``exercises/05_lstm_jump/student.py``, implemented with the library."""

    read_positions = staticmethod(read_positions)
    sample_jump = staticmethod(_library_sample)
    reinforce_loss = staticmethod(_loss_values)
    reinforce_grads = staticmethod(_loss_grads)


def _pad(rows, width):
    out = np.full((len(rows), width), -1, np.int64)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out


def make_references(seed: int) -> dict:
    """Inputs and the library's outputs (int64 positions and jumps, float64 losses)."""
    rng = np.random.default_rng(seed)
    out = {}
    # reading: random cases, then the edge cases
    C = 12
    lengths = rng.integers(1, 41, size=C)
    reads = rng.integers(1, 6, size=C)
    jumps = rng.integers(0, K + 1, size=(C, N))
    jumps[:, 0] = np.maximum(jumps[:, 0], 1)  # mostly several segments
    for name, cases in (("read", list(zip(lengths, reads, jumps))), ("edge", EDGE_CASES)):
        out[f"{name}_length"] = np.array([c[0] for c in cases], np.int64)
        out[f"{name}_R"] = np.array([c[1] for c in cases], np.int64)
        out[f"{name}_jumps"] = np.array([c[2] for c in cases], np.int64)
        out[f"{name}_expected"] = _pad([_library_positions(*c) for c in cases], 41)
    # sampling: unnormalised logits (one of them very large), uniforms away from the CDF's steps
    S = 10
    logits = rng.normal(0.0, 2.0, size=(S, K + 1))
    logits[0] += 500.0  # overflows a naive exp
    u = rng.uniform(0.0, 1.0, size=S)
    out.update(sample_logits=logits, sample_u=u,
               sample_expected=np.array([_library_sample(z, v) for z, v in zip(logits, u)],
                                        np.int64))
    # REINFORCE: 6 episodes, up to 4 decisions each (the mask marks the decisions taken)
    B, J = 6, 4
    taken = rng.integers(0, J + 1, size=B)
    taken[0] = 0  # an episode that stopped before any decision
    mask = np.arange(J)[None] < taken[:, None]
    log_probs = np.log(rng.uniform(0.05, 1.0, size=(B, J)))
    rewards = np.where(rng.random(B) < 0.5, 1.0, -1.0)
    baselines = rng.uniform(-1.0, 1.0, size=(B, J))
    policy, value = _loss_values(log_probs, rewards, baselines, mask)
    d_lp, d_b = _loss_grads(log_probs, rewards, baselines, mask)
    out.update(rl_log_probs=log_probs, rl_rewards=rewards, rl_baselines=baselines,
               rl_mask=mask, rl_policy=np.array(policy), rl_value=np.array(value),
               rl_d_log_probs=d_lp, rl_d_baselines=d_b)
    return out
