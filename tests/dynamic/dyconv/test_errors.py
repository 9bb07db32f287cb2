"""Bad arguments to the dynamic convolutions raise errors naming the argument."""

import numpy as np
import pytest

from tinydyn import Tensor
from tinydyn.dynamic.dyconv import CondConv2d, DynamicConv2d


def test_fewer_than_one_kernel_is_refused():
    with pytest.raises(ValueError, match="DynamicConv2d: num_kernels"):
        DynamicConv2d(4, 4, 3, num_kernels=0)
    with pytest.raises(ValueError, match="CondConv2d: num_experts"):
        CondConv2d(4, 4, 3, num_experts=0)


@pytest.mark.parametrize("tau", [0.0, -1.0])
def test_a_non_positive_temperature_is_refused(tau):
    with pytest.raises(ValueError, match="DynamicConv2d: temperature must be > 0"):
        DynamicConv2d(4, 4, 3, temperature=tau)
    layer = DynamicConv2d(4, 4, 3)
    with pytest.raises(ValueError, match="temperature"):
        layer.temperature = tau


def test_channels_not_divisible_by_groups_are_refused():
    with pytest.raises(ValueError, match=r"in_channels \(6\) must be divisible by groups \(4\)"):
        DynamicConv2d(6, 8, 3, groups=4)
    with pytest.raises(ValueError, match=r"out_channels \(6\) must be divisible by groups"):
        CondConv2d(4, 6, 3, groups=4)


def test_an_input_of_the_wrong_rank_or_width_is_refused():
    layer = DynamicConv2d(4, 4, 3)
    with pytest.raises(ValueError, match=r"DynamicConv2d: input must be 4-D \(N, 4, H, W\)"):
        layer(Tensor(np.zeros((4, 8, 8), np.float32)))
    with pytest.raises(ValueError, match="input must be 4-D"):
        layer(Tensor(np.zeros((2, 3, 8, 8), np.float32)))


def test_an_unknown_attention_mode_is_refused():
    with pytest.raises(ValueError, match="attention_mode must be one of"):
        DynamicConv2d(4, 4, 3).set_attention_mode("mean")


def test_mixing_weights_of_the_wrong_shape_are_refused():
    layer = DynamicConv2d(4, 4, 3, num_kernels=2)
    x = Tensor(np.zeros((3, 4, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"weights must have shape \(3, 2\)"):
        layer.mix(x, Tensor(np.zeros((3, 3), np.float32)))
