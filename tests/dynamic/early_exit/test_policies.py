"""P-C0.1, P-C0.2, P-C0.4 for every policy, and the per-method properties of spec C.1-C.5."""

import math

import numpy as np
import pytest

from tinydyn.dynamic.early_exit import (
    EntropyPolicy,
    LearnedPolicy,
    MaxProbPolicy,
    PatiencePolicy,
    exit_decisions,
    normalized_entropy,
    stable_entropy,
)

L = 8


def _policies(model):
    return {
        "entropy": (lambda v: EntropyPolicy(v), [0.0, 0.2, 0.6, 1.0, 1.3, 2.0]),
        "normalized entropy": (lambda v: EntropyPolicy(v, normalized=True),
                               [0.0, 0.2, 0.5, 0.8, 1.0]),
        "max-prob": (lambda v: MaxProbPolicy(v), [0.0, 0.3, 0.5, 0.8, 0.95, 1.0]),
        "patience": (lambda v: PatiencePolicy(v), [1, 2, 3, 5, 7, 8]),
        "learned": (lambda v: LearnedPolicy.from_model(model, v), [0.0, 0.3, 0.5, 0.7, 1.5]),
    }


@pytest.mark.parametrize("name", ["entropy", "normalized entropy", "max-prob", "patience",
                                  "learned"])
def test_exit_in_range_prediction_from_exit_layer_and_monotone(name, mlp64, stack):
    _, logits, feats = stack
    make, knobs = _policies(mlp64)[name]
    previous = None
    for v in knobs:
        policy = make(v)
        exits, preds = exit_decisions(logits, policy, feats)
        assert exits.min() >= 1 and exits.max() <= L  # P-C0.1
        np.testing.assert_array_equal(preds, logits[exits - 1, np.arange(len(exits))]
                                      .argmax(1))
        if previous is not None:  # P-C0.4, in the direction the policy states
            if policy.earlier_when_larger:
                assert (exits <= previous).all()
            else:
                assert (exits >= previous).all()
        previous = exits
    assert len(set(map(tuple, [exit_decisions(logits, make(v), feats)[0] for v in knobs]))) > 2


@pytest.mark.parametrize("policy", [EntropyPolicy(0.0), MaxProbPolicy(1.0), PatiencePolicy(8),
                                    EntropyPolicy(0.0, normalized=True)])
def test_never_firing_reproduces_the_full_model(policy, stack):  # P-C0.2, P-C1.1, P-C5.2
    _, logits, feats = stack
    exits, preds = exit_decisions(logits, policy, feats)
    assert (exits == L).all()
    np.testing.assert_array_equal(preds, logits[-1].argmax(1))


def test_learned_never_and_always(mlp64, stack):  # P-C4.1, P-C4.2
    _, logits, feats = stack
    assert (exit_decisions(logits, LearnedPolicy.from_model(mlp64, 0.0), feats)[0] == L).all()
    assert (exit_decisions(logits, LearnedPolicy.from_model(mlp64, 1.01), feats)[0] == 1).all()


def test_always_firing_thresholds_exit_at_layer_one(stack):  # P-C1.2, P-C2.2, P-C5.2
    _, logits, feats = stack
    c = logits.shape[2]
    for policy in (EntropyPolicy(math.log(c) + 1e-9), EntropyPolicy(1.0, normalized=True),
                   MaxProbPolicy(1.0 / c - 1e-9)):
        assert (exit_decisions(logits, policy, feats)[0] == 1).all()


def test_stable_entropy_matches_naive_and_survives_large_logits():  # P-C1.5
    z = np.random.default_rng(0).standard_normal((20, 5)) * 3
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    np.testing.assert_allclose(stable_entropy(z), -(p * np.log(p)).sum(1), rtol=1e-12)
    big = np.array([[1000.0, 0.0, -1000.0], [1000.0, 1000.0, -1000.0]])
    h = stable_entropy(big)
    assert np.isfinite(h).all()
    np.testing.assert_allclose(h, [0.0, math.log(2)], atol=1e-12)
    # DeeBERT's unshifted formula overflows here
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(big)
        naive = np.log(e.sum(1)) - (big * e).sum(1) / e.sum(1)
    assert not np.isfinite(naive).all()


