import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinydyn as td
from tinydyn.dynamic.skimming.common import LSTMClassifier
from tinydyn.dynamic.skimming.lstm_jump import LSTMJump, lstm_jump_flops, reinforce_loss
from tinydyn.kernels.backend import use_backend
from tinydyn.kernels.lstm import lstm_forward
from tinydyn.measure import FlopCounter, linear_flops, lstm_cell_flops


def _model(R=2, K=3, N=2, V=12, C=3, E=4, H=5, seed=0, dtype=np.float64):
    return LSTMJump(V, C, E, H, read=R, max_jump=K, max_jumps=N,
                    rng=np.random.default_rng(seed), dtype=dtype)


def _batch(rng, B, T, V=12, full=False):
    lengths = np.full(B, T) if full else rng.integers(1, T + 1, size=B)
    tokens = rng.integers(1, V, size=(B, T))
    tokens[np.arange(T)[None] >= lengths[:, None]] = 0
    return tokens, lengths


def _rule(length, R, jumps):
    """Spec property 3, written out: read R, and after a segment ending at p jump to p+k+1."""
    read, p = [], 0
    for k in list(jumps) + [0]:
        read += list(range(p, min(p + R, length)))
        p += R
        if k == 0 or p >= length:
            return read
        p += k
        if p >= length:
            return read


def _decision_margin(model, tokens, out, uniforms=None):
    """How close the nearest jump decision of ``out`` came to going another way (float64).

    Greedy: the gap between the two largest jump logits; sampled: the distance of the
    uniform from the nearest step of the softmax's CDF. The module and the kernel round
    differently, so their decisions agree exactly only where this margin exceeds rounding.
    """
    emb, w_ih, w_hh, bias, w_jump, b_jump = model.kernel_weights()
    margin, R = np.inf, model.read
    for b in range(tokens.shape[0]):
        n = int((out["jumps"][b] >= 0).sum())
        if n == 0:
            continue
        read = out["positions"][b][out["positions"][b] >= 0]
        h0 = np.zeros((1, w_hh.shape[1]))
        hs, _, _, _ = lstm_forward(emb[tokens[b, read]][None], h0, h0, w_ih, w_hh, bias)
        logits = hs[0, np.arange(1, n + 1) * R - 1] @ w_jump.T + b_jump  # (n, K + 1)
        if uniforms is None:
            top = np.sort(logits, axis=1)
            margin = min(margin, (top[:, -1] - top[:, -2]).min())
        else:
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)[:, :-1]
            margin = min(margin, np.abs(cdf - uniforms[b, :n, None]).min(initial=np.inf))
    return margin


# ---- spec property 1: no jumps and R >= T is the plain LSTM classifier ----------------------

def test_no_jumps_reading_everything_is_the_plain_lstm_classifier():
    rng = np.random.default_rng(0)
    model = _model(R=9, N=0)
    plain = LSTMClassifier(12, 3, 4, 5, rng=np.random.default_rng(1), dtype=np.float64)
    for name in ("embed", "lstm", "head"):
        getattr(plain, name).load_state_dict(getattr(model, name).state_dict())
    tokens, lengths = _batch(rng, 4, 9)
    mask = np.arange(9)[None] < lengths[:, None]
    expected = plain(tokens, mask)[0].data
    out = model(tokens, lengths, actions="greedy")
    np.testing.assert_allclose(out["logits"].data, expected, rtol=1e-12)
    np.testing.assert_array_equal(out["read_mask"], mask)
    np.testing.assert_allclose(model.infer(tokens, lengths)["logits"], expected, rtol=1e-10)


# ---- spec property 2: a policy that always stops reads exactly R tokens --------------------

def test_always_stopping_reads_exactly_the_first_R_tokens():
    rng = np.random.default_rng(1)
    model = _model(R=3, K=4, N=3)
    tokens, lengths = _batch(rng, 5, 15, full=True)
    out = model(tokens, lengths, actions=np.zeros((5, 3), np.int64))
    np.testing.assert_array_equal(out["n_read"], 3)
    assert out["read_mask"][:, :3].all() and not out["read_mask"][:, 3:].any()
    model.jump.bias.data[:] = [50.0, 0, 0, 0, 0]  # the greedy kernel stops too
    inf = model.infer(tokens, lengths)
    np.testing.assert_array_equal(inf["n_read"], 3)
    np.testing.assert_array_equal(inf["jumps"][:, 0], 0)


# ---- spec property 3: the arithmetic rule, no off-by-one ------------------------------------

