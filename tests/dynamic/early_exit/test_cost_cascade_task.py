"""Cost accounting (heads included), the cascade (spec C.6), and the easy_hard task."""

import numpy as np
import pytest

from tinydyn.autograd.tensor import Tensor
from tinydyn.data.tasks import load_task
from tinydyn.dynamic.early_exit import MultiExitMLP, MultiExitTransformer
from tinydyn.dynamic.early_exit.cascade import ranking_loss, run_cascade
from tinydyn.dynamic.early_exit.cost import (
    exit_flops,
    head_flops,
    layer_flops,
    speedups,
    static_flops,
)
from tinydyn.measure.flops import count_flops


def test_layer_cost_matches_the_op_counter():
    model = MultiExitMLP(10, 3, width=16, depth=4, rng=np.random.default_rng(0))
    x = Tensor(np.ones((1, 10), np.float32))
    counted = count_flops(lambda t: model.blocks[0](t), Tensor(np.ones((1, 16), np.float32)))
    assert counted == layer_flops(model)
    # the stem, all blocks and the last head: the static model without the exit test
    static = count_flops(lambda t: model.heads[-1](model.hidden(t)[-1]), x)
    assert static == static_flops(model)


def test_exit_cost_includes_every_head_passed():
    model = MultiExitMLP(10, 3, width=16, depth=4, rng=np.random.default_rng(0))
    flops = exit_flops(model, np.array([1, 4]))
    per = layer_flops(model) + head_flops(model)
    assert flops[1] - flops[0] == 3 * per
    s = speedups(model, np.array([4, 4]))
    assert s["layer"] == 1.0 and s["flop"] < 1.0  # all layers plus the heads: slower
    s = speedups(model, np.array([1, 1]))
    assert s["layer"] == 4.0 and 1.0 < s["flop"] < 4.0
    t = MultiExitTransformer(5, 3, max_len=6, d_model=8, nhead=2, dim_feedforward=16,
                             num_layers=3)
    assert static_flops(t, layers=1) < static_flops(t, layers=3)
    with pytest.raises(ValueError, match="exit_flops: exit_layers"):
        exit_flops(model, np.array([0, 2]))
    with pytest.raises(ValueError, match="static_flops: layers"):
        static_flops(model, layers=5)
    with pytest.raises(TypeError, match="layer_flops: model"):
        layer_flops("mlp")


def test_cascade_threshold_one_runs_everything_on_the_last_model():  # P-C6.1, P-C6.2
    rng = np.random.default_rng(0)
    small = MultiExitMLP(6, 3, width=8, depth=1, rng=rng, dtype=np.float64)
    large = MultiExitMLP(6, 3, width=8, depth=3, rng=rng, dtype=np.float64)
    x = 3 * rng.standard_normal((40, 6))
    res = run_cascade([small.runner(), large.runner()], 1.0, x, [10.0, 100.0])
    np.testing.assert_array_equal(res.predictions, large(x)[-1].data.argmax(1))
    assert (res.stage == 1).all() and (res.flops == 110.0).all()
    res = run_cascade([small.runner(), large.runner()], 0.6, x, [10.0, 100.0])
    first = res.stage == 0
    assert 0 < first.sum() < len(x)
    np.testing.assert_array_equal(res.predictions[first], small(x)[-1].data.argmax(1)[first])
    assert set(res.flops[first]) == {10.0} and set(res.flops[~first]) == {110.0}
    with pytest.raises(ValueError, match="run_cascade: threshold"):
        run_cascade([small.runner(), large.runner()], 1.5, x, [1.0, 2.0])


def test_ranking_loss_is_zero_when_easy_is_confident_enough():  # P-C6.3
    easy, hard = Tensor(np.array([0.9, 0.95])), Tensor(np.array([0.3, 0.4]))
    assert float(ranking_loss(easy, hard, 0.5).data) == 0.0
    assert float(ranking_loss(hard, easy, 0.5).data) == pytest.approx(
        ((0.5 + 0.6) + (0.5 + 0.55)) / 2)


def test_easy_hard_task_is_seeded_and_labelled_by_noise():
    a = load_task("easy_hard", seed=3, n_train=50, n_val=10, n_test=10)
    b = load_task("easy_hard", seed=3, n_train=50, n_val=10, n_test=10)
    np.testing.assert_array_equal(a.train.fields[0], b.train.fields[0])
    assert a.train.fields[0].shape == (50, 8, 8) and a.num_classes == 2
    noise, hard = a.train.meta["noise"], a.train.meta["hard"]
    assert (noise[hard] > noise[~hard].max()).all() and 0 < hard.sum() < 50
    with pytest.raises(ValueError, match="easy_hard: max_noise"):
        load_task("easy_hard", min_noise=2.0, max_noise=1.0)


def test_ranking_loss_gradient_and_training_separates_confidences():
    from tinydyn.autograd.grad_check import grad_check
    from tinydyn.dynamic.early_exit.cascade import difficulty_labels, train_cascade_small
    from tinydyn.dynamic.early_exit.training import all_exit_outputs, train_multi_exit

    rng = np.random.default_rng(0)
    a = Tensor(rng.uniform(0, 1, 6), requires_grad=True)
    b = Tensor(rng.uniform(0, 1, 6), requires_grad=True)
    assert grad_check(lambda u, v: ranking_loss(u, v, 0.5), a, b)
    task = load_task("easy_hard", seed=0, n_train=400, n_val=50, n_test=200, length=2,
                     features=3)
    plain = MultiExitMLP(6, 2, width=8, depth=1, rng=np.random.default_rng(1))
    train_multi_exit(plain, task, "joint", steps=100, batch=32, lr=1e-2,
                     rng=np.random.default_rng(2))
    hard = difficulty_labels(plain, *task.train.fields)
    assert 0 < hard.sum() < len(hard)
    ranked = MultiExitMLP(6, 2, width=8, depth=1, rng=np.random.default_rng(1))
    losses = train_cascade_small(ranked, task, hard, steps=100, batch=32, lr=1e-2,
                                 rng=np.random.default_rng(2))
    assert np.mean(losses[-10:]) < np.mean(losses[:10])

    def gap(model):  # mean top probability, easy minus hard, on the training instances
        z = all_exit_outputs(model, task.train.fields[0])[0][-1]
        p = np.exp(z - z.max(1, keepdims=True))
        conf = p.max(1) / p.sum(1)
        return conf[~hard].mean() - conf[hard].mean()
    assert gap(ranked) > gap(plain)
    with pytest.raises(ValueError, match="train_cascade_small: hard"):
        train_cascade_small(ranked, task, np.zeros(400, bool), steps=1,
                            rng=np.random.default_rng(0))
