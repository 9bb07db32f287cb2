import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tinydyn.kernels.backend import use_backend
from tinydyn.kernels.lstm import lstm_forward
from tinydyn.kernels.skim_rnn import hard_weights, skim_hard_forward, threshold_cut
from tinydyn.kernels.skim_rnn_soft import skim_soft_backward, skim_soft_forward, wide_order


def _raw(rng, d, ds, dx, dtype):
    """Big cell, small cell and decision weights, as ``hard_weights`` takes them."""
    shapes = [(4 * d, dx), (4 * d, d), (4 * d,), (4 * ds, dx), (4 * ds, d), (4 * ds,),
              (2, dx + d), (2,)]
    return [(rng.standard_normal(s) * 0.6).astype(dtype) for s in shapes]


def _inputs(rng, B, T, d, dx, dtype):
    x = rng.standard_normal((B, T, dx)).astype(dtype)
    lengths = rng.integers(0, T + 1, size=B)
    h0 = (rng.standard_normal((B, d)) * 0.5).astype(dtype)
    c0 = (rng.standard_normal((B, d)) * 0.5).astype(dtype)
    return x, lengths, h0, c0


def _decision_margin(p_skim, lengths, threshold):
    """How far the closest real decision is from the threshold (inf when there is none).

    The kernel and the twin compute p(skim) with different float operations, so their
    decisions can only be expected to agree where p is further from the threshold than that
    rounding: on another CPU a tie could go either way.
    """
    if not 0 < threshold < 1:  # the cut is at -inf or +inf: no float can fall near it
        return np.inf
    valid = np.arange(p_skim.shape[1])[None] < lengths[:, None]
    return np.abs(p_skim[valid].astype(np.float64) - threshold).min(initial=np.inf)


# ---- hard inference: kernel against twin -----------------------------------------------------

@settings(derandomize=True, deadline=None, max_examples=20)
@given(B=st.integers(1, 5), T=st.integers(1, 6), d=st.integers(1, 7), dx=st.integers(1, 4),
       threshold=st.sampled_from([0.0, 0.3, 0.5, 0.8, 1.0]), seed=st.integers(0, 1000))
def test_hard_kernel_matches_numpy_twin(B, T, d, dx, threshold, seed):
    rng = np.random.default_rng(seed)
    ds = int(rng.integers(1, d + 1))
    x, lengths, h0, c0 = _inputs(rng, B, T, d, dx, np.float64)
    w = hard_weights(*_raw(rng, d, ds, dx, np.float64))
    with use_backend("numba"):
        a = skim_hard_forward(x, lengths, h0, c0, w, threshold)
    with use_backend("numpy"):
        b = skim_hard_forward(x, lengths, h0, c0, w, threshold)
    assume(_decision_margin(b[3], lengths, threshold) > 1e-9)  # no float64 near-tie
    np.testing.assert_array_equal(a[2], b[2])
    for got, want in zip(a[:2] + a[3:], b[:2] + b[3:]):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_hard_kernel_float32_matches_numpy_twin():
    rng = np.random.default_rng(0)
    x, lengths, h0, c0 = _inputs(rng, 6, 30, 16, 8, np.float32)
    w = hard_weights(*_raw(rng, 16, 4, 8, np.float32))
    with use_backend("numba"):
        a = skim_hard_forward(x, lengths, h0, c0, w)
    with use_backend("numpy"):
        b = skim_hard_forward(x, lengths, h0, c0, w)
    assert 0 < a[2].sum() < lengths.sum()  # both decisions occur
    # float32 rounding moves p by ~1e-7; this input has no decision near enough to flip
    assert _decision_margin(b[3], lengths, 0.5) > 1e-4
    np.testing.assert_array_equal(a[2], b[2])
    np.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-5)


