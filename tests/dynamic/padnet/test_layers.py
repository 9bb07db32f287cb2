"""PadDynamicConv2d: properties P-D.1 to P-D.3 and P-D.7 (first half) of the spec, gradients."""

import numpy as np
import pytest

from tinydyn import Tensor, grad_check
from tinydyn.autograd import ops_conv
from tinydyn.dynamic.dyconv import DynamicConv2d
from tinydyn.dynamic.padnet import PadDynamicConv2d, pad_dyconv_net, to_pad

F64 = np.float64


def _x(shape, seed=0):
    return Tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def _pad(c=3, o=4, k=3, **kw):
    kw.setdefault("padding", 1)
    return PadDynamicConv2d(c, o, 3, num_kernels=k, rng=np.random.default_rng(1), dtype=F64,
                            **kw)


def _random_mask(layer, kappa=0.4, seed=0):
    return (np.random.default_rng(seed).random(layer.mask_shape) < kappa).astype(F64)


def test_all_dynamic_with_unit_scale_equals_the_fully_dynamic_layer():
    dy = DynamicConv2d(3, 4, 3, num_kernels=3, padding=1, rng=np.random.default_rng(2),
                       dtype=F64)
    pad = PadDynamicConv2d.from_dynamic(dy, rng=np.random.default_rng(5))
    x = _x((5, 3, 6, 6))
    assert pad.dynamic_ratio == 1.0 and pad.scale_values() == (1.0, 1.0)
    np.testing.assert_array_equal(pad(x).data, dy(x).data)


