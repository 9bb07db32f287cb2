"""PAD MoE: P-D.1, P-D.2 and P-D.4 (the factorisation) for MoE layers, gradients, IMP on an MoE
network, post-processing of MoE layers, the piecewise task."""

import numpy as np
import pytest

from tinydyn import Tensor, grad_check
from tinydyn.dynamic.moe import NoisyTopKRouter, SwitchRouter
from tinydyn.dynamic.padnet import compress, imp, pad_layers, stored_parameters
from tinydyn.dynamic.padnet.compress import CompressedMoELinear, pad_kernel_parameters
from tinydyn.dynamic.padnet.moe import MoELinear, PadMoELinear
from tinydyn.dynamic.padnet.moe_net import MoENet, moe_loss, piecewise_task

F64 = np.float64


def _layers(d_in=5, d_out=3, e=4, k=2, seed=0):
    rng = np.random.default_rng(seed)
    router = NoisyTopKRouter(d_in, e, k, rng=rng, dtype=F64)
    router.weight.data[...] = rng.standard_normal(router.weight.shape)  # not the zero init
    full = MoELinear(router, d_in, d_out, e, rng=rng, dtype=F64)
    pad = PadMoELinear.from_dynamic(full, rng=np.random.default_rng(seed + 1))
    return full.eval(), pad.eval()


def _x(s=9, d=5, seed=3):
    return Tensor(np.random.default_rng(seed).standard_normal((s, d)), requires_grad=True)


def _per_expert(pad, x):
    """The unfactorised formula: sum_e g_e (x W_e^eff + b_e) with W_e^eff per expert."""
    r = pad.last_routing
    lam_d, lam_s = pad.scale_values()
    m = pad.mask
    y = np.zeros((x.shape[0], pad.d_out))
    for tok, e, g in zip(r.token, r.expert, r.gate.data):
        w = lam_d * m * pad.weight.data[e] + lam_s * (1 - m) * pad.static_weight.data
        y[tok] += g * (x.data[tok] @ w + pad.bias.data[e])
    return y


def test_all_dynamic_with_unit_scale_equals_the_fully_dynamic_moe():
    full, pad = _layers()
    x = _x()
    np.testing.assert_allclose(pad(x).data, full(x).data, rtol=1e-12, atol=1e-12)
    r = full.last_routing
    expected = np.zeros((9, 3))
    for tok, e, g in zip(r.token, r.expert, r.gate.data):
        expected[tok] += g * (x.data[tok] @ full.weight.data[e] + full.bias.data[e])
    np.testing.assert_allclose(full(x).data, expected, rtol=1e-12, atol=1e-12)


