"""Graded tests of exercise 05 (LSTM-Jump): 10 points.

Every test calls the functions of ``student.py`` (fixture ``impl``) on the stored inputs
(fixture ``refs``) and compares with the library's results (fixture ``check``): the read mask
of the trainable LSTM-Jump module run with the given jumps, a jump sampled by the compiled
inference kernel, and the library's REINFORCE loss with its autograd gradients.
"""

import numpy as np
import pytest

pytestmark = pytest.mark.exercise("05")


def _array(received, name):
    assert received is not None, f"{name}: the function returned None"
    return np.asarray(received)


def _positions(impl, refs, prefix, check):
    for i in range(len(refs[f"{prefix}_length"])):
        length, R = int(refs[f"{prefix}_length"][i]), int(refs[f"{prefix}_R"][i])
        jumps = refs[f"{prefix}_jumps"][i].copy()
        expected = refs[f"{prefix}_expected"][i]
        expected = expected[expected >= 0]
        received = _array(impl.read_positions(length, R, jumps), "positions")
        check.equal(received.astype(np.int64).ravel(), expected,
                    f"positions read (length {length}, read {R}, jumps {jumps.tolist()})")


# ---- the jump-reading loop ----------------------------------------------------------------------


@pytest.mark.points(2)
def test_read_positions_random_cases(impl, refs, check):
    _positions(impl, refs, "read", check)


@pytest.mark.points(1)
def test_read_positions_edge_cases(impl, refs, check):
    # a stop at once, a jump past the end, the end inside a segment, the budget used up,
    # a segment ending exactly at the end, read >= length
    _positions(impl, refs, "edge", check)


@pytest.mark.points(2)
def test_sample_jump_inverts_the_cdf(impl, refs, check):
    received = [impl.sample_jump(z.copy(), float(u))
                for z, u in zip(refs["sample_logits"], refs["sample_u"])]
    for r in received:
        assert r is not None, "sample_jump: the function returned None"
    check.equal(np.array([int(r) for r in received], np.int64), refs["sample_expected"],
                "jumps sampled (row 0 has logits near 500: is your softmax stable?)")


# ---- REINFORCE with a baseline ------------------------------------------------------------------


def _rl_args(refs):
    return (refs["rl_log_probs"].copy(), refs["rl_rewards"].copy(),
            refs["rl_baselines"].copy(), refs["rl_mask"].copy())


@pytest.mark.points(1)
def test_reinforce_policy_loss(impl, refs, check):
    received = impl.reinforce_loss(*_rl_args(refs))
    assert received is not None and len(received) == 2, "reinforce_loss: return (policy, value)"
    check.allclose(np.asarray(float(received[0])), refs["rl_policy"], "policy loss")


@pytest.mark.points(1)
def test_reinforce_value_loss(impl, refs, check):
    received = impl.reinforce_loss(*_rl_args(refs))
    assert received is not None and len(received) == 2, "reinforce_loss: return (policy, value)"
    check.allclose(np.asarray(float(received[1])), refs["rl_value"], "baseline (value) loss")


@pytest.mark.points(2)
def test_reinforce_grad_of_the_policy_loss(impl, refs, check):
    received = impl.reinforce_grads(*_rl_args(refs))
    assert received is not None and len(received) == 2, (
        "reinforce_grads: return (d_log_probs, d_baselines)")
    check.allclose(_array(received[0], "d_log_probs"), refs["rl_d_log_probs"], "d_log_probs")


@pytest.mark.points(1)
def test_reinforce_grad_of_the_value_loss(impl, refs, check):
    received = impl.reinforce_grads(*_rl_args(refs))
    assert received is not None and len(received) == 2, (
        "reinforce_grads: return (d_log_probs, d_baselines)")
    check.allclose(_array(received[1], "d_baselines"), refs["rl_d_baselines"], "d_baselines")
