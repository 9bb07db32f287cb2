"""The MoE Transformer encoder, the classifiers, the cost model against the FLOP counter, the
regions task and the training recipe (a short run)."""

import numpy as np
import pytest

from tinydyn import Tensor
from tinydyn.data.tasks import load_task
from tinydyn.dynamic.moe import MoELayer, SwitchRouter, aux_loss_of
from tinydyn.dynamic.moe.cost import dense_ffn_cost, moe_layer_cost
from tinydyn.dynamic.moe.models import (
    DenseClassifier,
    MoEClassifier,
    MoETransformerEncoder,
    dense_baseline_encoder,
)
from tinydyn.dynamic.moe.training import routing_summary, train_classifier
from tinydyn.measure import FlopCounter, count_flops


def test_moe_encoder_replaces_the_ffn_in_chosen_layers_and_returns_routings():
    model = MoETransformerEncoder(4, 16, 2, 8, 4, router="switch", k=2,
                                  rng=np.random.default_rng(0))
    assert model.moe_layers == (1, 3)
    x = Tensor(np.random.default_rng(1).standard_normal((2, 5, 16)).astype(np.float32),
               requires_grad=True)
    y = model(x)
    assert y.shape == (2, 5, 16)
    routings = model.routings()
    assert len(routings) == 2 and all(r.n_tokens == 10 for r in routings)
    loss = (y * y).sum() + aux_loss_of(model)
    loss.backward()
    moe = model.layers[1].moe
    assert moe.w1.grad is not None and moe.router.weight.grad is not None
    assert not hasattr(model.layers[1], "linear1")
    # the dense layers and the baseline have FFN width k*d_ff
    assert model.layers[0].linear1.weight.shape == (16, 16)
    dense = dense_baseline_encoder(4, 16, 2, 8, k=2, rng=np.random.default_rng(0))
    assert dense(x).shape == (2, 5, 16)


def test_moe_encoder_rejects_bad_layer_indices():
    with pytest.raises(ValueError, match="MoETransformerEncoder: moe_layers must be"):
        MoETransformerEncoder(2, 8, 2, 8, 4, moe_layers=(2,))


@pytest.mark.parametrize("form,cf", [("dropless", None), ("dropless", 1.0), ("slots", 1.25)])
def test_cost_model_equals_the_flop_counter(form, cf):
    router = SwitchRouter(16, 4, k=2, rng=np.random.default_rng(0))
    layer = MoELayer(router, 16, 24, 4, capacity_factor=cf, form=form, group_size=20,
                     rng=np.random.default_rng(1))
    layer.eval()
    x = Tensor(np.random.default_rng(2).standard_normal((40, 16)).astype(np.float32))
    with FlopCounter() as fc:
        layer(x)
    r = layer.last_routing
    cost = moe_layer_cost(layer, 40, r.n_assignments)
    assert fc.by_op["MatMul"] + fc.by_op["Softmax"] == cost["router"]
    assert fc.by_op["MoEFFN"] == cost["experts"] + cost["combine"]
    if cf is None:
        assert cost == moe_layer_cost(layer, 40)     # nothing dropped: N = k*S


def test_dense_baseline_cost_equals_counter_and_matches_active_moe_flops():
    model = DenseClassifier(8, 16, 12, 4, k=2, rng=np.random.default_rng(0))
    block = model.blocks[0]
    x = Tensor(np.zeros((10, 16), dtype=np.float32))
    assert count_flops(block, x) == dense_ffn_cost(16, 24, 10)
    layer = MoELayer(SwitchRouter(16, 4, k=2), 16, 12, 4)
    moe = moe_layer_cost(layer, 10)
    # experts of the MoE = dense FFN of width k*F, up to the k-1 extra output biases
    assert moe["experts"] - dense_ffn_cost(16, 24, 10) == 10 * 16


