"""The per-input cost model against the op-level FLOP counter."""

import numpy as np
import pytest

from tinydyn import Tensor
from tinydyn.dynamic.dyconv import (
    CondConv2d,
    DynamicConv2d,
    dynamic_conv_cost,
    static_conv_cost,
)
from tinydyn.measure.flops import FlopCounter, count_flops
from tinydyn.nn.conv import Conv2d

LAYERS = [
    lambda: DynamicConv2d(16, 32, 3, num_kernels=4, padding=1),
    lambda: DynamicConv2d(8, 8, 3, num_kernels=3, stride=2, groups=8, bias=False),
    lambda: CondConv2d(6, 12, (3, 1), num_experts=5, padding=(1, 0), groups=3),
]


@pytest.mark.parametrize("make", LAYERS)
def test_cost_model_equals_the_flop_counter(make):
    layer = make()
    x = Tensor(np.random.default_rng(0).standard_normal((5, layer.in_channels, 9, 10))
               .astype(np.float32))
    cost = dynamic_conv_cost(layer, (9, 10))
    assert count_flops(layer, x) == 5 * cost["total"]


def test_cost_parts_match_the_counter_by_op():
    layer = DynamicConv2d(16, 32, 3, num_kernels=4, padding=1)
    x = Tensor(np.ones((2, 16, 8, 8), np.float32))
    with FlopCounter() as fc:
        layer(x)
    cost = dynamic_conv_cost(layer, (8, 8))
    assert fc.by_op["Conv2d"] == 2 * cost["conv"]
    assert fc.by_op["GlobalAvgPool2d"] == 2 * cost["pool"]


def test_static_cost_equals_the_counted_static_convolution():
    layer = DynamicConv2d(4, 6, 3, stride=2, padding=1)
    conv = Conv2d(4, 6, 3, stride=2, padding=1)
    x = Tensor(np.ones((3, 4, 11, 11), np.float32))
    assert count_flops(conv, x) == 3 * static_conv_cost(layer, (11, 11))


def test_aggregation_does_not_grow_with_the_image_but_the_convolution_does():
    layer = DynamicConv2d(8, 8, 3, padding=1)
    small, big = dynamic_conv_cost(layer, (4, 4)), dynamic_conv_cost(layer, (16, 16))
    assert small["aggregation"] == big["aggregation"]
    assert big["conv"] == 16 * small["conv"]


def test_cost_refuses_a_bad_size():
    with pytest.raises(ValueError, match="dynamic_conv_cost: input_hw must be a pair"):
        dynamic_conv_cost(DynamicConv2d(2, 2, 3), 8)