def test_all_static_is_the_static_linear_plus_the_gated_expert_biases():
    _, pad = _layers()
    pad.set_mask(np.zeros(pad.mask_shape))
    x = _x()
    out = pad(x).data
    r = pad.last_routing
    bias = np.zeros((9, 3))
    np.add.at(bias, r.token, r.gate.data[:, None] * pad.bias.data[r.expert])
    np.testing.assert_allclose(out, x.data @ pad.static_weight.data + bias, rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize("phi", [0.0, 0.7, -1.3])
def test_the_factorised_static_path_equals_the_per_expert_formula(phi):
    _, pad = _layers(seed=2)
    pad.set_mask((np.random.default_rng(0).random(pad.mask_shape) < 0.4).astype(F64))
    pad.phi.data[...] = phi
    x = _x()
    out = pad(x).data
    gate_sum = np.bincount(pad.last_routing.token, pad.last_routing.gate.data, minlength=9)
    np.testing.assert_allclose(gate_sum, 1.0, rtol=1e-12)       # top-k gates sum to 1
    np.testing.assert_allclose(out, _per_expert(pad, x), rtol=1e-10, atol=1e-12)


def test_the_static_path_is_one_matmul_per_layer_not_one_per_expert():
    from tinydyn.measure.flops import FlopCounter

    _, pad = _layers(d_in=6, d_out=4, e=4, seed=1)
    pad.set_mask(np.zeros(pad.mask_shape))
    x = Tensor(np.random.default_rng(0).standard_normal((10, 6)))
    with FlopCounter() as fc:
        pad(x)
    # router (6x4 matmul) + the static path (6x4) + one matmul per expert that got tokens
    assert fc.by_op["MatMul"] == 2 * 6 * 4 * 10 + 2 * 6 * 4 * 20 + 2 * 6 * 4 * 10


def test_gradients_of_the_pad_moe_layer_match_finite_differences():
    _, pad = _layers(d_in=4, d_out=3, e=3, seed=4)
    pad.set_mask((np.random.default_rng(1).random(pad.mask_shape) < 0.5).astype(F64))
    pad.phi.data[...] = 0.4
    x = _x(6, 4)
    names = ["weight", "static_weight", "phi", "bias"]

    def fn(x_, *ps):
        for name, p in zip(names, ps):
            setattr(pad, name, p)
        return pad(x_)

    assert grad_check(fn, x, *[getattr(pad, n) for n in names])

    def by_mask(m):
        pad._relaxed = m
        return pad(x)

    assert grad_check(by_mask, Tensor(pad.mask.reshape(1, -1).copy(), requires_grad=True))
    pad.stop_scoring()


def test_expert_entries_at_static_positions_get_zero_gradient():
    _, pad = _layers(seed=5)
    mask = (np.random.default_rng(2).random(pad.mask_shape) < 0.3).astype(F64)
    pad.set_mask(mask)
    pad(_x()).sum().backward()
    assert (pad.weight.grad.data[:, mask == 0] == 0).all()


def test_imp_on_an_moe_network_and_the_compressed_network_agree():
    task = piecewise_task(0, sizes=(64, 8, 16))
    net = MoENet(8, 4, d_model=6, d_ff=8, n_experts=4, kind="pad",
                 rng=np.random.default_rng(0), dtype=F64)
    x, y = task.train.fields[0].astype(F64), task.train.fields[1]
    log = imp(net, moe_loss, [(x[:32], y[:32]), (x[32:], y[32:])], 0.5, 3, train_mode=True)
    total = sum(layer.mask.size for layer in pad_layers(net))
    assert log["achieved"][-1] == np.floor(0.5 * total + 0.5) / total
    net.ffn1.phi.data[...] = 0.5
    small = compress(net).eval()
    net.eval()
    xt = Tensor(task.test.fields[0].astype(F64))
    np.testing.assert_allclose(small(xt).data, net(xt).data, rtol=1e-12, atol=1e-12)
    assert isinstance(small.ffn1, CompressedMoELinear)
    layers = pad_layers(net)
    formula = sum(pad_kernel_parameters(layer.mask.size, 4, layer.dynamic_ratio)
                  for layer in layers)
    unpartitioned = net.num_parameters() - sum(
        layer.weight.data.size + layer.static_weight.data.size + 1 for layer in layers)
    assert stored_parameters(small)["values"] == pytest.approx(formula + unpartitioned)


def test_the_piecewise_task_is_seeded_and_balanced_enough():
    a, b = piecewise_task(3), piecewise_task(3)
    np.testing.assert_array_equal(a.train.fields[0], b.train.fields[0])
    counts = np.bincount(a.train.fields[1], minlength=4)
    assert counts.min() > 0.1 * counts.sum()


def test_bad_routers_and_inputs_are_rejected():
    with pytest.raises(ValueError, match="router must have d_model=5"):
        MoELinear(SwitchRouter(4, 3), 5, 2, 3)
    with pytest.raises(TypeError, match="router must be a Router"):
        MoELinear("switch", 5, 2, 3)
    _, pad = _layers()
    with pytest.raises(ValueError, match="x must be a Tensor of shape"):
        pad(Tensor(np.zeros((3, 4))))
    with pytest.raises(ValueError, match="mask must have shape"):
        pad.set_mask(np.ones((3, 5)))


def test_gradients_of_the_fully_dynamic_moe_linear_match_finite_differences():
    full, _ = _layers(d_in=4, d_out=3, e=3, seed=6)
    x = _x(5, 4)

    def fn(x_, w, b):
        full.weight, full.bias = w, b
        return full(x_)

    assert grad_check(fn, x, full.weight, full.bias)