def test_normalized_entropy_uniform_is_one_one_hot_is_zero():  # P-C2.1
    u = normalized_entropy(np.zeros((1, 7)))
    one_hot = normalized_entropy(np.array([[0.0, 800.0, 0.0]]))
    assert u[0] == pytest.approx(1.0) and one_hot[0] == pytest.approx(0.0, abs=1e-12)


def _logits_from_preds(preds, c=3):
    """(L, 1, C) logits whose argmax at layer i is preds[i]."""
    z = np.zeros((len(preds), 1, c))
    z[np.arange(len(preds)), 0, preds] = 2.0
    return z


def test_patience_exits_after_t_plus_one_agreeing_layers():  # P-C3.4, P-C3.1
    z = _logits_from_preds([2, 2, 2, 0, 1, 1, 1, 1])
    assert exit_decisions(z, PatiencePolicy(2))[0][0] == 3
    assert exit_decisions(z, PatiencePolicy(3))[0][0] == 8  # the 0 at layer 4 resets
    assert exit_decisions(_logits_from_preds([1] * 8), PatiencePolicy(7))[0][0] == 8
    assert exit_decisions(_logits_from_preds([1] * 8), PatiencePolicy(1))[0][0] == 2


def test_maxprob_is_strict_and_uses_the_layer_temperature():
    z = np.log(np.array([[[0.6, 0.4]], [[0.9, 0.1]]]))
    assert exit_decisions(z, MaxProbPolicy(0.6))[0][0] == 2  # 0.6 is not > 0.6
    hot = MaxProbPolicy(0.55, temperatures=[100.0, 1.0])  # layer 1 flattened below 0.55
    assert exit_decisions(z, hot)[0][0] == 2


def test_policy_state_is_per_sample():  # P-C3.6: counters do not leak between rows
    a, b = _logits_from_preds([1, 1, 1, 1]), _logits_from_preds([0, 1, 0, 1])
    both = np.concatenate([a, b], axis=1)
    exits, _ = exit_decisions(both, PatiencePolicy(1))
    assert exits.tolist() == [exit_decisions(a, PatiencePolicy(1))[0][0],
                              exit_decisions(b, PatiencePolicy(1))[0][0]] == [2, 4]


@pytest.mark.parametrize("make, match", [
    (lambda: EntropyPolicy(-0.1), "EntropyPolicy: threshold"),
    (lambda: EntropyPolicy(float("nan")), "EntropyPolicy: threshold"),
    (lambda: MaxProbPolicy(1.5), "MaxProbPolicy: threshold"),
    (lambda: MaxProbPolicy(0.5, temperatures=[1.0, -1.0]), "MaxProbPolicy: temperatures"),
    (lambda: PatiencePolicy(0), "PatiencePolicy: patience"),
    (lambda: PatiencePolicy(1.5), "PatiencePolicy: patience"),
    (lambda: LearnedPolicy(-1.0, np.ones(3), 0.0), "LearnedPolicy: threshold"),
])
def test_bad_knobs_raise_naming_the_argument(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_exit_decisions_checks_its_inputs():
    with pytest.raises(ValueError, match="exit_decisions: logits"):
        exit_decisions(np.zeros((3, 4)), EntropyPolicy(0.1))
    with pytest.raises(ValueError, match="needs features"):
        exit_decisions(np.zeros((2, 3, 4)), LearnedPolicy(0.1, np.ones(5), 0.0))
    with pytest.raises(TypeError, match="policy"):
        exit_decisions(np.zeros((2, 3, 4)), "entropy")