def test_batched_rows_equal_batch_one_rows():
    """Grouping rows by decision changes nothing about any row's result."""
    rng = np.random.default_rng(1)
    x, lengths, h0, c0 = _inputs(rng, 7, 9, 6, 3, np.float64)
    w = hard_weights(*_raw(rng, 6, 2, 3, np.float64))
    h, c, skims, p = skim_hard_forward(x, lengths, h0, c0, w)
    # a group of rows and a single row may round differently (other matmul shapes): the
    # decisions can only be expected to agree away from a tie, which this input keeps
    assert _decision_margin(p, lengths, 0.5) > 1e-9
    for b in range(7):
        hb, cb, sb, pb = skim_hard_forward(x[b:b + 1], lengths[b:b + 1], h0[b:b + 1],
                                           c0[b:b + 1], w)
        np.testing.assert_allclose(hb[0], h[b], rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(sb[0], skims[b])


def test_threshold_one_reads_everything_and_is_the_big_lstm():
    rng = np.random.default_rng(2)
    raw = _raw(rng, 5, 2, 3, np.float64)
    x, _, h0, c0 = _inputs(rng, 3, 6, 5, 3, np.float64)
    h, c, skims, _ = skim_hard_forward(x, np.full(3, 6), h0, c0, hard_weights(*raw), 1.0)
    assert not skims.any()
    _, h_ref, c_ref, _ = lstm_forward(x, h0, c0, *raw[:3])
    np.testing.assert_allclose(h, h_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c, c_ref, rtol=1e-12, atol=1e-14)


def test_threshold_zero_skims_everything_and_keeps_the_tail_of_the_state():
    rng = np.random.default_rng(3)
    x, _, h0, c0 = _inputs(rng, 2, 8, 6, 3, np.float64)
    h, c, skims, _ = skim_hard_forward(x, np.full(2, 8), h0, c0,
                                       hard_weights(*_raw(rng, 6, 2, 3, np.float64)), 0.0)
    assert skims.all()
    np.testing.assert_array_equal(h[:, 2:], h0[:, 2:])
    np.testing.assert_array_equal(c[:, 2:], c0[:, 2:])
    assert (h[:, :2] != h0[:, :2]).all()


def test_padding_steps_change_nothing():
    rng = np.random.default_rng(4)
    x, _, h0, c0 = _inputs(rng, 1, 7, 4, 3, np.float64)
    w = hard_weights(*_raw(rng, 4, 2, 3, np.float64))
    full = skim_hard_forward(x[:, :4], np.array([4]), h0, c0, w)
    padded = skim_hard_forward(x, np.array([4]), h0, c0, w)
    np.testing.assert_array_equal(padded[0], full[0])
    assert not padded[2][0, 4:].any() and (padded[3][0, 4:] == 0).all()


def test_threshold_cut_is_the_logit():
    assert threshold_cut(0.5) == 0.0
    assert threshold_cut(0.0) == -np.inf and threshold_cut(1.0) == np.inf
    np.testing.assert_allclose(1 / (1 + np.exp(-threshold_cut(0.8))), 0.8)


def test_hard_forward_errors_name_the_argument():
    rng = np.random.default_rng(5)
    w = hard_weights(*_raw(rng, 4, 2, 3, np.float32))
    x, lengths, h0, c0 = _inputs(rng, 2, 3, 4, 3, np.float32)
    with pytest.raises(TypeError, match="skim_hard_forward: weights must come from hard_weights"):
        skim_hard_forward(x, lengths, h0, c0, tuple(w))
    with pytest.raises(TypeError, match="skim_hard_forward: x must have the weights' dtype"):
        skim_hard_forward(x.astype(np.float64), lengths, h0, c0, w)
    with pytest.raises(ValueError, match=r"skim_hard_forward: lengths must be in \[0, T\]"):
        skim_hard_forward(x, np.array([4, 1]), h0, c0, w)
    with pytest.raises(ValueError, match="skim_hard_forward: threshold"):
        skim_hard_forward(x, lengths, h0, c0, w, 1.5)
    raw = _raw(rng, 4, 2, 3, np.float32)
    raw[4] = raw[4][:, :3]
    with pytest.raises(ValueError, match=r"hard_weights: w_hh_small must have shape \(8, 4\)"):
        hard_weights(*raw)


# ---- soft recurrence: kernel against twin ----------------------------------------------------

def _soft_case(rng, B, T, d, ds, dx, dtype, force):
    G = 4 * (d + ds) + 2
    xz = (rng.standard_normal((B, T, G)) * 0.8).astype(dtype)
    w_all = (rng.standard_normal((G, d)) * 0.5).astype(dtype)
    h0, c0 = (rng.standard_normal((2, B, d)) * 0.5).astype(dtype)
    noise = rng.gumbel(size=(B, T, 2)).astype(dtype)
    pad = (rng.random((B, T)) < 0.8).astype(dtype)
    f = rng.integers(0, 2, (B, T)) if force else None
    return xz, h0, c0, w_all, noise, pad, f


@settings(derandomize=True, deadline=None, max_examples=15)
@given(B=st.integers(1, 5), T=st.integers(1, 5), d=st.integers(1, 6), dx=st.integers(1, 3),
       mode=st.sampled_from(["soft", "hard", "force"]), seed=st.integers(0, 1000))
def test_soft_kernels_match_numpy_twins(B, T, d, dx, mode, seed):
    rng = np.random.default_rng(seed)
    ds = int(rng.integers(1, d + 1))
    xz, h0, c0, w_all, noise, pad, f = _soft_case(rng, B, T, d, ds, dx, np.float64,
                                                  mode == "force")
    dout = rng.standard_normal((B, T + 1, 2 * d + 4))
    results = []
    for backend in ("numba", "numpy"):
        with use_backend(backend):
            out, saved = skim_soft_forward(xz, h0, c0, w_all, ds, noise, pad, 0.7,
                                           mode == "hard", f)
            results.append((out, *skim_soft_backward(saved, w_all, dout)))
    if mode == "hard":  # argmax(log p + noise): kernel and twin agree only away from ties
        logp = results[1][0][:, 1:, 2 * d:2 * d + 2]
        gap = np.abs(np.diff(logp + noise, axis=-1))[..., 0]
        assume(gap.min(initial=np.inf) > 1e-9)
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_wide_order_interleaves_the_gate_blocks():
    order = wide_order(3, 1)
    # i_big (0..2), i_small (12), f_big (3..5), f_small (13), ..., then the logits (16, 17)
    assert order.tolist() == [0, 1, 2, 12, 3, 4, 5, 13, 6, 7, 8, 14, 9, 10, 11, 15, 16, 17]
