import numpy as np
import pytest

import tinydyn as td
from tinydyn.data import load_task
from tinydyn.dynamic.skimming.common import train_lstm_baseline
from tinydyn.dynamic.skimming.skim_rnn import (
    SkimLSTM,
    SkimRNNClassifier,
    decision_flops,
    skim_penalty,
    skim_rnn,
    skim_rnn_flops,
    small_cell_flops,
)
from tinydyn.dynamic.skimming.skim_rnn_experiment import sweep_skim_rnn
from tinydyn.measure import FlopCounter, linear_flops, lstm_cell_flops

D, DS, DX = 5, 2, 3


def _params(rng, d=D, ds=DS, dx=DX, grad=False):
    shapes = [(4 * d, dx), (4 * d, d), (4 * d,), (4 * ds, dx), (4 * ds, d), (4 * ds,),
              (2, dx + d), (2,)]
    return [td.Tensor(rng.standard_normal(s) * 0.6, dtype=np.float64, requires_grad=grad)
            for s in shapes]


def _x(rng, B, T, dx=DX, grad=False):
    return td.Tensor(rng.standard_normal((B, T, dx)), dtype=np.float64, requires_grad=grad)


# ---- spec property 1: forced to read, it is the big LSTM -------------------------------------

def test_forced_read_equals_a_plain_lstm_with_the_big_cells_weights():
    rng = np.random.default_rng(0)
    x, p = _x(rng, 3, 6), _params(rng)
    hs, h_T, c_T, _, r = skim_rnn(x, None, None, *p, force=np.zeros((3, 6), int))
    hs_ref, h_ref, c_ref = td.lstm(x, None, None, *p[:3])
    np.testing.assert_allclose(hs.data, hs_ref.data, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c_T.data, c_ref.data, rtol=1e-12, atol=1e-14)
    assert (r.data[..., 0] == 1).all()


# ---- spec property 2: forced to skim, dims d'..d never change ---------------------------------

def test_forced_skim_keeps_the_tail_of_the_state_at_h0():
    rng = np.random.default_rng(1)
    x, p = _x(rng, 2, 7), _params(rng)
    h0, c0 = (td.Tensor(rng.standard_normal((2, D))) for _ in range(2))
    hs, h_T, c_T, _, _ = skim_rnn(x, h0, c0, *p, force=np.ones((2, 7), int))
    np.testing.assert_array_equal(hs.data[:, :, DS:], np.broadcast_to(h0.data[:, None, DS:],
                                                                      (2, 7, D - DS)))
    np.testing.assert_array_equal(c_T.data[:, DS:], c0.data[:, DS:])
    assert (h_T.data[:, :DS] != h0.data[:, :DS]).all()


# ---- spec property 3: hard inference is the soft module with one-hot argmax decisions ----------