def test_regions_task_is_seeded_and_labels_follow_each_regions_rule():
    a, b = load_task("regions", seed=3), load_task("regions", seed=3)
    np.testing.assert_array_equal(a.train.fields[0], b.train.fields[0])
    x, y, region = a.test.fields[0], a.test.fields[1], a.test.region
    z = x - a.info["centers"][region]
    expected = np.einsum("ncd,nd->nc", a.info["rules"][region], z).argmax(axis=1)
    np.testing.assert_array_equal(y, expected)
    assert set(np.unique(region)) == set(range(8))


def test_short_training_learns_and_records_load():
    task = load_task("regions", seed=0, n_train=600, n_val=100, n_test=200)
    model = MoEClassifier(8, 16, 8, 4, 4, "switch", k=1, rng=np.random.default_rng(0))
    res = train_classifier(model, task, steps=150, batch=64, lr=1e-2,
                           rng=np.random.default_rng(1))
    assert res["load"].shape == (150, 4)
    np.testing.assert_allclose(res["load"].sum(axis=1), 1.0)
    assert res["test_accuracy"] > 0.4          # chance is 0.25
    summary = routing_summary(model, task.test.fields[0], task.test.region)
    assert summary["counts"].sum() == 200 and summary["dropped_fraction"] == 0.0


def test_encoder_takes_a_router_factory_and_passes_token_ids():
    from tinydyn.dynamic.moe import Router, Routing

    class ById(Router):
        """Token id modulo E, gate 1 (a hash router in miniature)."""

        fn = "ById"

        def forward(self, x, token_ids=None):
            self.check_input(x, token_ids)
            s = x.shape[0]
            return Routing(np.arange(s), token_ids % self.n_experts,
                           Tensor(np.ones(s, dtype=x.dtype)), None, s, self.n_experts)

    model = MoETransformerEncoder(2, 8, 2, 8, 3, router=lambda d, e, rng: ById(d, e),
                                  moe_layers=(0,), rng=np.random.default_rng(0))
    ids = np.array([[4, 1, 2], [0, 5, 3]])
    x = Tensor(np.random.default_rng(2).standard_normal((2, 3, 8)).astype(np.float32))
    model(x, token_ids=ids)
    (routing,) = model.routings()
    np.testing.assert_array_equal(routing.expert, ids.reshape(-1) % 3)
    with pytest.raises(TypeError, match="make_router: the router factory must return a Router"):
        MoETransformerEncoder(2, 8, 2, 8, 3, router=lambda d, e, rng: None)


def test_cost_model_takes_the_routers_own_flops():
    from tinydyn.dynamic.moe import GShardRouter, NoisyTopKRouter

    switch = SwitchRouter(16, 4)
    assert switch.flops(10) == 2 * 10 * 16 * 4 + 5 * 10 * 4
    assert GShardRouter(16, 4).flops(10) == switch.flops(10) + 40
    assert NoisyTopKRouter(16, 4, k=2).flops(10) == 2 * 10 * 16 * 4 + 5 * 10 * 2
    layer = MoELayer(switch, 16, 8, 4)
    layer.router.flops = lambda n: 0          # a router that costs nothing (a hash)
    assert moe_layer_cost(layer, 10)["router"] == 0


def test_encoder_cost_model_equals_the_flop_counter_on_inference_ops():
    from tinydyn.dynamic.moe.cost import moe_encoder_cost

    model = MoETransformerEncoder(3, 16, 2, 8, 4, router="switch", k=2,
                                  rng=np.random.default_rng(0)).eval()
    x = Tensor(np.random.default_rng(1).standard_normal((2, 5, 16)).astype(np.float32))
    with FlopCounter() as fc:
        model(x)
    cost = moe_encoder_cost(model, 5, batch=2)
    # left out of the model: the balancing loss (Mean, Mul, Sum) and the gate read (TakeAlong)
    bookkeeping = sum(fc.by_op[op] for op in ("Mean", "Mul", "Sum", "TakeAlong"))
    assert fc.total - bookkeeping == cost["total"]
    assert cost["per_input"] == cost["total"] / 2 and cost["moe"] > 0 and cost["dense_ffn"] > 0
