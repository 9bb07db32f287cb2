"""Conv2d, BatchNorm2d and the pooling layers against the ops, explicit NumPy references and
textbook formulas; float64 gradient checks; errors; torch (when installed) with copied weights."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinydyn as td
import tinydyn.nn as nn
from tinydyn import Tensor, grad_check

FAST = settings(derandomize=True, deadline=None, max_examples=20)


def leaf(rng, *shape):
    return Tensor(rng.standard_normal(shape), requires_grad=True)


def np_conv2d(x, w, b, stride, padding, groups):
    """The definition, one output position at a time."""
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho, wo = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    out = np.zeros((n, o, ho, wo))
    og = o // groups
    for oc in range(o):
        g = oc // og
        for i in range(ho):
            for j in range(wo):
                window = xp[:, g * cg:(g + 1) * cg, i * sh:i * sh + kh, j * sw:j * sw + kw]
                out[:, oc, i, j] = (window * w[oc]).sum(axis=(1, 2, 3))
    return out + (b[None, :, None, None] if b is not None else 0)


# ---- Conv2d -----------------------------------------------------------------------------------


@FAST
@given(n=st.integers(1, 2), groups=st.integers(1, 2), cg=st.integers(1, 2), og=st.integers(1, 2),
       k=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       stride=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       padding=st.tuples(st.integers(0, 1), st.integers(0, 1)),
       hw=st.tuples(st.integers(3, 6), st.integers(3, 6)), bias=st.booleans())
def test_conv2d_matches_definition_and_torch_output_size(n, groups, cg, og, k, stride, padding,
                                                         hw, bias):
    rng = np.random.default_rng(0)
    conv = nn.Conv2d(cg * groups, og * groups, k, stride, padding, groups, bias=bias, rng=rng,
                     dtype=np.float64)
    x = rng.standard_normal((n, cg * groups, *hw))
    out = conv(Tensor(x))
    ho = math.floor((hw[0] + 2 * padding[0] - k[0]) / stride[0] + 1)  # torch's documented rule
    wo = math.floor((hw[1] + 2 * padding[1] - k[1]) / stride[1] + 1)
    assert out.shape == (n, og * groups, ho, wo)
    b = conv.bias.data if bias else None
    np.testing.assert_allclose(out.data, np_conv2d(x, conv.weight.data, b, stride, padding,
                                                   groups), rtol=1e-10, atol=1e-12)


def test_conv2d_equals_the_conv2d_op_with_its_weights():
    conv = nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=1, groups=2)
    x = td.randn(3, 4, 7, 6)
    expected = td.conv2d(x, conv.weight, conv.bias, (2, 1), (1, 1), 2)
    np.testing.assert_array_equal(conv(x).data, expected.data)
    assert conv(x).dtype == np.float32


def test_conv2d_gradients():
    rng = np.random.default_rng(1)
    conv = nn.Conv2d(4, 2, 3, stride=2, padding=1, groups=2, rng=rng, dtype=np.float64)
    x = leaf(rng, 2, 4, 5, 4)
    assert grad_check(lambda x, w, b: conv(x), x, conv.weight, conv.bias)


def test_conv2d_default_init_is_within_one_over_sqrt_fan_in():
    conv = nn.Conv2d(4, 64, (3, 5), groups=2, rng=np.random.default_rng(0))
    bound = 1 / math.sqrt(2 * 3 * 5)  # fan_in = in_channels / groups * kh * kw
    assert conv.weight.shape == (64, 2, 3, 5)
    for p in (conv.weight, conv.bias):
        assert 0.9 * bound < np.abs(p.data).max() <= bound


def test_conv2d_without_bias_and_repr():
    conv = nn.Conv2d(2, 4, 3, padding=1, bias=False)
    assert conv.bias is None and list(conv.state_dict()) == ["weight"]
    assert repr(conv) == ("Conv2d(2, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), "
                          "bias=False)")


@pytest.mark.parametrize("kwargs, exc, message", [
    (dict(in_channels=3, out_channels=4, kernel_size=3, groups=2), ValueError,
     r"Conv2d: in_channels \(3\) must be divisible by groups \(2\)"),
    (dict(in_channels=4, out_channels=3, kernel_size=3, groups=2), ValueError,
     r"Conv2d: out_channels \(3\) must be divisible by groups \(2\)"),
    (dict(in_channels=1, out_channels=1, kernel_size=0), ValueError,
     r"Conv2d: kernel_size must be >= 1"),
    (dict(in_channels=1, out_channels=1, kernel_size=2.0), TypeError,
     r"Conv2d: kernel_size must be an int or a pair of ints"),
    (dict(in_channels=1, out_channels=1, kernel_size=(1, 2, 3)), ValueError,
     r"Conv2d: kernel_size must be an int or a pair of ints"),
    (dict(in_channels=1, out_channels=1, kernel_size=2, padding=-1), ValueError,
     r"Conv2d: padding must be >= 0"),
])
def test_conv2d_constructor_errors(kwargs, exc, message):
    with pytest.raises(exc, match=message):
        nn.Conv2d(**kwargs)


def test_conv2d_forward_errors():
    conv = nn.Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match=r"Conv2d: expected input of shape \(N, 3, H, W\), got "
                                         r"\(2, 2, 5, 5\)"):
        conv(td.randn(2, 2, 5, 5))
    with pytest.raises(ValueError, match=r"Conv2d: input of spatial size \(2, 5\) is too small"):
        conv(td.randn(1, 3, 2, 5))
    with pytest.raises(TypeError, match=r"Conv2d: input must be a Tensor"):
        conv(np.zeros((1, 3, 5, 5)))


# ---- BatchNorm2d ------------------------------------------------------------------------------


def make_bn(c=3, **kwargs):
    bn = nn.BatchNorm2d(c, dtype=np.float64, **kwargs)
    rng = np.random.default_rng(5)
    if bn.affine:
        bn.weight.data[:] = rng.uniform(0.5, 2, c)
        bn.bias.data[:] = rng.standard_normal(c)
    return bn


def test_batchnorm_training_normalises_with_batch_statistics():
    bn = make_bn()
    x = np.random.default_rng(0).normal(3.0, 2.0, (4, 3, 5, 2))
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)  # biased, in the normalisation
    expected = (x - mean) / np.sqrt(var + 1e-5) * bn.weight.data[:, None, None] \
        + bn.bias.data[:, None, None]
    np.testing.assert_allclose(bn(Tensor(x)).data, expected, rtol=1e-10, atol=1e-12)


def test_batchnorm_running_stats_follow_the_textbook_update():
    bn = make_bn(momentum=0.3)
    rng = np.random.default_rng(1)
    rm, rv = np.zeros(3), np.ones(3)
    for _ in range(3):
        x = rng.normal(2.0, 3.0, (2, 3, 3, 4))
        bn(Tensor(x))
        rm = 0.7 * rm + 0.3 * x.mean(axis=(0, 2, 3))
        rv = 0.7 * rv + 0.3 * x.var(axis=(0, 2, 3), ddof=1)  # unbiased in the running var
    np.testing.assert_allclose(bn.running_mean, rm, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, rv, rtol=1e-12)
    assert int(bn.num_batches_tracked) == 3


def test_batchnorm_momentum_none_is_a_cumulative_average():
    bn = make_bn(momentum=None)
    rng = np.random.default_rng(2)
    batches = [rng.normal(size=(2, 3, 2, 2)) for _ in range(4)]
    for x in batches:
        bn(Tensor(x))
    expected = np.mean([x.mean(axis=(0, 2, 3)) for x in batches], axis=0)
    np.testing.assert_allclose(bn.running_mean, expected, rtol=1e-12)


def test_batchnorm_eval_uses_running_stats_and_leaves_them_alone():
    bn = make_bn()
    bn.running_mean[:] = [1.0, -2.0, 0.5]
    bn.running_var[:] = [4.0, 0.25, 1.0]
    bn.eval()
    x = np.random.default_rng(3).standard_normal((2, 3, 2, 2))
    expected = (x - bn.running_mean[:, None, None]) / np.sqrt(
        bn.running_var[:, None, None] + 1e-5) * bn.weight.data[:, None, None] \
        + bn.bias.data[:, None, None]
    np.testing.assert_allclose(bn(Tensor(x)).data, expected, rtol=1e-12)
    np.testing.assert_array_equal(bn.running_mean, [1.0, -2.0, 0.5])
    assert int(bn.num_batches_tracked) == 0
    # one example in eval mode is fine (no batch statistics needed)
    assert bn(Tensor(x[:1, :, :1, :1])).shape == (1, 3, 1, 1)


def test_batchnorm_gradients_in_training_and_eval():
    rng = np.random.default_rng(4)
    bn = make_bn()
    x = leaf(rng, 3, 3, 2, 2)
    assert grad_check(lambda x, w, b: bn(x), x, bn.weight, bn.bias)
    bn.eval()
    assert grad_check(lambda x, w, b: bn(x), x, bn.weight, bn.bias)


def test_batchnorm_without_affine_has_only_buffers():
    bn = nn.BatchNorm2d(2, affine=False)
    assert list(bn.parameters()) == []
    assert list(bn.state_dict()) == ["running_mean", "running_var", "num_batches_tracked"]
    y = bn(td.randn(4, 2, 3, 3)).data
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)


def test_batchnorm_state_dict_round_trip_and_double():
    bn = nn.BatchNorm2d(2)
    bn(td.randn(4, 2, 3, 3))
    other = nn.BatchNorm2d(2)
    other.load_state_dict(bn.state_dict())
    np.testing.assert_array_equal(other.running_var, bn.running_var)
    other.double()
    assert other.running_mean.dtype == np.float64
    assert other.num_batches_tracked.dtype == np.int64


def test_batchnorm_errors():
    with pytest.raises(ValueError, match=r"BatchNorm2d: momentum must be <= 1.0"):
        nn.BatchNorm2d(3, momentum=2)
    with pytest.raises(ValueError, match=r"BatchNorm2d: eps must be > 0.0"):
        nn.BatchNorm2d(3, eps=0)
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected input of shape \(N, 3, H, W\), "
                                         r"got \(2, 4, 1, 1\)"):
        nn.BatchNorm2d(3)(td.randn(2, 4, 1, 1))
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected more than 1 value per channel"):
        nn.BatchNorm2d(3)(td.randn(1, 3, 1, 1))


# ---- pooling ----------------------------------------------------------------------------------


def np_pool(x, k, s, p, reduce, pad_value):
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=pad_value)
    ho, wo = (x.shape[2] + 2 * p - k) // s + 1, (x.shape[3] + 2 * p - k) // s + 1
    out = np.empty(x.shape[:2] + (ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = reduce(xp[:, :, i * s:i * s + k, j * s:j * s + k], axis=(2, 3))
    return out


@pytest.mark.parametrize("k, s, p", [(2, None, 0), (3, 1, 1), (3, 2, 1), (2, 1, 0)])
def test_pools_match_window_references(k, s, p):
    x = np.random.default_rng(6).standard_normal((2, 3, 6, 5))
    stride = k if s is None else s
    out = nn.MaxPool2d(k, s, p)(Tensor(x))
    np.testing.assert_allclose(out.data, np_pool(x, k, stride, p, np.max, -np.inf))
    out = nn.AvgPool2d(k, s, p)(Tensor(x))
    np.testing.assert_allclose(out.data, np_pool(x, k, stride, p, np.mean, 0.0), rtol=1e-12)


def test_pool_stride_defaults_to_kernel_size():
    pool = nn.MaxPool2d((2, 3))
    assert pool.stride == (2, 3) and pool(td.randn(1, 1, 4, 6)).shape == (1, 1, 2, 2)
    assert repr(pool) == "MaxPool2d(kernel_size=(2, 3), stride=(2, 3), padding=(0, 0))"


def test_global_avg_pool_gives_channel_means():
    x = np.random.default_rng(7).standard_normal((2, 3, 4, 5))
    out = nn.GlobalAvgPool2d()(Tensor(x))
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out.data, x.mean(axis=(2, 3)), rtol=1e-12)


def test_pool_gradients():
    rng = np.random.default_rng(8)
    x = leaf(rng, 1, 2, 5, 4)
    for layer in (nn.MaxPool2d(2, 1), nn.AvgPool2d(3, 2, 1), nn.GlobalAvgPool2d()):
        assert grad_check(layer, x)


def test_pool_errors():
    with pytest.raises(ValueError, match=r"MaxPool2d: padding \(2, 2\) must be at most half of "
                                         r"kernel_size \(3, 3\)"):
        nn.MaxPool2d(3, padding=2)
    with pytest.raises(ValueError, match=r"AvgPool2d: expected input of shape \(N, C, H, W\), "
                                         r"got \(3, 4, 4\)"):
        nn.AvgPool2d(2)(td.randn(3, 4, 4))
    with pytest.raises(ValueError, match=r"MaxPool2d: input of spatial size \(1, 4\) is too "
                                         r"small"):
        nn.MaxPool2d(2)(td.randn(1, 1, 1, 4))
    with pytest.raises(ValueError, match=r"GlobalAvgPool2d: expected input of shape"):
        nn.GlobalAvgPool2d()(td.randn(2, 3))


# ---- against torch (optional) -----------------------------------------------------------------


def test_conv_and_batchnorm_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    conv = nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, rng=rng, dtype=np.float64)
    bn = make_bn(6)
    ref_conv = torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, dtype=torch.float64)
    ref_bn = torch.nn.BatchNorm2d(6, dtype=torch.float64)
    ref_conv.load_state_dict({k: torch.from_numpy(v) for k, v in conv.state_dict().items()})
    ref_bn.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in
                            bn.state_dict().items()})
    x = rng.standard_normal((3, 4, 7, 6))
    for _ in range(2):  # training: batch statistics, running stats move
        out = bn(conv(Tensor(x)))
        with torch.no_grad():
            expected = ref_bn(ref_conv(torch.from_numpy(x)))
        np.testing.assert_allclose(out.data, expected.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(bn.running_var, ref_bn.running_var.numpy(), rtol=1e-12)
    bn.eval()
    ref_bn.eval()
    with torch.no_grad():
        expected = ref_bn(ref_conv(torch.from_numpy(x)))
    np.testing.assert_allclose(bn(conv(Tensor(x))).data, expected.numpy(), rtol=1e-9,
                               atol=1e-10)
