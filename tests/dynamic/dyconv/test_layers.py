"""DynamicConv2d and CondConv2d: properties P-B1.1 to P-B1.7 of the spec, and gradients."""

import numpy as np
import pytest

from tinydyn import Tensor, grad_check, no_grad
from tinydyn.autograd import ops_conv
from tinydyn.dynamic.dyconv import CondConv2d, DynamicConv2d

F64 = np.float64


def _x(shape, seed=0):
    return Tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def _dy(c=4, o=6, k=3, **kw):
    kw.setdefault("padding", 1)
    return DynamicConv2d(c, o, 3, num_kernels=k, rng=np.random.default_rng(1), dtype=F64, **kw)


def _static(x, w, b, layer):
    return ops_conv.conv2d(x, Tensor(w), Tensor(b), layer.stride, layer.padding,
                           layer.groups).data


def test_one_kernel_equals_a_static_convolution_at_any_temperature():
    x = _x((3, 4, 7, 7))
    layer = _dy(k=1)
    for tau in (0.1, 1.0, 30.0):
        layer.temperature = tau
        expected = _static(x, layer.weight.data[0], layer.bias.data[0], layer)
        np.testing.assert_allclose(layer(x).data, expected, rtol=1e-12, atol=1e-12)


def test_attention_rows_are_non_negative_and_sum_to_one():
    x = _x((5, 4, 6, 6))
    layer = _dy(k=4)
    layer.temperature = 0.7
    layer(x)
    pi = layer.last_weights
    assert pi.shape == (5, 4) and (pi >= 0).all()
    np.testing.assert_allclose(pi.sum(axis=1), 1.0, rtol=1e-12)


def test_a_huge_temperature_gives_the_mean_kernel():
    x = _x((3, 4, 6, 6))
    layer = _dy(k=4)
    layer.temperature = 1e9
    out = layer(x).data
    np.testing.assert_allclose(layer.last_weights, 0.25, rtol=1e-6)
    expected = _static(x, layer.weight.data.mean(0), layer.bias.data.mean(0), layer)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-8)


def test_a_tiny_temperature_makes_attention_one_hot_on_the_largest_logit():
    x = _x((6, 4, 6, 6))
    layer = _dy(k=4)
    layer.temperature = 1e-6
    layer(x)
    z = layer.logits(x).data
    np.testing.assert_array_equal(layer.last_weights.argmax(1), z.argmax(1))
    np.testing.assert_allclose(layer.last_weights.max(1), 1.0, rtol=1e-9)


def test_mixing_kernels_equals_mixing_the_outputs_of_each_kernel():
    x = _x((3, 4, 6, 6))
    layer = _dy(k=3)
    pi = np.random.default_rng(2).dirichlet(np.ones(3), size=3)
    mixed = layer.mix(x, Tensor(pi)).data
    outs = [_static(x, layer.weight.data[k], layer.bias.data[k], layer) for k in range(3)]
    expected = sum(pi[:, k, None, None, None] * outs[k] for k in range(3))
    np.testing.assert_allclose(mixed, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("make", [_dy, lambda: CondConv2d(4, 6, 3, num_experts=3, padding=1,
                                                          rng=np.random.default_rng(1),
                                                          dtype=F64)])
def test_a_batch_gives_the_outputs_of_each_sample_alone(make):
    layer = make()
    x = _x((4, 4, 6, 6))
    batch = layer(x).data
    for n in range(4):
        alone = layer(Tensor(x.data[n:n + 1])).data
        np.testing.assert_allclose(batch[n:n + 1], alone, rtol=1e-12, atol=1e-12)


def test_identical_kernels_make_the_output_independent_of_attention_with_zero_gradient():
    layer = _dy(k=3)
    layer.weight.data[:] = layer.weight.data[0]
    layer.bias.data[:] = layer.bias.data[0]
    x = _x((3, 4, 6, 6))
    out = layer(x)
    expected = _static(x, layer.weight.data[0], layer.bias.data[0], layer)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)
    (out * Tensor(np.random.default_rng(3).standard_normal(out.shape))).sum().backward()
    for p in (layer.fc1_weight, layer.fc1_bias, layer.fc2_weight, layer.fc2_bias):
        np.testing.assert_allclose(p.grad.data, 0.0, atol=1e-12)  # grad is a Tensor


