import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinydyn as td
from tinydyn.dynamic.skimming.vcrnn import (
    VCRNN,
    VCRNNClassifier,
    rnn_step_flops,
    scheduler_flops,
    vcrnn,
    vcrnn_flops,
    vcrnn_penalty,
)
from tinydyn.measure import FlopCounter, linear_flops


def _params(rng, d, dx, dtype=np.float64, grad=False):
    shapes = {"w_ih": (d, dx), "w_hh": (d, d), "bias": (d,), "u": (d,), "v": (dx,),
              "b_s": (1,)}
    scale = {"w_hh": 1 / np.sqrt(d), "w_ih": 1 / np.sqrt(dx)}
    return {k: td.Tensor(rng.standard_normal(s) * scale.get(k, 0.5), dtype=dtype,
                         requires_grad=grad) for k, s in shapes.items()}


def _x(rng, B, T, dx, dtype=np.float64, grad=False):
    return td.Tensor(rng.standard_normal((B, T, dx)), dtype=dtype, requires_grad=grad)


def _run(x, p, **kw):
    return vcrnn(x, None, p["w_ih"], p["w_hh"], p["bias"], p["u"], p["v"], p["b_s"], **kw)


# ---- spec property 1: pinned at m = 1 it is a plain RNN ------------------------------------

def test_pinned_at_one_equals_a_plain_rnn():
    rng = np.random.default_rng(0)
    x, p = _x(rng, 2, 5, 3), _params(rng, 6, 3)
    hs, h_T, ms = _run(x, p, pin=1.0, lam=20.0, eps=0.01)
    h = np.zeros((2, 6))
    for t in range(5):
        h = np.tanh(h @ p["w_hh"].data.T + x.data[:, t] @ p["w_ih"].data.T + p["bias"].data)
        np.testing.assert_allclose(hs.data[:, t], h, rtol=1e-12)
    np.testing.assert_allclose(h_T.data, h, rtol=1e-12)
    assert (ms.data == 1).all()


# ---- spec property 2: pinned at m = 0 the state never changes -------------------------------

def test_pinned_at_zero_never_changes_the_state():
    rng = np.random.default_rng(1)
    x, p = _x(rng, 2, 6, 3), _params(rng, 5, 3)
    h0 = td.Tensor(rng.standard_normal((2, 5)))
    hs, h_T, _ = vcrnn(x, h0, p["w_ih"], p["w_hh"], p["bias"], p["u"], p["v"], p["b_s"],
                       pin=0.0, lam=20.0, eps=0.01)
    np.testing.assert_array_equal(h_T.data, h0.data)
    np.testing.assert_array_equal(hs.data, np.broadcast_to(h0.data[:, None], hs.shape))


# ---- spec property 3: mask monotone, sums to about m d ----------------------------------

@settings(derandomize=True, deadline=None, max_examples=25)
@given(d=st.integers(2, 40), lam=st.floats(0.5, 50.0), seed=st.integers(0, 99))
def test_mask_is_monotone_and_sums_to_about_m_d(d, lam, seed):
    layer = VCRNN(3, d, sharpness=lam, eps=0.0, rng=np.random.default_rng(seed),
                  dtype=np.float64)
    m = np.random.default_rng(seed).uniform(0, 1, size=50)
    e = layer.masks(m)
    assert (np.diff(e, axis=1) <= 0).all()
    # away from the ends of the hidden state the sigmoids' tails cancel, and the sum is a
    # smoothed staircase: m d itself for a soft mask, m d rounded for a sharp one
    inside = (m * d > 5 / lam + 0.5) & (m * d < d - 5 / lam - 0.5)
    np.testing.assert_allclose(e.sum(1)[inside], (m * d)[inside], atol=0.5 + 1e-6)


def test_thresholded_mask_entries_are_exactly_zero_or_one_outside_the_boundary():
    layer = VCRNN(3, 16, sharpness=2.0, eps=0.05, dtype=np.float64)
    e = layer.masks(np.array([0.5]))
    frac = e[(e > 0) & (e < 1)]
    assert frac.size > 0 and ((frac >= 0.05) & (frac <= 0.95)).all()
    assert e[0, 0] == 1 and e[0, -1] == 0


# ---- spec property 4: hard inference == soft module with a saturated mask -------------------

