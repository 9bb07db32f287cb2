"""MoELayer: groups (P-A0.6), batched input, capacity per group, the auxiliary loss, errors."""

import numpy as np
import pytest

from tinydyn import Tensor, grad_check
from tinydyn.dynamic.moe import (
    MoELayer,
    NoisyTopKRouter,
    SwitchRouter,
    aux_loss_of,
    reference_moe_loop,
)
from tinydyn.nn import Module

F64 = np.float64


def _layer(router_cls=SwitchRouter, e=4, d=6, f=5, **kw):
    router = router_cls(d, e, rng=np.random.default_rng(0), dtype=F64)
    return MoELayer(router, d, f, e, rng=np.random.default_rng(1), dtype=F64, **kw)


def _x(shape, seed=0):
    return Tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


@pytest.mark.parametrize("form", ["dropless", "slots"])
def test_permuting_groups_permutes_outputs(form):
    """P-A0.6: groups are routed (and capacity-limited) independently."""
    layer = _layer(capacity_factor=1.0, group_size=8, form=form)
    x = _x((32, 6))
    y = layer(x).data
    perm = np.array([2, 0, 3, 1])
    xp = Tensor(x.data.reshape(4, 8, 6)[perm].reshape(32, 6))
    yp = layer(xp).data
    np.testing.assert_allclose(yp, y.reshape(4, 8, 6)[perm].reshape(32, 6), rtol=1e-12)


def test_groups_equal_separate_calls_and_capacity_is_per_group():
    layer = _layer(capacity_factor=1.0, group_size=8)
    x = _x((16, 6))
    y = layer(x).data
    r = layer.last_routing
    assert r.info["group_capacity"] == 2 and r.capacity == 4 and r.info["groups"] == 2
    parts = [layer(Tensor(x.data[i:i + 8])).data for i in (0, 8)]
    np.testing.assert_allclose(y, np.concatenate(parts), rtol=1e-12)


def test_batched_input_is_flattened_and_restored():
    layer = _layer()
    x = _x((3, 5, 6))
    y = layer(x)
    assert y.shape == (3, 5, 6)
    flat = layer(Tensor(x.data.reshape(15, 6))).data
    np.testing.assert_allclose(y.data.reshape(15, 6), flat, rtol=1e-12)
    r = layer.last_routing
    np.testing.assert_allclose(flat, reference_moe_loop(x.data.reshape(15, 6), r,
                                                        layer.w1.data, layer.b1.data,
                                                        layer.w2.data, layer.b2.data))


def test_layer_gradient_through_router_and_experts():
    layer = MoELayer(
        SwitchRouter(6, 4, k=2, rng=np.random.default_rng(0), dtype=F64), 6, 5, 4,
        capacity_factor=1.0, group_size=5, rng=np.random.default_rng(1), dtype=F64)
    x = _x((10, 6))

    def fn(x, w_r, w1):
        layer.router.weight, layer.w1 = w_r, w1
        return layer(x) + layer.aux_loss * 10.0

    from tinydyn.nn.module import Parameter
    assert grad_check(fn, x, Parameter(layer.router.weight.data), Parameter(layer.w1.data))


def test_aux_loss_of_sums_the_layers_losses():
    class Two(Module):
        def __init__(self):
            super().__init__()
            self.a = _layer()
            self.b = _layer(NoisyTopKRouter)

        def forward(self, x):
            return self.b(self.a(x))

    model = Two()
    model(_x((8, 6)))
    total = aux_loss_of(model)
    assert float(total.data) == pytest.approx(float(model.a.aux_loss.data)
                                              + float(model.b.aux_loss.data))
    assert aux_loss_of(Module()) is None


def test_bad_layer_inputs_raise_naming_the_argument():
    with pytest.raises(ValueError, match=r"MoELayer: the number of tokens \(10\) must be "
                                         r"divisible by group_size \(4\)"):
        _layer(group_size=4)(_x((10, 6)))
    with pytest.raises(ValueError, match="MoELayer: capacity_factor must be > 0"):
        _layer(capacity_factor=0.0)
    with pytest.raises(ValueError, match="MoELayer: router must have d_model=7"):
        MoELayer(SwitchRouter(6, 4), 7, 5, 4)
    with pytest.raises(ValueError, match=r"MoELayer: x must have shape \(S, 6\)"):
        _layer()(_x((4, 5)))
    with pytest.raises(TypeError, match="MoELayer: x must have the layer's dtype"):
        _layer()(Tensor(np.zeros((4, 6), dtype=np.float32)))
    with pytest.raises(TypeError, match="MoELayer: token_ids must be an integer ndarray"):
        _layer()(_x((4, 6)), token_ids=np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="MoELayer: form must be one of"):
        _layer(form="padded")