@pytest.mark.parametrize("groups,c,o", [(2, 4, 6), (4, 4, 8)])  # grouped; depthwise (g = C)
def test_grouped_and_depthwise_kernels_have_c_over_groups_input_channels(groups, c, o):
    layer = _dy(c=c, o=o, k=2, groups=groups)
    assert layer.weight.shape == (2, o, c // groups, 3, 3)
    x = _x((2, c, 5, 5))
    pi = Tensor(np.array([[0.3, 0.7], [0.9, 0.1]]))
    mixed = layer.mix(x, pi).data
    for n in range(2):
        w = pi.data[n] @ layer.weight.data.reshape(2, -1)
        b = pi.data[n] @ layer.bias.data
        alone = _static(Tensor(x.data[n:n + 1]), w.reshape(layer.weight.shape[1:]), b, layer)
        np.testing.assert_allclose(mixed[n:n + 1], alone, rtol=1e-10, atol=1e-12)


def test_stride_gives_the_static_output_size():
    layer = _dy(c=4, o=6, k=2, stride=2)
    assert layer(_x((2, 4, 7, 7))).shape == (2, 6, 4, 4)


@pytest.mark.parametrize("groups", [1, 2])
def test_dynamic_conv_gradients_of_every_parameter_and_the_input(groups):
    layer = _dy(c=4, o=4, k=3, groups=groups, temperature=2.0)
    x = _x((2, 4, 5, 5))
    params = [layer.weight, layer.bias, layer.fc1_weight, layer.fc1_bias, layer.fc2_weight,
              layer.fc2_bias]
    assert grad_check(lambda x, *p: layer(x), x, *params)


def test_cond_conv_gradients_of_every_parameter_and_the_input():
    layer = CondConv2d(3, 4, 3, num_experts=3, stride=2, padding=1,
                       rng=np.random.default_rng(1), dtype=F64)
    x = _x((2, 3, 6, 6))
    params = [layer.weight, layer.bias, layer.router_weight, layer.router_bias]
    assert grad_check(lambda x, *p: layer(x), x, *params)


def test_batch_attention_gradients():
    layer = _dy(c=3, o=4, k=2)
    layer.set_attention_mode("batch")
    x = _x((3, 3, 5, 5))
    assert grad_check(lambda x, *p: layer(x), x, layer.weight, layer.fc2_weight)


def test_batch_attention_uses_the_mean_mix_for_every_sample():
    layer = _dy(k=3)
    x = _x((4, 4, 6, 6))
    with no_grad():
        pi = layer.routing(x).data
        layer.set_attention_mode("batch")
        out = layer(x).data
    mean = np.repeat(pi.mean(0, keepdims=True), 4, axis=0)
    np.testing.assert_allclose(layer.last_weights, mean, rtol=1e-12)
    np.testing.assert_allclose(out, layer.mix(x, Tensor(mean)).data, rtol=1e-10, atol=1e-12)


def test_cond_conv_gates_are_independent_sigmoids_not_summing_to_one():
    layer = CondConv2d(4, 6, 3, num_experts=4, rng=np.random.default_rng(1), dtype=F64)
    layer(_x((5, 4, 6, 6)))
    gates = layer.last_weights
    assert ((gates > 0) & (gates < 1)).all()
    assert not np.allclose(gates.sum(1), 1.0)


def test_cond_conv_scaling_the_gates_scales_the_kernel():
    layer = CondConv2d(4, 6, 3, num_experts=3, padding=1, bias=False,
                       rng=np.random.default_rng(1), dtype=F64)
    x = _x((2, 4, 6, 6))
    gates = np.random.default_rng(4).uniform(size=(2, 3))
    once = layer.mix(x, Tensor(gates)).data
    np.testing.assert_allclose(layer.mix(x, Tensor(2.5 * gates)).data, 2.5 * once, rtol=1e-12)


def test_cond_conv_with_one_expert_and_gate_one_is_a_static_convolution():
    layer = CondConv2d(4, 6, 3, num_experts=1, padding=1, rng=np.random.default_rng(1),
                       dtype=F64)
    x = _x((2, 4, 6, 6))
    expected = _static(x, layer.weight.data[0], layer.bias.data[0], layer)
    np.testing.assert_allclose(layer.mix(x, Tensor(np.ones((2, 1)))).data, expected,
                               rtol=1e-12, atol=1e-12)


def test_aggregate_gives_each_sample_its_own_mix_of_the_kernels():
    layer = DynamicConv2d(4, 6, 3, num_kernels=3, groups=2, rng=np.random.default_rng(0),
                          dtype=np.float64)
    pi = np.random.default_rng(1).dirichlet(np.ones(3), size=5)
    kernels, biases = layer.aggregate(Tensor(pi))
    assert kernels.shape == (5, 6, 2, 3, 3) and biases.shape == (5, 6)
    np.testing.assert_allclose(kernels.data, np.einsum("nk,koihw->noihw", pi, layer.weight.data),
                               rtol=1e-12)
    np.testing.assert_allclose(biases.data, pi @ layer.bias.data, rtol=1e-12)
    with pytest.raises(ValueError, match="DynamicConv2d: weights must be a Tensor of shape"):
        layer.aggregate(Tensor(pi[:, :2]))


def test_each_kernel_is_initialised_independently_like_a_static_conv_of_the_same_fan_in():
    layer = DynamicConv2d(8, 16, 3, num_kernels=4, rng=np.random.default_rng(0))
    bound = 1 / np.sqrt(8 * 9)
    w = layer.weight.data.reshape(4, -1).astype(np.float64)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    # four different draws, uncorrelated (not one kernel copied, nor copies plus small noise)
    corr = np.corrcoef(w)
    assert np.abs(corr[~np.eye(4, dtype=bool)]).max() < 0.2
    np.testing.assert_allclose(w.std(axis=1), bound / np.sqrt(3), rtol=0.15)