def test_the_next_token_after_a_jump_of_k_is_p_plus_k_plus_1():
    model = _model(R=2, K=4, N=2)
    tokens = np.arange(1, 11)[None] % 11
    out = model(tokens, np.array([10]), actions=np.array([[3, 1]]))
    # reads 0, 1 (p = 1), jumps 3 -> reads 5, 6 (p = 6), jumps 1 -> reads 8, 9
    np.testing.assert_array_equal(np.flatnonzero(out["read_mask"][0]), [0, 1, 5, 6, 8, 9])


@settings(derandomize=True, deadline=None, max_examples=30)
@given(B=st.integers(1, 4), T=st.integers(1, 14), R=st.integers(1, 4), N=st.integers(0, 4),
       K=st.integers(1, 5), seed=st.integers(0, 999))
def test_read_positions_follow_the_rule_and_respect_the_budget(B, T, R, N, K, seed):
    rng = np.random.default_rng(seed)
    model = _model(R=R, K=K, N=N, seed=seed)
    tokens, lengths = _batch(rng, B, T)
    actions = rng.integers(0, K + 1, size=(B, N))
    out = model(tokens, lengths, actions=actions)
    for b in range(B):
        taken = out["jumps"][b][out["decided"][b]]
        np.testing.assert_array_equal(taken, actions[b, :len(taken)])
        np.testing.assert_array_equal(np.flatnonzero(out["read_mask"][b]),
                                      _rule(lengths[b], R, taken))
    # spec property 4: at most min(T, R (N + 1)) tokens, and padding is never read
    assert (out["n_read"] <= np.minimum(lengths, R * (N + 1))).all()
    assert not (out["read_mask"] & (tokens == 0)).any()


def test_greedy_forward_and_kernel_inference_agree():
    rng = np.random.default_rng(2)
    model = _model(R=2, K=3, N=4)
    model.jump.weight.data *= 8.0  # varied jumps
    tokens, lengths = _batch(rng, 6, 20)
    out = model(tokens, lengths, actions="greedy")
    for backend in ("numba", "numpy"):
        with use_backend(backend):
            inf = model.infer(tokens, lengths)
        # the module and the kernel compute the jump logits with different float operations
        assert _decision_margin(model, tokens, inf) > 1e-9
        np.testing.assert_array_equal(inf["jumps"], out["jumps"])
        np.testing.assert_array_equal(inf["n_read"], out["n_read"])
        np.testing.assert_allclose(inf["logits"], out["logits"].data, rtol=1e-10)
    assert len(set(out["jumps"][out["decided"]].tolist())) > 1


def test_sampled_forward_and_kernel_inference_agree_on_the_same_uniforms():
    rng = np.random.default_rng(3)
    model = _model(R=2, K=3, N=3)
    tokens, lengths = _batch(rng, 6, 20, full=True)
    out = model(tokens, lengths, rng=np.random.default_rng(7))
    inf = model.infer(tokens, lengths, rng=np.random.default_rng(7), sample=True)
    # the same uniforms, but CDFs from two implementations: check none is near a step
    uniforms = np.random.default_rng(7).random((6, 3))
    assert _decision_margin(model, tokens, inf, uniforms) > 1e-9
    np.testing.assert_array_equal(inf["jumps"], out["jumps"])


# ---- spec property 4: FLOPs -----------------------------------------------------------------

def test_flops_are_reads_times_a_step_plus_decisions_times_the_policy():
    rng = np.random.default_rng(4)
    model = _model(R=2, K=3, N=3, E=4, H=5, C=3)
    tokens, lengths = _batch(rng, 5, 16)
    with FlopCounter() as counter:
        out = model.infer(tokens, lengths)
    expected = (out["n_read"] * lstm_cell_flops(4, 5) + out["n_decisions"] * linear_flops(5, 4)
                + linear_flops(5, 3))
    np.testing.assert_array_equal(out["flops"], expected)
    assert counter.total == expected.sum()
    # a hand count: 7 tokens and 3 decisions, E = 4, H = 5, K = 3 (4 outputs), C = 3
    step = 2 * 4 * 5 * (4 + 5) + 4 * 5 + 9 * 5
    assert lstm_jump_flops(7, 3, 4, 5, 3, 3) == 7 * step + 3 * (2 * 5 * 4 + 4) + (2 * 5 * 3 + 3)


# ---- spec property 5: REINFORCE is unbiased on a bandit -------------------------------------

