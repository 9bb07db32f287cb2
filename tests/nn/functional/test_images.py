"""F.conv2d, F.max_pool2d, F.avg_pool2d and F.pad: PyTorch's signatures, against torch (with a
tolerance: two implementations), float64 gradient checks, and the options refused by name."""

import numpy as np
import pytest

import tinydyn as td
import tinydyn.nn.functional as F
from tinydyn import Tensor, grad_check


def leaf(rng, *shape):
    return Tensor(rng.standard_normal(shape), requires_grad=True)


def _torch_check(fn_ours, fn_theirs, *arrays, rtol=1e-10, atol=1e-12):
    """Forward values and input gradients of ours and torch's on the same float64 inputs."""
    torch = pytest.importorskip("torch")
    ours = [Tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = fn_ours(*ours), fn_theirs(*theirs)
    assert out.shape == tuple(ref.shape)
    upstream = np.random.default_rng(99).standard_normal(out.shape)
    out.backward(upstream)
    ref.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=rtol, atol=atol)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.data, b.grad.numpy(), rtol=rtol, atol=atol)


# ---- conv2d -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [
    dict(), dict(stride=2, padding=1), dict(stride=(2, 1), padding=(0, 2), groups=2),
    dict(padding="valid"), dict(padding="same"),
], ids=["default", "stride-pad", "pairs-groups", "valid", "same"])
def test_conv2d_matches_torch(kwargs):
    tf = pytest.importorskip("torch").nn.functional
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((6, 2, 3, 3)), \
        rng.standard_normal(6)
    if kwargs.get("groups") is None:
        w = rng.standard_normal((6, 4, 3, 3))
    _torch_check(lambda x, w, b: F.conv2d(x, w, b, **kwargs),
                 lambda x, w, b: tf.conv2d(x, w, b, **kwargs), x, w, b)


@pytest.mark.parametrize("kernel", [(2, 2), (2, 3), (4, 1)])
def test_conv2d_same_padding_with_an_even_kernel_matches_torch(kernel):
    # an even kernel needs one more row/column on the bottom/right: PyTorch's convention
    tf = pytest.importorskip("torch").nn.functional
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((1, 2, 5, 6)), rng.standard_normal((3, 2) + kernel)
    _torch_check(lambda x, w: F.conv2d(x, w, padding="same"),
                 lambda x, w: tf.conv2d(x, w, padding="same"), x, w)


def test_conv2d_positional_arguments_follow_torch_order():
    rng = np.random.default_rng(2)
    x, w, b = leaf(rng, 1, 2, 6, 6), leaf(rng, 4, 1, 3, 3), leaf(rng, 4)
    # input, weight, bias, stride, padding, dilation, groups
    out = F.conv2d(x, w, b, 2, 1, 1, 2)
    np.testing.assert_array_equal(out.data, td.conv2d(x, w, b, 2, 1, 2).data)


def test_conv2d_same_padding_gradients():
    rng = np.random.default_rng(3)
    x, w, b = leaf(rng, 1, 2, 4, 5), leaf(rng, 3, 2, 2, 3), leaf(rng, 3)
    assert grad_check(lambda x, w, b: F.conv2d(x, w, b, padding="same"), x, w, b)


def test_conv2d_keeps_tinydyns_per_sample_weights():
    rng = np.random.default_rng(4)
    x, w = leaf(rng, 2, 3, 5, 5), leaf(rng, 2, 4, 3, 3, 3)
    out = F.conv2d(x, w, padding=1)
    for n in range(2):
        np.testing.assert_allclose(out.data[n], td.conv2d(Tensor(x.data[n:n + 1]),
                                                          Tensor(w.data[n]), padding=1).data[0],
                                   rtol=1e-12, atol=1e-12)


# ---- pooling ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1),
                                    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0))],
                         ids=["default", "overlap-pad", "pairs"])
@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
def test_pooling_matches_torch(name, kwargs):
    tf = pytest.importorskip("torch").nn.functional
    x = np.random.default_rng(5).standard_normal((2, 3, 6, 7))
    _torch_check(lambda x: getattr(F, name)(x, **kwargs),
                 lambda x: getattr(tf, name)(x, **kwargs), x)


@pytest.mark.parametrize("kwargs", [dict(count_include_pad=False), dict(divisor_override=5),
                                    dict(count_include_pad=False, divisor_override=2)])