def test_hard_inference_equals_soft_module_when_the_mask_is_saturated():
    rng = np.random.default_rng(2)
    model = VCRNNClassifier(20, 3, embed_dim=4, hidden_size=8, sharpness=1e6, eps=0.01,
                            rng=rng, dtype=np.float64)
    tokens = rng.integers(1, 20, size=(4, 9))
    lengths = np.array([9, 5, 1, 7])
    mask = np.arange(9)[None] < lengths[:, None]
    logits, ms = model(td.tensor(tokens), td.tensor(mask))
    e = model.rnn.masks(ms.data)
    assert set(np.unique(e)) <= {0.0, 1.0}  # the premise: every decision is saturated
    out = model.infer(tokens, lengths)
    np.testing.assert_allclose(out["logits"], logits.data, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out["ms"], ms.data * mask, rtol=1e-10)
    # ks (kernel) and e (module) round m * d to rows from two computations of m: they agree
    # exactly only away from a row boundary, which this input keeps
    t = out["ms"][mask] * 8 - 0.5  # hidden_size 8
    assert np.abs(t - np.round(t)).min() > 1e-6
    np.testing.assert_array_equal(out["ks"], (e.sum(2) * mask).astype(np.int64))


def test_plain_rnn_classifier_inference_matches_its_soft_forward():
    rng = np.random.default_rng(3)
    model = VCRNNClassifier(20, 2, embed_dim=4, hidden_size=6, pin=1.0, rng=rng,
                            dtype=np.float64)
    model.rnn.sharpness = 50.0
    tokens = rng.integers(1, 20, size=(3, 5))
    lengths = np.array([5, 2, 4])
    logits, _ = model(td.tensor(tokens), td.tensor(np.arange(5)[None] < lengths[:, None]))
    out = model.infer(tokens, lengths)
    np.testing.assert_allclose(out["logits"], logits.data, rtol=1e-10)
    np.testing.assert_array_equal(out["flops"], lengths * rnn_step_flops(4, 6)
                                  + linear_flops(6, 2))


# ---- spec property 5: the penalty moves the mean ratio towards the target ------------------

def test_penalty_moves_mean_ratio_towards_target():
    rng = np.random.default_rng(4)
    model = VCRNNClassifier(12, 2, embed_dim=4, hidden_size=8, sharpness=2.0,
                            scheduler_bias=2.0, rng=rng)
    opt = td.optim.Adam(model.parameters(), lr=0.05)
    tokens = td.tensor(rng.integers(1, 12, size=(8, 10)))
    mask = td.tensor(np.ones((8, 10), bool))
    before = float(model(tokens, mask)[1].data.mean())
    for _ in range(30):
        opt.zero_grad()
        _, ms = model(tokens, mask)
        vcrnn_penalty(ms, mask, 0.2).backward()
        opt.step()
    after = float(model(tokens, mask)[1].data.mean())
    assert before > 0.7 and after < before - 0.3


# ---- FLOPs == hand counts ---------------------------------------------------------------------

def test_flops_match_a_hand_count():
    d, dx = 10, 4
    ks = np.array([[10, 3, 0, 7], [5, 5, 0, 0]])
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], bool)
    sched = 2 * (10 + 4) + 4
    row = 2 * (10 + 4) + 2
    expected = [4 * sched + 20 * row + (2 * 10 * 2 + 2), 2 * sched + 10 * row + 42]
    np.testing.assert_array_equal(vcrnn_flops(ks, dx, d, mask, num_classes=2), expected)
    assert scheduler_flops(dx, d) == sched
    assert rnn_step_flops(dx, d) == 10 * row


def test_inference_reports_its_flops_to_an_active_counter():
    rng = np.random.default_rng(5)
    model = VCRNNClassifier(20, 2, embed_dim=4, hidden_size=8, rng=rng)
    tokens = rng.integers(1, 20, size=(2, 6))
    lengths = np.array([6, 3])
    with FlopCounter() as fc:
        out = model.infer(tokens, lengths)
    mask = np.arange(6)[None] < lengths[:, None]
    assert fc.total == out["flops"].sum() == vcrnn_flops(out["ks"], 4, 8, mask, 2).sum()
    assert fc.by_op["VCRNN"] == fc.total


