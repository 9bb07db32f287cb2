"""nn.init: bounds and statistics of each initialiser, dtype kept, seeds reproducible, errors."""

import math

import numpy as np
import pytest

import tinydyn as td
from tinydyn.nn import init


def big(*shape, dtype=np.float32):
    return td.zeros(*shape, dtype=dtype)


def test_uniform_stays_in_bounds_and_keeps_dtype():
    t = init.uniform_(big(200, 100, dtype=np.float64), -0.5, 2.0, rng=np.random.default_rng(0))
    assert t.dtype == np.float64 and t.data.min() >= -0.5 and t.data.max() < 2.0
    assert abs(t.data.mean() - 0.75) < 0.02


def test_normal_statistics():
    t = init.normal_(big(300, 100), 1.0, 0.5, rng=np.random.default_rng(1))
    assert t.dtype == np.float32
    assert abs(t.data.mean() - 1.0) < 0.01 and abs(t.data.std() - 0.5) < 0.01


def test_constant_zeros_ones():
    t = big(2, 3)
    np.testing.assert_array_equal(init.constant_(t, 2.5).data, np.full((2, 3), 2.5))
    np.testing.assert_array_equal(init.zeros_(t).data, np.zeros((2, 3)))
    np.testing.assert_array_equal(init.ones_(t).data, np.ones((2, 3)))


def test_fill_is_in_place():
    t = big(3, 3)
    array = t.data
    assert init.ones_(t) is t and t.data is array


def test_xavier_uniform_bound():
    t = init.xavier_uniform_(big(300, 200), gain=2.0, rng=np.random.default_rng(2))
    bound = 2.0 * math.sqrt(6 / (200 + 300))
    assert np.abs(t.data).max() <= bound and np.abs(t.data).max() > 0.99 * bound


def test_xavier_normal_std():
    t = init.xavier_normal_(big(400, 200), rng=np.random.default_rng(3))
    assert abs(t.data.std() - math.sqrt(2 / 600)) < 0.01 * math.sqrt(2 / 600) * 5


def test_fans_of_a_conv_weight_include_the_kernel():
    # (out=8, in=4, 3, 3): fan_in = 36, fan_out = 72
    t = init.xavier_uniform_(big(8, 4, 3, 3), rng=np.random.default_rng(4))
    assert np.abs(t.data).max() <= math.sqrt(6 / (36 + 72))


@pytest.mark.parametrize("mode, fan", [("fan_in", 250), ("fan_out", 400)])
def test_kaiming_uniform_relu_bound(mode, fan):
    t = init.kaiming_uniform_(big(400, 250), mode=mode, nonlinearity="relu",
                              rng=np.random.default_rng(5))
    bound = math.sqrt(3) * math.sqrt(2) / math.sqrt(fan)
    assert np.abs(t.data).max() <= bound and np.abs(t.data).max() > 0.99 * bound


def test_kaiming_uniform_with_a_sqrt5_is_the_linear_default():
    t = init.kaiming_uniform_(big(100, 64), a=math.sqrt(5), rng=np.random.default_rng(6))
    assert np.abs(t.data).max() <= 1 / 8 and np.abs(t.data).max() > 0.99 / 8


def test_kaiming_normal_std():
    t = init.kaiming_normal_(big(500, 200), nonlinearity="relu", rng=np.random.default_rng(7))
    assert abs(t.data.std() / math.sqrt(2 / 200) - 1) < 0.02


def test_same_seed_same_values_across_dtypes():
    a = init.normal_(big(5, 5), rng=np.random.default_rng(8))
    b = init.normal_(big(5, 5, dtype=np.float64), rng=np.random.default_rng(8))
    np.testing.assert_array_equal(a.data, b.data.astype(np.float32))


def test_default_rng_follows_manual_seed():
    td.manual_seed(3)
    a = init.uniform_(big(4)).data.copy()
    td.manual_seed(3)
    np.testing.assert_array_equal(init.uniform_(big(4)).data, a)


@pytest.mark.parametrize("name, gain", [("linear", 1.0), ("conv2d", 1.0), ("sigmoid", 1.0),
                                        ("tanh", 5 / 3), ("relu", math.sqrt(2)),
                                        ("leaky_relu", math.sqrt(2 / (1 + 0.01**2)))])
def test_calculate_gain(name, gain):
    assert init.calculate_gain(name) == pytest.approx(gain)


def test_errors():
    with pytest.raises(ValueError, match="calculate_gain: unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match=r"xavier_uniform_: fan-in and fan-out need a tensor with "
                       r"at least 2 dimensions, got shape \(5,\)"):
        init.xavier_uniform_(big(5))
    with pytest.raises(ValueError, match="kaiming_normal_: mode must be 'fan_in' or 'fan_out', "
                       "got 'fan'"):
        init.kaiming_normal_(big(2, 2), mode="fan")
    with pytest.raises(TypeError, match="normal_: tensor must be floating point, got dtype int64"):
        init.normal_(td.tensor(np.arange(3)))
    with pytest.raises(TypeError, match="uniform_: tensor must be a Tensor, got ndarray"):
        init.uniform_(np.zeros(3))
    with pytest.raises(ValueError, match="uniform_: a must be <= b, got a=1.0, b=0.0"):
        init.uniform_(big(2), 1.0, 0.0)
