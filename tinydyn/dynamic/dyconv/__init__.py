"""Dynamic convolution: DY-Conv (softmax attention over K kernels, annealed temperature) and
CondConv (sigmoid-gated expert kernels), their cost model and small CNNs built from them."""

from tinydyn.dynamic.dyconv.layers import (
    ATTENTION_MODES,
    CondConv2d,
    DynamicConv2d,
    MixtureConv2d,
)
from tinydyn.dynamic.dyconv.cost import dynamic_conv_cost, static_conv_cost
from tinydyn.dynamic.dyconv.schedule import (
    set_attention_mode,
    set_temperature,
    temperature_schedule,
)

__all__ = [
    "ATTENTION_MODES", "CondConv2d", "DynamicConv2d", "MixtureConv2d", "dynamic_conv_cost",
    "set_attention_mode", "set_temperature", "static_conv_cost", "temperature_schedule",
]
