"""conv2d (shared and per-sample weights, groups), max/avg pooling and global average pooling."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinydyn as td
from tinydyn.kernels.backend import use_backend
from tinydyn.measure import FlopCounter, conv2d_flops

FAST = settings(derandomize=True, deadline=None, max_examples=15)


def _t(array, grad=False):
    return td.tensor(np.asarray(array, dtype=np.float64), requires_grad=grad)


def _naive_conv(x, weight, bias, stride, padding, groups):
    """Direct definition: out[n, o, y, x] = b[o] + sum over the window of group(o)."""
    n, c, h, w = x.shape
    out_channels, cg, kh, kw = weight.shape
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    og = out_channels // groups
    out = np.zeros((n, out_channels, ho, wo))
    for b in range(n):
        for o in range(out_channels):
            first = (o // og) * cg  # first input channel of o's group
            for y in range(ho):
                for xx in range(wo):
                    window = xp[b, first:first + cg, y * sh:y * sh + kh, xx * sw:xx * sw + kw]
                    out[b, o, y, xx] = (window * weight[o]).sum()
            if bias is not None:
                out[b, o] += bias[o]
    return out


def _naive_pool(x, kernel, stride, padding, reduce, pad_value):
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value)
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    out = np.empty((n, c, ho, wo))
    for y in range(ho):
        for xx in range(wo):
            out[:, :, y, xx] = reduce(xp[:, :, y * sh:y * sh + kh, xx * sw:xx * sw + kw],
                                      axis=(2, 3))
    return out


def _distinct(rng, shape):
    """Values at least 0.1 apart, so no max is tied (or flips under a 1e-6 nudge)."""
    size = int(np.prod(shape))
    return (rng.permutation(size) * 0.1 + rng.uniform(0, 0.01, size)).reshape(shape)


# ---- conv2d forward -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "x_shape, out_channels, kernel, stride, padding, groups",
    [
        ((2, 3, 5, 5), 4, (3, 3), (1, 1), (0, 0), 1),
        ((2, 3, 7, 6), 5, (3, 3), (2, 2), (1, 1), 1),
        ((1, 4, 6, 7), 6, (2, 3), (1, 2), (2, 0), 2),
        ((3, 6, 5, 5), 6, (3, 3), (1, 1), (1, 1), 6),  # depthwise
        ((2, 2, 4, 4), 3, (1, 1), (3, 3), (0, 0), 1),
        ((1, 1, 3, 3), 1, (5, 5), (1, 1), (1, 1), 1),  # kernel larger than the image
    ],
)
def test_conv2d_matches_naive_loops(x_shape, out_channels, kernel, stride, padding, groups):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape)
    weight = rng.standard_normal((out_channels, x_shape[1] // groups, *kernel))
    bias = rng.standard_normal(out_channels)
    out = td.conv2d(_t(x), _t(weight), _t(bias), stride=stride, padding=padding, groups=groups)
    expected = _naive_conv(x, weight, bias, stride, padding, groups)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)


def test_conv2d_without_bias_matches_naive_loops():
    rng = np.random.default_rng(1)
    x, weight = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))
    out = td.conv2d(_t(x), _t(weight), stride=2, padding=1)
    np.testing.assert_allclose(out.data, _naive_conv(x, weight, None, (2, 2), (1, 1), 1),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("groups", [1, 2])
def test_per_sample_conv2d_equals_shared_conv_on_each_sample(groups):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4, 6, 5))
    weight = rng.standard_normal((3, 6, 4 // groups, 3, 2))
    bias = rng.standard_normal((3, 6))
    out = td.conv2d(_t(x), _t(weight), _t(bias), stride=(2, 1), padding=1, groups=groups)
    for n in range(3):
        alone = td.conv2d(_t(x[n:n + 1]), _t(weight[n]), _t(bias[n]), stride=(2, 1),
                          padding=1, groups=groups)
        np.testing.assert_allclose(out.data[n:n + 1], alone.data, rtol=1e-12, atol=1e-12)


def test_shared_weight_with_per_sample_bias_adds_each_sample_its_bias():
    rng = np.random.default_rng(3)
    x, weight = _t(rng.standard_normal((2, 1, 3, 3))), _t(rng.standard_normal((2, 1, 3, 3)))
    bias = np.array([[1.0, 2.0], [3.0, 4.0]])
    difference = td.conv2d(x, weight, _t(bias)).data - td.conv2d(x, weight).data
    np.testing.assert_allclose(difference[:, :, 0, 0], bias)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_keeps_the_input_dtype(dtype):
    x = td.tensor(np.ones((1, 2, 4, 4), dtype=dtype))
    weight = td.tensor(np.ones((3, 2, 3, 3), dtype=dtype))
    bias = td.tensor(np.zeros(3, dtype=dtype))
    assert td.conv2d(x, weight, bias, padding=1).dtype == dtype


def test_numba_and_numpy_backends_give_the_same_conv_and_gradients():
    rng = np.random.default_rng(4)
    arrays = (rng.standard_normal((2, 4, 6, 6)), rng.standard_normal((4, 2, 3, 3)))
    results = []
    for backend in ("numba", "numpy"):
        x, w = _t(arrays[0], True), _t(arrays[1], True)
        with use_backend(backend):
            out = td.conv2d(x, w, stride=2, padding=1, groups=2)
            out.sum().backward()
        results.append((out.data, x.grad.data, w.grad.data))
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_flop_counter_charges_conv2d_by_its_analytic_formula():
    x, w, b = _t(np.ones((2, 4, 6, 6))), _t(np.ones((8, 2, 3, 3))), _t(np.ones(8))
    with FlopCounter() as fc:
        out = td.conv2d(x, w, b, padding=1, groups=2)
    assert fc.by_op["Conv2d"] == conv2d_flops(4, 8, 3, out.shape[2:], batch=2, groups=2)


# ---- conv2d gradients -------------------------------------------------------------------------


@st.composite
def conv_cases(draw, per_sample):
    groups = draw(st.sampled_from([1, 2]))
    n = draw(st.integers(1, 2))
    c = groups * draw(st.integers(1, 2))
    out_channels = groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 1)), draw(st.integers(0, 1)))
    h = draw(st.integers(max(1, kh - 2 * padding[0]), 5))
    w = draw(st.integers(max(1, kw - 2 * padding[1]), 5))
    lead = (n,) if per_sample else ()
    bias_shape = draw(st.sampled_from([None, (out_channels,), (n, out_channels)]))
    return ((n, c, h, w), lead + (out_channels, c // groups, kh, kw), bias_shape, stride,
            padding, groups, draw(st.integers(0, 2**16)))


def _check_conv_grads(case):
    x_shape, w_shape, bias_shape, stride, padding, groups, seed = case
    rng = np.random.default_rng(seed)
    inputs = [_t(rng.standard_normal(x_shape), True), _t(rng.standard_normal(w_shape), True)]
    if bias_shape is not None:
        inputs.append(_t(rng.standard_normal(bias_shape), True))

    def fn(x, w, b=None):
        return td.conv2d(x, w, b, stride=stride, padding=padding, groups=groups)

    assert td.grad_check(fn, *inputs)


@FAST
@given(case=conv_cases(per_sample=False))
def test_conv2d_gradients_with_shared_weight(case):
    _check_conv_grads(case)


@FAST
@given(case=conv_cases(per_sample=True))
def test_conv2d_gradients_with_per_sample_weight(case):
    _check_conv_grads(case)


def test_conv2d_gradient_through_a_reused_weight_accumulates():
    rng = np.random.default_rng(5)
    x, w = _t(rng.standard_normal((1, 2, 4, 4)), True), _t(rng.standard_normal((2, 2, 3, 3)), True)
    assert td.grad_check(lambda x, w: td.conv2d(td.conv2d(x, w, padding=1), w), x, w)


# ---- pooling ----------------------------------------------------------------------------------


POOL_CASES = [
    ((2, 3, 6, 6), (2, 2), None, (0, 0)),
    ((2, 2, 7, 5), (3, 3), (2, 2), (1, 1)),
    ((1, 2, 6, 7), (3, 2), (1, 2), (1, 0)),
    ((1, 1, 5, 5), (5, 5), (1, 1), (2, 2)),
]


@pytest.mark.parametrize("x_shape, kernel, stride, padding", POOL_CASES)
def test_max_pool2d_matches_naive_and_padding_never_wins(x_shape, kernel, stride, padding):
    x = np.random.default_rng(6).standard_normal(x_shape) - 10.0  # all below the zero padding
    out = td.max_pool2d(_t(x), kernel, stride, padding)
    expected = _naive_pool(x, kernel, stride or kernel, padding, np.max, -np.inf)
    np.testing.assert_array_equal(out.data, expected)


@pytest.mark.parametrize("x_shape, kernel, stride, padding", POOL_CASES)
def test_avg_pool2d_matches_naive_with_padding_counted(x_shape, kernel, stride, padding):
    x = np.random.default_rng(7).standard_normal(x_shape)
    out = td.avg_pool2d(_t(x), kernel, stride, padding)
    expected = _naive_pool(x, kernel, stride or kernel, padding, np.mean, 0.0)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)


def test_pool_stride_defaults_to_kernel_size():
    x = _t(np.arange(16.0).reshape(1, 1, 4, 4))
    np.testing.assert_array_equal(td.max_pool2d(x, 2).data[0, 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(td.avg_pool2d(x, 2).data[0, 0], [[2.5, 4.5], [10.5, 12.5]])


@pytest.mark.parametrize("x_shape, kernel, stride, padding", POOL_CASES)
def test_max_pool2d_gradient(x_shape, kernel, stride, padding):
    x = _t(_distinct(np.random.default_rng(8), x_shape), True)
    assert td.grad_check(lambda x: td.max_pool2d(x, kernel, stride, padding), x)


@pytest.mark.parametrize("x_shape, kernel, stride, padding", POOL_CASES)
def test_avg_pool2d_gradient(x_shape, kernel, stride, padding):
    x = _t(np.random.default_rng(9).standard_normal(x_shape), True)
    assert td.grad_check(lambda x: td.avg_pool2d(x, kernel, stride, padding), x)


def test_max_pool2d_overlapping_windows_send_gradient_to_each_max():
    # the centre value 9 is the max of all four 2x2 windows of a 3x3 image
    x = _t([[[[1.0, 2, 3], [4, 9, 5], [6, 7, 8]]]], True)
    td.max_pool2d(x, 2, stride=1).sum().backward()
    np.testing.assert_array_equal(x.grad.data[0, 0], [[0, 0, 0], [0, 4, 0], [0, 0, 0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pooling_keeps_the_input_dtype(dtype):
    x = td.tensor(np.ones((1, 1, 4, 4), dtype=dtype))
    assert td.max_pool2d(x, 2).dtype == dtype
    assert td.avg_pool2d(x, 2).dtype == dtype
    assert td.global_avg_pool2d(x).dtype == dtype


def test_global_avg_pool2d_is_the_mean_over_positions_and_its_gradient_checks():
    x = np.random.default_rng(10).standard_normal((2, 3, 4, 5))
    np.testing.assert_allclose(td.global_avg_pool2d(_t(x)).data, x.mean(axis=(2, 3)))
    assert td.grad_check(td.global_avg_pool2d, _t(x, True))


# ---- errors -----------------------------------------------------------------------------------


def _z(*shape, dtype=np.float64):
    return td.tensor(np.zeros(shape, dtype=dtype))


@pytest.mark.parametrize(
    "call, exc, message",
    [
        (lambda: td.conv2d(_z(3, 4, 4), _z(2, 3, 3, 3)), ValueError,
         r"conv2d: input must be 4-D \(N, C, H, W\), got shape \(3, 4, 4\)"),
        (lambda: td.conv2d(_z(1, 3, 4, 4), _z(3, 3, 3)), ValueError,
         r"conv2d: weight must be 4-D \(O, C/groups, kh, kw\) or 5-D per-sample "
         r"\(N, O, C/groups, kh, kw\), got shape \(3, 3, 3\)"),
        (lambda: td.conv2d(_z(1, 3, 4, 4), _z(2, 2, 3, 3)), ValueError,
         r"conv2d: weight expects 2 input channels \(2 per group x groups=1\) but the input "
         r"has 3"),
        (lambda: td.conv2d(_z(1, 3, 4, 4), _z(2, 1, 3, 3), groups=2), ValueError,
         r"conv2d: input channels 3 are not divisible by groups=2"),
        (lambda: td.conv2d(_z(1, 4, 4, 4), _z(3, 2, 3, 3), groups=2), ValueError,
         r"conv2d: output channels 3 \(weight shape \(3, 2, 3, 3\)\) are not divisible by "
         r"groups=2"),
        (lambda: td.conv2d(_z(2, 3, 4, 4), _z(3, 2, 3, 3, 3)), ValueError,
         r"conv2d: a per-sample weight must have one kernel per input: weight.shape\[0\] must "
         r"equal the batch size 2, got weight of shape \(3, 2, 3, 3, 3\)"),
        (lambda: td.conv2d(_z(2, 3, 4, 4), _z(2, 3, 3, 3), _z(3)), ValueError,
         r"conv2d: bias must have shape \(2,\) or per-sample \(2, 2\), got shape \(3,\)"),
        (lambda: td.conv2d(_z(1, 3, 4, 4), _z(2, 3, 3, 3, dtype=np.float32)), TypeError,
         r"conv2d: weight must have the dtype of the input \(float64\), got float32"),
        (lambda: td.conv2d(_z(1, 3, 2, 2), _z(2, 3, 3, 3)), ValueError,
         r"conv2d: output size would be \(0, 0\) for an input of size \(2, 2\) with kernel "
         r"\(3, 3\), stride \(1, 1\) and padding \(0, 0\); it must be at least \(1, 1\)"),
        (lambda: td.conv2d(_z(1, 3, 4, 4), _z(2, 3, 3, 3), stride=1.0), TypeError,
         r"conv2d: stride must be an int or a pair of ints, got 1.0"),
        (lambda: td.conv2d(_z(1, 3, 4, 4), _z(2, 3, 3, 3), padding=(1, -1)), ValueError,
         r"conv2d: padding must be >= 0, got \(1, -1\)"),
        (lambda: td.conv2d(_z(1, 3, 4, 4), _z(2, 3, 3, 3), groups=0), ValueError,
         r"conv2d: groups must be >= 1, got 0"),
        (lambda: td.conv2d(np.zeros((1, 3, 4, 4)), _z(2, 3, 3, 3)), TypeError,
         r"conv2d: input must be a Tensor, got ndarray"),
        (lambda: td.conv2d(_z(1, 3, 4, 4, dtype=np.int64), _z(2, 3, 3, 3)), TypeError,
         r"conv2d: input must be a floating-point tensor, got dtype int64"),
        (lambda: td.max_pool2d(_z(4, 4), 2), ValueError,
         r"max_pool2d: input must be 4-D \(N, C, H, W\), got shape \(4, 4\)"),
        (lambda: td.max_pool2d(_z(1, 1, 4, 4), 3, padding=2), ValueError,
         r"max_pool2d: padding \(2, 2\) must be at most half of kernel_size \(3, 3\)"),
        (lambda: td.avg_pool2d(_z(1, 1, 2, 2), 3), ValueError,
         r"avg_pool2d: output size would be \(0, 0\) for an input of size \(2, 2\)"),
        (lambda: td.avg_pool2d(_z(1, 1, 4, 4), 0), ValueError,
         r"avg_pool2d: kernel_size must be >= 1, got 0"),
        (lambda: td.avg_pool2d(_z(1, 1, 4, 4), 2, stride=2.5), TypeError,
         r"avg_pool2d: stride must be an int or a pair of ints, got 2.5"),
        (lambda: td.global_avg_pool2d(_z(2, 3)), ValueError,
         r"global_avg_pool2d: input must be 4-D \(N, C, H, W\), got shape \(2, 3\)"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, exc, message):
    with pytest.raises(exc, match=message):
        call()
