import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tinydyn.kernels.backend import use_backend
from tinydyn.kernels.lstm import lstm_forward
from tinydyn.kernels.lstm_jump import lstm_jump_infer


def _weights(rng, V, E, H, K, dtype=np.float64, jump_scale=1.0):
    shapes = [(V, E), (4 * H, E), (4 * H, H), (4 * H,), (K + 1, H), (K + 1,)]
    w = [rng.standard_normal(s) * (1 / np.sqrt(s[-1]) if len(s) == 2 else 0.3) for s in shapes]
    w[4] = w[4] * jump_scale * np.sqrt(H)
    return [a.astype(dtype) for a in w]


def _batch(rng, B, T, V):
    lengths = rng.integers(1, T + 1, size=B)
    tokens = rng.integers(1, V, size=(B, T))
    tokens[np.arange(T)[None] >= lengths[:, None]] = 0
    return tokens, lengths


def _run(backend, *args, **kw):
    with use_backend(backend):
        return lstm_jump_infer(*args, **kw)


def _decision_margin(tokens, w, out, R, uniforms=None):
    """How close the nearest jump decision of ``out`` came to going another way.

    Greedy: the gap between the two largest jump logits; sampled: the distance of the
    uniform from the nearest step of the softmax's CDF. Recomputed in float64 from an LSTM over
    the tokens read. The kernel and the twin round differently, so their decisions can only be
    expected to agree where this margin is larger than that rounding.
    """
    w = [a.astype(np.float64) for a in w]
    margin = np.inf
    for b in range(tokens.shape[0]):
        n = int(out["n_decisions"][b])
        if n == 0:
            continue
        read = out["positions"][b][out["positions"][b] >= 0]
        h0 = np.zeros((1, w[2].shape[1]))
        hs, _, _, _ = lstm_forward(w[0][tokens[b, read]][None], h0, h0, *w[1:4])
        logits = hs[0, np.arange(1, n + 1) * R - 1] @ w[4].T + w[5]  # (n, K + 1)
        if uniforms is None:
            top = np.sort(logits, axis=1)
            margin = min(margin, (top[:, -1] - top[:, -2]).min())
        else:
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)[:, :-1]
            margin = min(margin, np.abs(cdf - uniforms[b, :n, None]).min(initial=np.inf))
    return margin