def test_reinforce_gradient_is_unbiased_on_a_bandit():
    theta = np.array([0.3, -0.5, 1.0, 0.0])
    reward = np.array([1.0, -1.0, 0.5, 2.0])
    p = np.exp(theta) / np.exp(theta).sum()
    exact = p * (reward - p @ reward)  # d E[r] / d theta for a softmax policy
    M = 200_000
    actions = np.random.default_rng(5).choice(4, size=M, p=p)
    for b in (0.0, 0.7):  # any action-independent baseline: the same expectation
        logits = td.Tensor(np.tile(theta, (M, 1)), requires_grad=True)
        logp = td.log_softmax(logits, -1)[np.arange(M), actions].reshape(M, 1)
        policy, _ = reinforce_loss(logp, reward[actions], td.Tensor(np.full((M, 1), b)))
        policy.backward()
        estimate = -logits.grad.data.sum(0)  # minimising the loss ascends E[r]
        np.testing.assert_allclose(estimate, exact, atol=0.01)


def _per_episode_gradients(theta, reward, actions, baseline, normalize=False):
    """Each row: one episode's REINFORCE estimate of grad E[r], through reinforce_loss."""
    M = len(actions)
    logits = td.Tensor(np.tile(theta, (M, 1)), requires_grad=True)
    logp = td.log_softmax(logits, -1)[np.arange(M), actions].reshape(M, 1)
    policy, _ = reinforce_loss(logp, reward[actions], td.Tensor(np.full((M, 1), baseline)),
                               normalize=normalize)
    policy.backward()
    return -M * logits.grad.data  # the loss averages over episodes and is minimised


def test_a_baseline_reduces_the_variance_of_the_estimate():
    theta = np.array([0.2, -0.3, 0.4])
    reward = np.array([2.0, 1.0, 3.0])  # all positive: without a baseline every step pushes up
    p = np.exp(theta) / np.exp(theta).sum()
    actions = np.random.default_rng(6).choice(3, size=20_000, p=p)
    plain = _per_episode_gradients(theta, reward, actions, 0.0)
    based = _per_episode_gradients(theta, reward, actions, float(p @ reward))
    np.testing.assert_allclose(plain.mean(0), based.mean(0), atol=0.05)
    assert based.var(0).sum() < 0.5 * plain.var(0).sum()


def test_normalize_does_not_blow_up_advantages_that_share_a_sign():
    # every reward +1, the baseline a near-constant 0.9: raw advantages ~0.1, all positive
    rng = np.random.default_rng(0)
    B = 64
    logp = td.Tensor(np.log(np.full((B, 1), 0.5)), requires_grad=True)
    baselines = td.Tensor(0.9 + 0.01 * rng.standard_normal((B, 1)))
    policy, _ = reinforce_loss(logp, np.ones(B), baselines, normalize=True)
    policy.backward()
    per_episode = -B * logp.grad.data
    assert abs(per_episode.mean()) < 1e-9  # centred: no net push when nothing distinguishes
    assert np.abs(per_episode).max() < 4.0  # standardised, not divided by a tiny spread


def test_value_loss_fits_the_baseline_and_leaves_the_policy_alone():
    lp = td.Tensor(np.log(np.full((3, 2), 0.5)), requires_grad=True)
    b = td.Tensor(np.array([[0.5, 0.0], [1.0, 0.0], [0.0, 0.0]]), requires_grad=True)
    mask = np.array([[True, False], [True, False], [False, False]])
    policy, value = reinforce_loss(lp, np.array([1.0, -1.0, 1.0]), b, mask)
    np.testing.assert_allclose(value.data, ((1 - 0.5) ** 2 + (-1 - 1) ** 2) / 3)
    np.testing.assert_allclose(policy.data, -(0.5 * np.log(0.5) + -2.0 * np.log(0.5)) / 3)
    value.backward()
    np.testing.assert_allclose(b.grad.data, [[-1 / 3, 0], [4 / 3, 0], [0, 0]])
    assert lp.grad is None


def test_loss_trains_policy_baseline_and_classifier_but_not_the_lstm_through_the_baseline():
    rng = np.random.default_rng(8)
    model = _model(R=2, K=3, N=3)
    tokens, lengths = _batch(rng, 6, 16, full=True)
    out = model(tokens, lengths, rng=np.random.default_rng(0))
    loss, parts = model.loss(out, rng.integers(0, 3, size=6))
    loss.backward()
    for p in (model.jump.weight, model.value.weight, model.head.weight, model.lstm.weight_ih):
        assert p.grad is not None and np.abs(p.grad.data).sum() > 0
    assert {"ce", "policy", "value", "accuracy"} <= set(parts)
    # the baseline sees h detached: its loss alone gives the LSTM no gradient
    model.zero_grad()
    out = model(tokens, lengths, rng=np.random.default_rng(0))
    _, value = reinforce_loss(out["log_probs"], np.ones(6), out["baselines"], out["decided"])
    value.backward()
    assert model.lstm.weight_hh.grad is None or not model.lstm.weight_hh.grad.data.any()


