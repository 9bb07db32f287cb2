"""Post-processing: P-D.7 (compressed outputs equal the masked ones) and P-D.8 (the parameter
count), the place op's gradient, the FLOPs of the compressed layer."""

import numpy as np
import pytest

from tinydyn import Tensor, grad_check
from tinydyn.dynamic.padnet import (
    CompressedDynamicConv2d,
    PadDynamicConv2d,
    compress,
    pad_conv_cost,
    pad_dyconv_net,
    pad_kernel_parameters,
    pad_layers,
    place,
    random_partition,
    stored_parameters,
)
from tinydyn.measure.flops import count_flops

F64 = np.float64


def _partitioned(kappa=0.3, seed=0, dtype=F64, width=4):
    net = pad_dyconv_net(1, 10, width=width, rng=np.random.default_rng(seed), dtype=dtype)
    random_partition(net, kappa, np.random.default_rng(seed))
    for i, layer in enumerate(pad_layers(net)):
        layer.phi.data[...] = 0.3 - 0.5 * i     # trained-looking scales, not 1
    return net.eval()


def test_the_storage_formula_gives_the_spec_table():
    assert pad_kernel_parameters(1000, 4, 0.3) / 4000 == pytest.approx(0.475)
    assert pad_kernel_parameters(1000, 4, 0.5) / 4000 == pytest.approx(0.625)
    assert pad_kernel_parameters(1000, 8, 0.5) / 8000 == pytest.approx(0.5625)
    with pytest.raises(ValueError, match="kappa"):
        pad_kernel_parameters(10, 4, 0.0)


def test_place_writes_the_values_and_its_gradient_checks():
    rng = np.random.default_rng(0)
    index = np.array([4, 0, 2])
    base = np.array([0.0, 5.0, 0.0, 6.0, 0.0])
    out = place(Tensor(np.ones((2, 3))), Tensor(base), index).data
    assert out.tolist() == [[1, 5, 1, 6, 1]] * 2
    v = Tensor(rng.standard_normal((3, 3)), requires_grad=True)
    b = Tensor(base.copy(), requires_grad=True)
    assert grad_check(lambda v_, b_: place(v_, b_, index), v, b)
    with pytest.raises(ValueError, match="distinct"):
        place(v, b, np.array([0, 0, 1]))
    with pytest.raises(TypeError, match="index"):
        place(v, b, np.array([0.0, 1.0, 2.0]))


@pytest.mark.parametrize("kappa", [0.1, 0.3, 0.7, 1.0])
def test_the_compressed_model_gives_the_masked_models_outputs(kappa):
    net = _partitioned(kappa)
    small = compress(net)
    x = Tensor(np.random.default_rng(1).standard_normal((7, 1, 8, 8)))
    np.testing.assert_allclose(small(x).data, net(x).data, rtol=1e-12, atol=1e-12)
    net32 = _partitioned(kappa, dtype=np.float32)
    x32 = Tensor(x.data.astype(np.float32))
    np.testing.assert_allclose(compress(net32)(x32).data, net32(x32).data, rtol=1e-5,
                               atol=1e-6)
    assert all(isinstance(m, PadDynamicConv2d) for m in pad_layers(net))   # not modified


@pytest.mark.parametrize("kappa", [0.1, 0.5, 0.9])
def test_the_stored_count_is_the_formula_plus_the_unpartitioned_parameters(kappa):
    net = _partitioned(kappa, width=5)
    layers = pad_layers(net)
    unpartitioned = net.num_parameters() - sum(
        layer.weight.data.size + layer.static_weight.data.size + layer.phi.data.size
        for layer in layers)
    formula = sum(pad_kernel_parameters(layer.mask.size, layer.num_kernels, layer.dynamic_ratio)
                  for layer in layers)
    counts = stored_parameters(compress(net))
    assert counts["values"] == pytest.approx(formula + unpartitioned, abs=1e-9)
    assert counts["index"] == sum(int(layer.mask.sum()) for layer in layers)


def test_the_compressed_layer_counts_the_aggregation_of_dynamic_entries_only():
    layer = PadDynamicConv2d(4, 6, 3, num_kernels=4, padding=1, rng=np.random.default_rng(0),
                             dtype=F64)
    layer.set_mask((np.random.default_rng(1).random(layer.mask_shape) < 0.25).astype(F64))
    small = compress(layer)
    assert isinstance(small, CompressedDynamicConv2d)
    x = Tensor(np.random.default_rng(2).standard_normal((1, 4, 7, 7)))
    assert count_flops(small, x) == pad_conv_cost(small, (7, 7))["total"]
    full = pad_conv_cost(layer, (7, 7))
    n = layer.mask.size
    assert full["aggregation"] == 2 * 4 * int(layer.mask.sum()) + 2 * 4 * 6
    assert full["aggregation"] < 2 * 4 * n


def test_a_compressed_model_still_trains():
    net = _partitioned(0.5)
    small = compress(net)
    x = Tensor(np.random.default_rng(1).standard_normal((3, 1, 8, 8)))
    small(x).sum().backward()
    layer = next(m for m in small.modules() if isinstance(m, CompressedDynamicConv2d))
    assert layer.dynamic_values.grad is not None and layer.static_values.grad is not None


def test_compress_rejects_what_is_not_a_module():
    with pytest.raises(TypeError, match="compress"):
        compress("net")
    with pytest.raises(TypeError, match="CompressedDynamicConv2d"):
        CompressedDynamicConv2d("layer")