def _same(a, b, exact=True):
    for key in ("positions", "n_read", "jumps", "n_decisions"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    if exact:
        np.testing.assert_allclose(a["h"], b["h"], rtol=1e-12, atol=1e-12)
    else:
        np.testing.assert_allclose(a["h"], b["h"], atol=1e-5)


@settings(derandomize=True, deadline=None, max_examples=25)
@given(B=st.integers(1, 5), T=st.integers(1, 12), R=st.integers(1, 4), N=st.integers(0, 4),
       K=st.integers(1, 5), sample=st.booleans(), compact=st.booleans(),
       seed=st.integers(0, 1000))
def test_kernel_matches_numpy_twin(B, T, R, N, K, sample, compact, seed):
    rng = np.random.default_rng(seed)
    tokens, lengths = _batch(rng, B, T, 7)
    w = _weights(rng, 7, 3, 4, K)
    u = rng.random((B, N)) if sample else None
    kw = dict(read=R, max_jumps=N, uniforms=u, compact=compact)
    b = _run("numpy", tokens, lengths, *w, **kw)
    assume(_decision_margin(tokens, w, b, R, u) > 1e-9)  # no float64 near-tie
    _same(_run("numba", tokens, lengths, *w, **kw), b)


def test_float32_kernel_matches_numpy_twin():
    rng = np.random.default_rng(0)
    tokens, lengths = _batch(rng, 6, 40, 30)
    w = _weights(rng, 30, 8, 16, 6, np.float32, jump_scale=3.0)
    a = _run("numba", tokens, lengths, *w, read=2, max_jumps=6)
    b = _run("numpy", tokens, lengths, *w, read=2, max_jumps=6)
    assert a["h"].dtype == np.float32
    # float32 rounding moves a logit by ~1e-6; no decision of this input is near enough a tie
    assert _decision_margin(tokens, w, b, 2) > 1e-3
    _same(a, b, exact=False)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_compaction_does_not_change_any_result(backend):
    rng = np.random.default_rng(3)
    tokens, lengths = _batch(rng, 9, 30, 12)
    w = _weights(rng, 12, 4, 5, 4)
    u = rng.random((9, 5))
    for uniforms in (None, u):
        kw = dict(read=3, max_jumps=5, uniforms=uniforms)
        compact = _run(backend, tokens, lengths, *w, compact=True, **kw)
        # compaction changes the rows in each matmul, so its rounding: check no near-tie
        assert _decision_margin(tokens, w, compact, 3, uniforms) > 1e-9
        _same(compact, _run(backend, tokens, lengths, *w, compact=False, **kw))


def test_a_batch_gives_what_each_row_gives_alone():
    rng = np.random.default_rng(4)
    tokens, lengths = _batch(rng, 7, 25, 12)
    w = _weights(rng, 12, 4, 5, 3)
    u = rng.random((7, 4))
    batch = lstm_jump_infer(tokens, lengths, *w, read=2, max_jumps=4, uniforms=u)
    # one row alone rounds differently from the same row in a batch: check no near-tie
    assert _decision_margin(tokens, w, batch, 2, u) > 1e-9
    for b in range(7):
        one = lstm_jump_infer(tokens[b:b + 1], lengths[b:b + 1], *w, read=2, max_jumps=4,
                              uniforms=u[b:b + 1])
        for key in ("h", "positions", "n_read", "jumps"):
            np.testing.assert_allclose(one[key][0], batch[key][b], rtol=1e-12, atol=1e-12)


def _positions_from_jumps(length, R, jumps):
    """The arithmetic rule, written independently: segments of R reads, the next one k after."""
    out, pos = [], 0
    for k in list(jumps) + [None]:
        out.extend(range(pos, min(pos + R, length)))
        pos += R
        if k is None or k < 0 or k == 0 or pos >= length:
            break
        pos += k
        if pos >= length:
            break
    return out


def test_positions_follow_the_jumps_and_h_is_an_lstm_over_them():
    rng = np.random.default_rng(5)
    tokens, lengths = _batch(rng, 8, 40, 15)
    w = _weights(rng, 15, 4, 6, 5, jump_scale=2.0)
    out = lstm_jump_infer(tokens, lengths, *w, read=3, max_jumps=4,
                          uniforms=rng.random((8, 4)))
    assert (out["jumps"] > 0).any()
    for b in range(8):
        expected = _positions_from_jumps(lengths[b], 3, out["jumps"][b][out["jumps"][b] >= 0])
        read = out["positions"][b][out["positions"][b] >= 0]
        np.testing.assert_array_equal(read, expected)
        assert out["n_read"][b] == len(expected)
        x = w[0][tokens[b, read]][None]
        h0 = np.zeros((1, 6))
        _, h, _, _ = lstm_forward(x, h0, h0, *w[1:4])
        np.testing.assert_allclose(out["h"][b], h[0], rtol=1e-10, atol=1e-12)


def test_no_jumps_and_read_covering_the_sequence_reads_everything():
    rng = np.random.default_rng(6)
    tokens, lengths = _batch(rng, 4, 10, 9)
    w = _weights(rng, 9, 3, 4, 2)
    out = lstm_jump_infer(tokens, lengths, *w, read=10, max_jumps=0)
    np.testing.assert_array_equal(out["n_read"], lengths)
    assert out["jumps"].shape == (4, 0) and (out["n_decisions"] == 0).all()


def test_a_stop_policy_reads_exactly_R_tokens():
    rng = np.random.default_rng(7)
    tokens, lengths = _batch(rng, 5, 20, 9)
    lengths[:] = 20
    w = _weights(rng, 9, 3, 4, 3)
    w[4][:] = 0.0
    w[5][:] = [5.0, 0.0, 0.0, 0.0]  # k = 0 always wins
    out = lstm_jump_infer(tokens, lengths, *w, read=3, max_jumps=4)
    np.testing.assert_array_equal(out["n_read"], 3)
    np.testing.assert_array_equal(out["positions"][:, :4], [[0, 1, 2, -1]] * 5)
    np.testing.assert_array_equal(out["jumps"][:, 0], 0)


def test_sampling_with_uniforms_inverts_the_cdf():
    rng = np.random.default_rng(8)
    tokens = np.ones((4, 30), np.int64)
    w = _weights(rng, 3, 2, 3, 3)
    w[4][:] = 0.0
    w[5][:] = np.log([0.1, 0.2, 0.3, 0.4])
    u = np.array([[0.05], [0.15], [0.45], [0.95]])
    out = lstm_jump_infer(tokens, np.full(4, 30), *w, read=1, max_jumps=1, uniforms=u)
    np.testing.assert_array_equal(out["jumps"][:, 0], [0, 1, 2, 3])


@pytest.mark.parametrize("change, message", [
    (dict(tokens=np.zeros((2, 3))), "lstm_jump_infer: tokens must have an integer dtype"),
    (dict(lengths=np.array([0, 3])), r"lstm_jump_infer: lengths must be in \[1, T=3\]"),
    (dict(read=0), "lstm_jump_infer: read must be"),
    (dict(uniforms=np.full((2, 2), 1.0)), r"lstm_jump_infer: uniforms must be in \[0, 1\)"),
    (dict(uniforms=np.zeros((2, 3))), r"lstm_jump_infer: uniforms must have shape \(B, N\)"),
    (dict(compact=1), "lstm_jump_infer: compact must be a bool"),
])
def test_bad_inputs_are_named(change, message):
    rng = np.random.default_rng(9)
    w = _weights(rng, 5, 2, 3, 2)
    args = dict(tokens=np.ones((2, 3), np.int64), lengths=np.array([3, 2]), read=1,
                max_jumps=2)
    args.update(change)
    with pytest.raises((ValueError, TypeError), match=message):
        lstm_jump_infer(args.pop("tokens"), args.pop("lengths"), *w, **args)


def test_weights_of_another_dtype_are_rejected():
    rng = np.random.default_rng(10)
    w = _weights(rng, 5, 2, 3, 2)
    w[2] = w[2].astype(np.float32)
    with pytest.raises(TypeError, match="lstm_jump_infer: w_hh must have the dtype of table"):
        lstm_jump_infer(np.ones((1, 3), np.int64), np.array([3]), *w, read=1, max_jumps=1)