def test_padding_steps_neither_change_the_state_nor_cost_flops():
    rng = np.random.default_rng(6)
    model = VCRNNClassifier(20, 2, embed_dim=4, hidden_size=8, rng=rng)
    tokens = rng.integers(1, 20, size=(1, 4))
    padded = np.concatenate([tokens, np.zeros((1, 3), np.int64)], axis=1)
    a = model.infer(tokens, np.array([4]))
    b = model.infer(padded, np.array([4]))
    # a longer array may take another BLAS blocking for the input projection: allow rounding
    np.testing.assert_allclose(a["logits"], b["logits"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(a["flops"], b["flops"])


# ---- gradients ------------------------------------------------------------------------------

@settings(derandomize=True, deadline=None, max_examples=8)
@given(B=st.integers(1, 2), T=st.integers(1, 4), d=st.integers(1, 4), dx=st.integers(1, 3),
       seed=st.integers(0, 99))
def test_gradients_of_the_soft_module(B, T, d, dx, seed):
    # eps = 0: no threshold, so no kink anywhere and finite differences are valid
    rng = np.random.default_rng(seed)
    x, p = _x(rng, B, T, dx, grad=True), _params(rng, d, dx, grad=True)
    mask = np.ones((B, T), bool)
    mask[0, -1] = T == 1  # one padding step when there is room
    names = list(p)

    def f(x, *w):
        hs, h_T, ms = vcrnn(x, None, *w, mask=mask, lam=1.5, eps=0.0)
        return td.cat([h_T, ms], dim=1)

    assert td.grad_check(f, x, *[p[k] for k in names])


def test_gradients_with_threshold_away_from_its_kinks():
    rng = np.random.default_rng(7)
    x, p = _x(rng, 2, 3, 2, grad=True), _params(rng, 5, 2, grad=True)
    _, _, ms = _run(x, p, lam=2.0, eps=0.05)
    z = 2.0 * (ms.data[..., None] * 5 - (np.arange(5) + 0.5))
    sig = 1 / (1 + np.exp(-z))
    # the premise: no mask entry within finite-difference reach of the threshold
    assert (np.minimum(np.abs(sig - 0.05), np.abs(sig - 0.95)) > 1e-3).all()

    def f(x, *w):
        hs, h_T, ms = vcrnn(x, None, *w, lam=2.0, eps=0.05)
        return td.cat([h_T, ms], dim=1)

    assert td.grad_check(f, x, *p.values())


def test_output_keeps_float32():
    rng = np.random.default_rng(8)
    x, p = _x(rng, 1, 2, 3, dtype=np.float32), _params(rng, 4, 3, dtype=np.float32)
    hs, h_T, ms = _run(x, p)
    assert hs.dtype == h_T.dtype == ms.dtype == np.float32


# ---- errors ----------------------------------------------------------------------------------

def test_vcrnn_rejects_a_2d_input():
    rng = np.random.default_rng(9)
    p = _params(rng, 4, 3)
    with pytest.raises(ValueError, match=r"vcrnn: x must be 3-D \(batch, time, input\), got "
                                         r"shape \(2, 3\)"):
        _run(td.Tensor(np.zeros((2, 3))), p)


def test_vcrnn_rejects_a_wrong_scheduler_shape():
    rng = np.random.default_rng(10)
    p = _params(rng, 4, 3)
    p["u"] = td.Tensor(np.zeros(3))
    with pytest.raises(ValueError, match=r"vcrnn: u must have shape \(4,\), got \(3,\)"):
        _run(_x(rng, 1, 2, 3), p)


def test_vcrnn_rejects_a_pin_outside_the_unit_interval():
    rng = np.random.default_rng(11)
    with pytest.raises(ValueError, match=r"vcrnn: pin must be <= 1.0, got 1.5"):
        _run(_x(rng, 1, 2, 3), _params(rng, 4, 3), pin=1.5)


def test_vcrnn_rejects_an_eps_of_one_half():
    rng = np.random.default_rng(12)
    with pytest.raises(ValueError, match=r"vcrnn: eps must be in \[0, 0.5\), got 0.5"):
        _run(_x(rng, 1, 2, 3), _params(rng, 4, 3), eps=0.5)


def test_penalty_rejects_a_target_above_one():
    with pytest.raises(ValueError, match=r"vcrnn_penalty: target must be <= 1.0, got 2.0"):
        vcrnn_penalty(td.Tensor(np.zeros((1, 2))), None, 2.0)


def test_infer_rejects_float_tokens():
    model = VCRNNClassifier(10, 2, embed_dim=2, hidden_size=3)
    with pytest.raises(TypeError, match=r"VCRNNClassifier.infer: tokens must be a \(B, T\) "
                                        r"integer array, got float64"):
        model.infer(np.zeros((1, 2)), np.array([2]))


# ---- the experiment runs end to end (tiny sizes: a smoke test, not a training run) ---------

def test_experiment_reports_every_model_and_ratio():
    from tinydyn.dynamic.skimming.vcrnn_experiment import run_vcrnn_experiment

    r = run_vcrnn_experiment(0, epochs=1, hidden_size=8, embed_dim=4, n_timed=4, repeats=2,
                             task_options=dict(n_train=32, n_val=4, n_test=8, min_len=5,
                                               max_len=12))
    for name in ("vcrnn", "rnn", "lstm"):
        assert {"accuracy", "flops", "time_b1", "time_batched"} <= set(r[name])
    assert r["rnn"]["flops"] > r["vcrnn"]["flops"] > 0
    assert {"flop_speedup", "speedup", "realisation"} <= set(r["vcrnn"]["vs_lstm"])
