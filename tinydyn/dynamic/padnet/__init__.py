"""PAD-Net (He et al., ACL 2023): partially dynamic layers, Iterative Mode Partition (IMP)
and the post-processing that deletes the parameters a partition made redundant.

The MoE network and the piecewise task of the experiments are in
:mod:`tinydyn.dynamic.padnet.moe_net`."""

from tinydyn.dynamic.padnet.layers import SCALE_MODES, PadDynamicConv2d, PadMixin, check_mask
from tinydyn.dynamic.padnet.partition import (
    check_kappa,
    density_schedule,
    imp,
    magnitude_partition,
    mask_saliency,
    normalise,
    pad_layers,
    random_partition,
    select_masks,
    snip_scores,
)
from tinydyn.dynamic.padnet.moe import MoELinear, PadMoELinear
from tinydyn.dynamic.padnet.compress import (
    CompressedDynamicConv2d,
    CompressedMoELinear,
    compress,
    pad_kernel_parameters,
    place,
    stored_parameters,
)
from tinydyn.dynamic.padnet.models import pad_conv_cost, pad_dyconv_net, to_pad

__all__ = [
    "SCALE_MODES", "CompressedDynamicConv2d", "CompressedMoELinear", "MoELinear",
    "PadDynamicConv2d", "PadMixin", "PadMoELinear", "check_kappa",
    "check_mask", "compress", "density_schedule", "imp", "magnitude_partition",
    "mask_saliency", "normalise", "pad_conv_cost", "pad_dyconv_net", "pad_kernel_parameters",
    "pad_layers", "place", "random_partition", "select_masks", "snip_scores",
    "stored_parameters", "to_pad",
]