def test_hard_inference_equals_the_soft_module_with_argmax_decisions():
    rng = np.random.default_rng(2)
    layer = SkimLSTM(DX, D, DS, rng=rng, dtype=np.float64).eval()
    x = _x(rng, 4, 9)
    lengths = np.array([9, 5, 1, 0])
    mask = np.arange(9)[None] < lengths[:, None]
    _, (h_soft, c_soft), _, r = layer(x, mask=mask)  # eval mode: argmax, no noise
    h, c, skims, p_skim = layer.hard_forward(x.data, lengths)
    assert 0 < skims.sum() < lengths.sum()
    # the module and the kernel compute p(skim) with different float operations: their
    # decisions agree exactly only away from a tie, which this input keeps
    assert np.abs(p_skim[mask] - 0.5).min() > 1e-9
    np.testing.assert_array_equal(skims, (r.data[..., 1] == 1) & mask)
    np.testing.assert_array_equal(skims, (p_skim > 0.5) & mask)
    np.testing.assert_allclose(h, h_soft.data, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c, c_soft.data, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("threshold", [0.2, 0.8])
def test_hard_inference_at_a_threshold_equals_the_module_forced_to_its_decisions(threshold):
    rng = np.random.default_rng(3)
    layer = SkimLSTM(DX, D, DS, rng=rng, dtype=np.float64)
    x = _x(rng, 3, 8)
    h, _, skims, p_skim = layer.hard_forward(x.data, np.full(3, 8), threshold)
    # the kernel compares a score with logit(threshold), the test p with threshold: the same
    # decision in two roundings, so check no p sits near enough the threshold to flip
    assert np.abs(p_skim - threshold).min() > 1e-9
    np.testing.assert_array_equal(skims, p_skim > threshold)
    _, (h_soft, _), _, _ = layer(x, force=skims)
    np.testing.assert_allclose(h, h_soft.data, rtol=1e-12, atol=1e-14)


# ---- spec property 4: FLOPs ------------------------------------------------------------------

def test_flops_formula_equals_a_hand_count():
    dx, d, ds = 32, 64, 8
    lstm_step = 2 * 4 * d * (dx + d) + 13 * d      # gates' products, biases, elementwise
    skim_step = 2 * 4 * ds * (dx + d) + 13 * ds    # the small cell reads [x; h] too
    decision = 2 * 2 * (dx + d) + 2 + 4            # two logits, their bias, softmax, compare
    assert small_cell_flops(dx, d, ds) == skim_step
    assert decision_flops(dx, d) == decision
    skims = np.array([[0, 1, 1, 1, 0], [1, 1, 0, 0, 0]], bool)
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool)
    got = skim_rnn_flops(skims, dx, d, ds, mask, num_classes=3)
    head = 2 * d * 3 + 3
    assert got.tolist() == [2 * lstm_step + 3 * skim_step + 5 * decision + head,
                            1 * lstm_step + 2 * skim_step + 3 * decision + head]
    assert lstm_step == lstm_cell_flops(dx, d) and head == linear_flops(d, 3)


def test_infer_returns_decisions_and_charges_its_flops():
    rng = np.random.default_rng(4)
    model = SkimRNNClassifier(20, 3, embed_dim=4, hidden_size=6, small_size=2, rng=rng)
    tokens = rng.integers(1, 20, (3, 7))
    lengths = np.array([7, 4, 2])
    tokens[1, 4:], tokens[2, 2:] = 0, 0
    with FlopCounter() as counter:
        out = model.infer(tokens, lengths, threshold=0.5)
    mask = np.arange(7)[None] < lengths[:, None]
    assert out["logits"].shape == (3, 3) and out["skims"].dtype == bool
    np.testing.assert_array_equal(out["flops"], model.flops(out["skims"], mask))
    assert counter.total == out["flops"].sum()
    np.testing.assert_allclose(model.predictor(0.5)(tokens[1, :4]), out["logits"][1:2],
                               rtol=1e-5, atol=1e-6)


# ---- spec property 5: straight-through Gumbel ------------------------------------------------

def test_straight_through_gumbel_is_one_hot_and_reaches_the_decision_weights():
    rng = np.random.default_rng(5)
    x, p = _x(rng, 2, 6), _params(rng, grad=True)
    noise = rng.gumbel(size=(2, 6, 2))
    _, h_T, _, _, r = skim_rnn(x, None, None, *p, tau=0.5, hard=True, noise=noise)
    assert set(np.unique(r.data)) <= {0.0, 1.0}
    np.testing.assert_array_equal(r.data.sum(-1), 1)
    h_T.sum().backward()
    assert np.abs(p[6].grad.data).sum() > 0 and np.abs(p[7].grad.data).sum() > 0


# ---- spec property 6: padding ----------------------------------------------------------------

