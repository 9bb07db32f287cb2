"""P-C0.3 (every engine equals batch size 1 and the offline reference), the layer-evaluation
counts of spec C.9, the compiled batch-1 loop, the Transformer runner with padding masks."""

import numpy as np
import pytest

from tinydyn.dynamic.early_exit import (
    ENGINES,
    EntropyPolicy,
    LearnedPolicy,
    MaxProbPolicy,
    MultiExitTransformer,
    PatiencePolicy,
    exit_decisions,
    run_batch1,
    run_engine,
    run_refill,
)
from tinydyn.dynamic.early_exit.kernels import NEVER, mlp_exit_batch1
from tinydyn.kernels.backend import use_backend


def _policies(model):
    return [EntropyPolicy(1.0), EntropyPolicy(0.6, normalized=True), MaxProbPolicy(0.6),
            PatiencePolicy(2), LearnedPolicy.from_model(model, 0.5)]


@pytest.mark.parametrize("batch_size", [1, 7, 32])
def test_engines_equal_batch1_and_count_layer_evaluations(mlp64, stack, batch_size):
    x, logits, feats = stack
    runner = mlp64.runner()
    for policy in _policies(mlp64):
        exits, preds = exit_decisions(logits, policy, feats)
        ref = run_batch1(runner, policy, x)
        np.testing.assert_array_equal(ref.exit_layers, exits)
        np.testing.assert_array_equal(ref.predictions, preds)
        for name in ENGINES:
            res = run_engine(name, runner, policy, x, batch_size=batch_size)
            np.testing.assert_array_equal(res.exit_layers, ref.exit_layers, err_msg=name)
            np.testing.assert_array_equal(res.predictions, ref.predictions, err_msg=name)
            np.testing.assert_allclose(res.logits, ref.logits, rtol=1e-10, atol=1e-12)
            if name == "wait-for-all":
                worst = [exits[a:a + batch_size].max() * len(exits[a:a + batch_size])
                         for a in range(0, len(exits), batch_size)]
                assert res.layer_evals == sum(worst) >= exits.sum()
            else:
                assert res.layer_evals == exits.sum() == res.head_evals


def test_refill_runs_each_sample_through_exactly_its_exit_layers(mlp64, stack):
    """Spy on the runner: every (sample, layer) pair is evaluated once, in order 1..l_n."""
    x, logits, feats = stack
    runner = mlp64.runner()
    seen = []

    class Spy:
        num_layers = runner.num_layers

        def embed(self, xs, mask=None):
            st = runner.embed(xs, mask)
            st["id"] = np.array([np.flatnonzero((x == row).all(1))[0] for row in xs])
            return st

        def layer(self, i, st):
            seen.extend((int(s), i) for s in st["id"])
            return {**runner.layer(i, st), "id": st["id"]}

        def head(self, i, st):
            return runner.head(i, st)

    policy = PatiencePolicy(2)
    res = run_refill(Spy(), policy, x, batch_size=5)
    for s in range(len(x)):
        assert [i for t, i in seen if t == s] == list(range(res.exit_layers[s]))


def test_compiled_batch1_loop_equals_the_engines(mlp64, stack):
    x, logits, feats = stack
    r = mlp64.runner()
    for policy in _policies(mlp64):
        thr, temps, w, b = policy.params(r.num_layers)
        preds, exits, z = mlp_exit_batch1(x, r.stem_w, r.stem_b, r.w1, r.b1, r.w2, r.b2,
                                          r.head_w, r.head_b, policy.code, thr, temps, w, b)
        ref = run_batch1(r, policy, x)
        np.testing.assert_array_equal(exits, ref.exit_layers)
        np.testing.assert_array_equal(preds, ref.predictions)
        np.testing.assert_allclose(z, ref.logits, rtol=1e-9, atol=1e-12)
    preds, exits, z = mlp_exit_batch1(x, r.stem_w, r.stem_b, r.w1, r.b1, r.w2, r.b2,
                                      r.head_w, r.head_b, NEVER, 0.0, np.ones(8), np.zeros(1), 0.0)
    assert (exits == 8).all()
    np.testing.assert_allclose(z, logits[-1], rtol=1e-9, atol=1e-12)