# ---- gradient check of the classifier path with the jumps frozen ----------------------------

def test_classifier_gradients_with_jumps_frozen():
    rng = np.random.default_rng(9)
    model = _model(R=2, K=3, N=2, E=3, H=3)
    tokens, lengths = _batch(rng, 3, 10, full=True)
    actions = np.array([[2, 1], [0, 0], [3, 3]])
    names = ["embed.weight", "lstm.weight_ih", "lstm.weight_hh", "lstm.bias", "head.weight"]
    params = dict(model.named_parameters())

    def f(*ws):
        for name, w in zip(names, ws):
            module, attr = name.split(".")
            setattr(getattr(model, module), attr, w)
        return model(tokens, lengths, actions=actions)["logits"]

    assert td.grad_check(f, *[params[n] for n in names])


# ---- errors --------------------------------------------------------------------------------

def test_forward_rejects_actions_out_of_range():
    model = _model(K=3, N=2)
    with pytest.raises(ValueError, match=r"LSTMJump.forward: actions must be in \[0, K=3\]"):
        model(np.ones((1, 6), np.int64), np.array([6]), actions=np.array([[4, 0]]))


def test_forward_rejects_an_unknown_action_mode():
    with pytest.raises(ValueError, match="LSTMJump.forward: actions must be 'sample'"):
        _model()(np.ones((1, 6), np.int64), np.array([6]), actions="argmax")


def test_infer_rejects_float_tokens_and_bad_lengths():
    model = _model()
    with pytest.raises(TypeError, match="LSTMJump.infer: tokens must be a"):
        model.infer(np.ones((1, 4)), np.array([4]))
    with pytest.raises(ValueError, match=r"LSTMJump.infer: lengths must be in \[1, T=4\]"):
        model.infer(np.ones((1, 4), np.int64), np.array([5]))


def test_reinforce_loss_rejects_mismatched_shapes():
    lp = td.Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"reinforce_loss: rewards must have shape \(B,\)"):
        reinforce_loss(lp, np.zeros(3), td.Tensor(np.zeros((2, 3))))
    with pytest.raises(TypeError, match="reinforce_loss: log_probs and baselines must be"):
        reinforce_loss(np.zeros((2, 3)), np.zeros(2), td.Tensor(np.zeros((2, 3))))


def test_constructor_rejects_a_zero_read():
    with pytest.raises(ValueError, match="LSTMJump: read must be"):
        LSTMJump(10, 2, read=0)


# ---- the experiment, at toy sizes (a smoke test, not a training run) -----------------------

def test_sweep_returns_one_row_per_budget_with_the_contract_keys():
    from tinydyn.data import load_task
    from tinydyn.dynamic.skimming.common import LSTMClassifier as Base
    from tinydyn.dynamic.skimming.lstm_jump_experiment import sweep_lstm_jump

    task = load_task("sparse_signal", seed=0, n_train=32, n_val=4, n_test=8, min_len=5,
                     max_len=30)
    base = (Base(task.vocab_size, 2, rng=np.random.default_rng(0)), {"accuracy": 0.5})
    seqs = [np.asarray(task.test[i][0]) for i in range(3)]
    rows = sweep_lstm_jump(task, base, quick=True, sequences=seqs, time_limit=2.0)
    assert [r["value"] for r in rows] == sorted({0.0, 1.0, 3.0, 6.0, 12.0})
    keys = {"method", "knob", "value", "accuracy", "flops", "flops_timed", "time_b1",
            "time_batched", "train_seconds"}
    for r in rows:
        assert keys <= set(r) and r["method"] == "LSTM-Jump" and r["knob"] == "N"
    flops = [r["flops"] for r in rows]
    assert flops == sorted(flops)  # a larger budget never reads less


def test_flops_reject_negative_or_fractional_counts():
    with pytest.raises(ValueError, match=r"lstm_jump_flops: n_read must hold integer counts "
                                         r">= 0, got int64 values \[-3\]"):
        lstm_jump_flops(np.array([-3]), np.array([0]), 4, 8, 3, 2)
    with pytest.raises(TypeError, match=r"lstm_jump_flops: n_decisions must hold integer "
                                        r"counts >= 0, got float64"):
        lstm_jump_flops(np.array([3]), np.array([3.7]), 4, 8, 3, 2)