def test_padding_changes_nothing_and_costs_nothing():
    rng = np.random.default_rng(6)
    model = SkimRNNClassifier(20, 2, embed_dim=4, hidden_size=6, small_size=2, rng=rng)
    tokens = rng.integers(1, 20, (1, 5))
    padded = np.concatenate([tokens, np.zeros((1, 4), tokens.dtype)], axis=1)
    a = model.infer(tokens, np.array([5]))
    b = model.infer(padded, np.array([5]))
    # a longer array may take another BLAS blocking for the input projection: allow rounding
    np.testing.assert_allclose(a["logits"], b["logits"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(a["flops"], b["flops"])
    model.eval()
    soft_a = model(td.Tensor(tokens))[0].data
    soft_b = model(td.Tensor(padded), np.arange(9)[None] < 5)[0].data
    np.testing.assert_allclose(soft_a, soft_b, rtol=1e-6)


# ---- gradients -------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["soft", "forced"])
def test_gradients_match_finite_differences(mode):
    rng = np.random.default_rng(7)
    B, T = 2, 4
    x, p = _x(rng, B, T, grad=True), _params(rng, grad=True)
    h0, c0 = (td.Tensor(rng.standard_normal((B, D)) * 0.5, requires_grad=True)
              for _ in range(2))
    mask = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)
    kw = ({"hard": False, "tau": 0.7, "noise": rng.gumbel(size=(B, T, 2))} if mode == "soft"
          else {"force": rng.integers(0, 2, (B, T))})  # decisions frozen: smooth in the rest

    def fn(x, h0, c0, *w):
        hs, h, c, logp, r = skim_rnn(x, h0, c0, *w, mask=mask, **kw)
        return td.cat([hs.reshape((B, -1)), c, logp.reshape((B, -1)), r.reshape((B, -1))], 1)

    assert td.grad_check(fn, x, h0, c0, *p)


def test_skim_penalty_is_mean_negative_log_p_skim_over_real_steps():
    logp = td.Tensor(np.log(np.array([[[0.5, 0.5], [0.9, 0.1]], [[0.2, 0.8], [0.3, 0.7]]])),
                     requires_grad=True)
    mask = np.array([[1, 1], [1, 0]], bool)
    value = skim_penalty(logp, mask)
    np.testing.assert_allclose(value.data, -(np.log(0.5) + np.log(0.1) + np.log(0.8)) / 3)
    value.backward()
    assert (logp.grad.data[..., 1][mask] < 0).all() and logp.grad.data[1, 1, 1] == 0


# ---- errors ----------------------------------------------------------------------------------

def test_errors_name_the_function_and_argument():
    rng = np.random.default_rng(8)
    x, p = _x(rng, 2, 3), _params(rng)
    with pytest.raises(ValueError, match=r"skim_rnn: w_dec must have shape \(2, 8\)"):
        skim_rnn(x, None, None, *p[:6], td.Tensor(np.zeros((2, 7))), p[7])
    with pytest.raises(ValueError, match="skim_rnn: force must hold only 0"):
        skim_rnn(x, None, None, *p, force=np.full((2, 3), 2))
    with pytest.raises(ValueError, match=r"skim_rnn: mask must have shape \(B, T\)"):
        skim_rnn(x, None, None, *p, mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="SkimLSTM: small_size must be <= hidden_size"):
        SkimLSTM(3, 4, 5)
    with pytest.raises(TypeError, match="skim_penalty: logp must be a"):
        skim_penalty(np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="skim_rnn_flops: skims must be a"):
        skim_rnn_flops(np.zeros(3, bool), 3, 4, 2)


# ---- the experiment contract -----------------------------------------------------------------

def test_sweep_returns_one_row_per_threshold_with_the_contract_keys():
    task = load_task("sparse_signal", seed=0, n_train=32, n_val=4, n_test=12, min_len=10,
                     max_len=20)
    baseline = train_lstm_baseline(task, 0, epochs=1, hidden_size=8, embed_dim=4)
    rows = sweep_skim_rnn(task, baseline, quick=True, repeats=1, hidden_size=8,
                          small_size=2, embed_dim=4, epochs=1)
    assert [r["value"] for r in rows] == [0.1, 0.5, 0.9]
    keys = {"method", "knob", "value", "accuracy", "flops", "flops_timed", "time_b1",
            "time_batched", "train_seconds"}
    for row in rows:
        assert keys <= set(row) and row["method"] == "Skim-RNN" and row["knob"] == "threshold"
    assert rows[0]["flops"] <= rows[-1]["flops"]  # a lower threshold skims more
