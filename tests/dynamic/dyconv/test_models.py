"""The small CNNs and their training recipe."""

import numpy as np
import pytest

from tinydyn import Tensor
from tinydyn.data.tasks import load_task
from tinydyn.dynamic.dyconv.models import DyConvNet, overhead_by_size
from tinydyn.dynamic.dyconv.training import (
    attention_entropy,
    recalibrate_batch_norm,
    train_classifier,
)
from tinydyn.measure.flops import count_flops
from tinydyn.nn.conv import BatchNorm2d


@pytest.mark.parametrize("kind", ["dyconv", "condconv"])
def test_counted_overhead_over_the_static_net_is_the_cost_models_dynamic_part(kind):
    x = Tensor(np.random.default_rng(0).random((3, 1, 8, 8), dtype=np.float32))
    static = DyConvNet(1, 10, width=4, kind="static", rng=np.random.default_rng(0)).eval()
    dynamic = DyConvNet(1, 10, width=4, kind=kind, rng=np.random.default_rng(0)).eval()
    overhead = count_flops(dynamic, x) - count_flops(static, x)
    cost = dynamic.cost((8, 8))
    assert overhead == 3 * cost["dynamic"] and cost["conv"] == static.cost((8, 8))["conv"]


def test_attention_is_one_row_per_sample_per_dynamic_layer():
    model = DyConvNet(1, 3, width=4, depth=3, kind="dyconv", num_kernels=5,
                      rng=np.random.default_rng(0))
    model(Tensor(np.ones((2, 1, 6, 6), np.float32)))
    assert [w.shape for w in model.attention()] == [(2, 5)] * 3
    assert DyConvNet(1, 3, kind="static").attention() == []


def test_entropy_of_uniform_attention_is_log_k_and_of_one_hot_is_zero():
    assert attention_entropy(np.full((3, 4), 0.25)) == pytest.approx(np.log(4))
    assert attention_entropy(np.eye(4)) == pytest.approx(0.0, abs=1e-9)


def test_recalibrated_statistics_are_the_mean_of_the_batch_statistics():
    model = DyConvNet(1, 3, width=2, depth=1, kind="static", rng=np.random.default_rng(0))
    images = np.random.default_rng(1).random((8, 1, 5, 5), dtype=np.float32)
    conv = model.convs()[0]
    bn = [m for m in model.modules() if isinstance(m, BatchNorm2d)][0]
    assert recalibrate_batch_norm(model, images, batch=4) == 1
    outs = [conv(Tensor(images[i:i + 4])).data for i in (0, 4)]
    expected = np.mean([o.mean(axis=(0, 2, 3)) for o in outs], axis=0)
    np.testing.assert_allclose(bn.running_mean, expected, rtol=1e-5)
    assert bn.momentum == 0.1


def test_training_lowers_the_loss_and_anneals_the_temperature():
    task = load_task("oriented_bars", seed=0, n_train=256, n_val=64, n_test=64, size=8,
                     bar_length=3)
    model = DyConvNet(1, 2, width=4, kind="dyconv", rng=np.random.default_rng(0))
    out = train_classifier(model, task, steps=60, batch=32, lr=1e-2, anneal_steps=30,
                           rng=np.random.default_rng(1))
    assert np.mean(out["losses"][-10:]) < np.mean(out["losses"][:10])
    assert model.convs()[0].temperature == 1.0 and len(out["entropy"]) == 60
    assert 0.0 <= out["test_accuracy"] <= 1.0


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="DyConvNet: kind must be one of"):
        DyConvNet(1, 2, kind="dynamic")


def test_the_overhead_shrinks_with_the_map_size_towards_k_over_hw():
    rows = overhead_by_size(sizes=(8, 16, 32))
    overheads = [r["overhead"] for r in rows]
    assert overheads[0] > overheads[1] > overheads[2] > 0
    for r in rows:  # the aggregation over the static net stays below K / (H W)
        assert 0 < r["aggregation_share"] <= r["bound"]