def test_avg_pool2d_divisor_options_match_torch(kwargs):
    tf = pytest.importorskip("torch").nn.functional
    x = np.random.default_rng(6).standard_normal((1, 2, 5, 6))
    _torch_check(lambda x: F.avg_pool2d(x, 3, 2, 1, **kwargs),
                 lambda x: tf.avg_pool2d(x, 3, 2, 1, **kwargs), x)


def test_pooling_gradients():
    rng = np.random.default_rng(7)
    x = leaf(rng, 1, 2, 5, 5)
    assert grad_check(lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), x)
    assert grad_check(lambda x: F.avg_pool2d(x, 2, divisor_override=3), x)
    assert grad_check(lambda x: F.max_pool2d(x, 3, 2, 1), x)


# ---- pad --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("widths", [(1, 2), (2, 0, 1, 3), (0, 0, 3, 1)])
def test_pad_matches_torch(mode, widths):
    tf = pytest.importorskip("torch").nn.functional
    # torch takes non-constant modes on (N, C, W) for one pair, (N, C, H, W) for two
    shape = (2, 3, 4, 5) if len(widths) == 4 else (3, 4, 5)
    x = np.random.default_rng(8).standard_normal(shape)
    _torch_check(lambda x: F.pad(x, widths, mode), lambda x: tf.pad(x, widths, mode), x)


def test_constant_pad_value_and_cropping_match_torch():
    tf = pytest.importorskip("torch").nn.functional
    x = np.random.default_rng(9).standard_normal((3, 4, 5))
    _torch_check(lambda x: F.pad(x, (1, -2, -1, 2), value=2.5),
                 lambda x: tf.pad(x, (1, -2, -1, 2), value=2.5), x)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_gradients(mode):
    x = leaf(np.random.default_rng(10), 2, 4, 4)
    assert grad_check(lambda x: F.pad(x, (2, 1, 3, 0), mode), x)


def test_reflect_pad_mirrors_without_repeating_the_edge():
    out = F.pad(Tensor(np.array([[[1.0, 2.0, 3.0]]])), (2, 2), "reflect")
    np.testing.assert_array_equal(out.data[0, 0], [3, 2, 1, 2, 3, 2, 1])


# ---- refused options -----------------------------------------------------------------------------

X = Tensor(np.zeros((1, 2, 6, 6)))
W = Tensor(np.zeros((2, 2, 3, 3)))


@pytest.mark.parametrize("call, exc, message", [
    (lambda: F.conv2d(X, W, dilation=2), ValueError,
     r"conv2d: dilation=2 is not supported by tinydyn \(only dilation=1\)"),
    (lambda: F.conv2d(X, W, padding="full"), ValueError,
     r"conv2d: padding must be an int, a pair, 'valid' or 'same', got 'full'"),
    (lambda: F.conv2d(X, W, stride=2, padding="same"), ValueError,
     r"conv2d: padding='same' needs stride 1"),
    (lambda: F.max_pool2d(X, 2, dilation=(1, 2)), ValueError,
     r"max_pool2d: dilation=\(1, 2\) is not supported by tinydyn"),
    (lambda: F.max_pool2d(X, 2, ceil_mode=True), ValueError,
     r"max_pool2d: ceil_mode=True is not supported by tinydyn \(only ceil_mode=False\)"),
    (lambda: F.max_pool2d(X, 2, return_indices=True), ValueError,
     r"max_pool2d: return_indices=True is not supported by tinydyn"),
    (lambda: F.avg_pool2d(X, 2, ceil_mode=True), ValueError,
     r"avg_pool2d: ceil_mode=True is not supported by tinydyn"),
    (lambda: F.avg_pool2d(X, 2, divisor_override=0), ValueError,
     r"avg_pool2d: divisor_override must be a positive int or None, got 0"),
    (lambda: F.pad(X, (1, 1), "wrap"), ValueError,
     r"pad: mode must be one of 'constant', 'reflect', 'replicate', 'circular', got 'wrap'"),
    (lambda: F.pad(X, (6, 0), "reflect"), ValueError,
     r"pad: mode='reflect' needs pad widths <= 5 for dimension 3 of size 6, got \(6, 0\)"),
    (lambda: F.pad(X, (-1, 0), "replicate"), ValueError,
     r"pad: mode='replicate' needs non-negative pad widths"),
    (lambda: F.pad(X, (1, 1), "reflect", value=3.0), ValueError,
     r"pad: value is only used by mode='constant'"),
    (lambda: F.pad(X, (1, 1.5), "circular"), TypeError, r"pad: pad must hold ints"),
])
def test_unsupported_options_are_refused_by_name(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