def test_all_static_with_unit_scale_is_a_static_convolution_plus_the_dynamic_bias():
    x = _x((4, 3, 6, 6))
    pad = _pad(bias=False)
    pad.set_mask(np.zeros(pad.mask_shape))
    static = ops_conv.conv2d(x, Tensor(pad.static_weight.data), None, 1, 1, 1).data
    np.testing.assert_allclose(pad(x).data, static, rtol=1e-12, atol=1e-12)
    with_bias = _pad(bias=True)
    with_bias.set_mask(np.zeros(with_bias.mask_shape))
    out = with_bias(x).data
    bias = with_bias.last_weights @ with_bias.bias.data                       # (N, O)
    static = ops_conv.conv2d(x, Tensor(with_bias.static_weight.data), None, 1, 1, 1).data
    np.testing.assert_allclose(out, static + bias[:, :, None, None], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("phi", [-7.0, -0.3, 0.0, 0.8, 12.0])
def test_the_scale_factors_sum_to_two_and_are_one_at_phi_zero(phi):
    pad = _pad()
    pad.phi.data[...] = phi
    lam_d, lam_s = pad.scale_values()
    assert lam_d + lam_s == pytest.approx(2.0, abs=1e-12)
    assert 0.0 < lam_d < 2.0 and lam_d == pytest.approx(2.0 / (1.0 + np.exp(-phi)))
    if phi == 0.0:
        assert lam_d == lam_s == 1.0


def test_the_scale_ablation_modes_fix_the_other_side_at_one():
    for mode, expect in (("dynamic", (2 / (1 + np.exp(-0.5)), 1.0)),
                         ("static", (1.0, 2 / (1 + np.exp(-0.5)))), ("none", (1.0, 1.0))):
        pad = _pad(scale_mode=mode)
        pad.phi.data[...] = 0.5
        np.testing.assert_allclose(pad.scale_values(), expect, rtol=1e-12)
    with pytest.raises(ValueError, match="scale_mode"):
        _pad(scale_mode="half")


def test_the_blend_follows_the_formula_entry_by_entry():
    pad = _pad()
    mask = _random_mask(pad)
    pad.set_mask(mask)
    pad.phi.data[...] = 0.4
    x = _x((3, 3, 5, 5))
    pad(x)
    pi = pad.last_weights
    lam_d, lam_s = pad.scale_values()
    mixed = np.einsum("nk,k...->n...", pi, pad.weight.data)
    kernel = lam_d * mask * mixed + lam_s * (1 - mask) * pad.static_weight.data
    expected = np.stack([ops_conv.conv2d(Tensor(x.data[i:i + 1]), Tensor(kernel[i]),
                                         Tensor(pi[i] @ pad.bias.data), 1, 1, 1).data[0]
                         for i in range(3)])
    np.testing.assert_allclose(pad(x).data, expected, rtol=1e-10, atol=1e-12)


def test_gradients_of_every_parameter_and_the_input_match_finite_differences():
    pad = _pad(c=2, o=3, k=2, hidden=3)
    pad.set_mask(_random_mask(pad, 0.5, seed=3))
    pad.phi.data[...] = 0.3
    x = _x((2, 2, 4, 4))
    params = [pad.weight, pad.static_weight, pad.phi, pad.bias, pad.fc1_weight, pad.fc2_weight]
    names = ["weight", "static_weight", "phi", "bias", "fc1_weight", "fc2_weight"]

    def fn(x_, *ps):
        for name, p in zip(names, ps):
            setattr(pad, name, p)
        return pad(x_)

    assert grad_check(fn, x, *params)


def test_the_relaxed_mask_gradient_matches_finite_differences():
    pad = _pad(c=2, o=2, k=2, hidden=2)
    pad.set_mask(_random_mask(pad, 0.5, seed=4))
    pad.phi.data[...] = -0.2
    x = _x((2, 2, 4, 4))

    def fn(m):
        pad._relaxed = m
        return pad(x)

    relaxed = Tensor(pad.mask.reshape(1, -1).copy(), requires_grad=True)
    assert grad_check(fn, relaxed)
    pad.stop_scoring()


def test_dynamic_kernel_entries_at_static_positions_get_exactly_zero_gradient():
    pad = _pad()
    mask = _random_mask(pad, 0.3)
    pad.set_mask(mask)
    pad(_x((4, 3, 6, 6))).sum().backward()
    grad = pad.weight.grad.data
    assert (grad[:, mask == 0] == 0.0).all()
    assert (np.abs(grad[:, mask == 1]) > 0).mean() > 0.9
    static_grad = pad.static_weight.grad.data
    assert (static_grad[mask == 1] == 0.0).all()


def test_the_mask_is_a_buffer_not_a_parameter():
    pad = _pad()
    assert all(p is not pad.mask for p in pad.parameters())
    assert "mask" in dict(pad.named_buffers())
    assert "mask" in pad.state_dict()


def test_lambda_d_is_logged_at_training_forwards_only():
    pad = _pad()
    x = _x((2, 3, 5, 5))
    pad.train()
    pad(x)
    pad(x)
    pad.eval()
    pad(x)
    pad.train()
    pad.start_scoring()       # IMP scoring in train mode is not a training step
    pad(x)
    pad.stop_scoring()
    assert pad.lambda_history == [1.0, 1.0]


def test_to_pad_keeps_the_order_and_the_outputs_of_a_network():
    net = pad_dyconv_net(1, 10, width=3, rng=np.random.default_rng(0), dtype=F64)
    kinds = [type(m).__name__ for m in net.features]
    assert kinds[0] == "PadDynamicConv2d" and kinds[3] == "PadDynamicConv2d"
    assert kinds[-1] == "GlobalAvgPool2d"
    assert to_pad(net) == 0   # already partially dynamic: nothing left to swap


def test_bad_masks_and_modes_are_rejected_with_the_argument_named():
    pad = _pad()
    with pytest.raises(ValueError, match="mask must have shape"):
        pad.set_mask(np.ones((2, 2)))
    with pytest.raises(ValueError, match="only 0"):
        pad.set_mask(np.full(pad.mask_shape, 0.5))
    with pytest.raises(ValueError, match="start_scoring"):
        pad.mask_grad()
    with pytest.raises(TypeError, match="from_dynamic"):
        PadDynamicConv2d.from_dynamic(pad)
    pad.set_attention_mode("batch")
    with pytest.raises(ValueError, match="attention_mode"):
        pad(_x((1, 3, 5, 5)))