def test_runner_numba_and_numpy_twins_agree(mlp64, stack):
    x = stack[0]
    r = mlp64.runner()
    st = r.embed(x)
    with use_backend("numpy"):
        st_np = r.embed(x)
        for i in range(3):
            st_np = r.layer(i, st_np)
        z_np = r.head(2, st_np)[0]
    for i in range(3):
        st = r.layer(i, st)
    np.testing.assert_allclose(r.head(2, st)[0], z_np, rtol=1e-10, atol=1e-12)


def test_transformer_engines_gather_masks_with_rows():
    rng = np.random.default_rng(3)
    model = MultiExitTransformer(5, 3, max_len=6, d_model=8, nhead=2, dim_feedforward=16,
                                 num_layers=4, rng=rng, dtype=np.float64)
    x = 2 * rng.standard_normal((23, 6, 5))
    mask = np.zeros((23, 6), bool)
    for n, length in enumerate(rng.integers(2, 7, size=23)):
        mask[n, length:] = True
    logits = np.stack([z.data for z in model(x, mask)])
    feats = np.stack([h.data for h in model.hidden(x, mask)])
    runner = model.runner()
    for policy in (EntropyPolicy(1.0), PatiencePolicy(1)):
        exits, preds = exit_decisions(logits, policy, feats)
        assert 1 < len(set(exits.tolist()))
        for name in ENGINES:
            res = run_engine(name, runner, policy, x, batch_size=6, key_padding_mask=mask)
            np.testing.assert_array_equal(res.exit_layers, exits, err_msg=name)
            np.testing.assert_array_equal(res.predictions, preds, err_msg=name)


def test_engines_reject_bad_input(mlp64, stack):
    x = stack[0]
    r = mlp64.runner()
    with pytest.raises(TypeError, match="run_compaction: runner"):
        run_engine("compaction", object(), EntropyPolicy(0.1), x)
    with pytest.raises(TypeError, match="policy"):
        run_engine("refill", r, 0.5, x)
    res = run_engine("refill", mlp64, EntropyPolicy(0.5), x)  # a model stands for its runner
    np.testing.assert_array_equal(res.exit_layers, run_batch1(r, EntropyPolicy(0.5), x)
                                  .exit_layers)
    with pytest.raises(ValueError, match="batch_size"):
        run_engine("refill", r, EntropyPolicy(0.1), x, batch_size=0)
    with pytest.raises(ValueError, match="run_engine: name"):
        run_engine("fastest", r, EntropyPolicy(0.1), x)

    class NoHeads:
        num_layers = 0
        embed = layer = head = None
    with pytest.raises(ValueError, match="no exit heads"):
        run_batch1(NoHeads(), EntropyPolicy(0.1), x)


def test_right_tool_mixing_model_runs_in_every_engine():
    from tinydyn.dynamic.early_exit import MultiExitMLP
    from tinydyn.dynamic.early_exit.cost import exit_flops, head_flops, layer_flops

    rng = np.random.default_rng(4)
    model = MultiExitMLP(12, 3, width=8, depth=4, mix_layers=True, rng=rng, dtype=np.float64)
    x = 3 * rng.standard_normal((30, 12))
    logits = np.stack([z.data for z in model(x)])
    feats = np.stack([h.data for h in model.hidden(x)])
    for policy in (EntropyPolicy(0.9), PatiencePolicy(1), LearnedPolicy.from_model(model, 0.5)):
        exits, preds = exit_decisions(logits, policy, feats)
        for name in ENGINES:
            res = run_engine(name, model, policy, x, batch_size=7)
            np.testing.assert_array_equal(res.exit_layers, exits, err_msg=name)
            np.testing.assert_allclose(res.logits, logits[exits - 1, np.arange(30)],
                                       rtol=1e-10, atol=1e-12)
    # exit i mixes i + 1 states of width 8: 2 (i + 1) 8 FLOPs on top of a plain exit
    plain = layer_flops(model) + head_flops(model)
    f = exit_flops(model, np.array([1, 2]))
    assert f[1] - f[0] == plain + 2 * 3 * 8
