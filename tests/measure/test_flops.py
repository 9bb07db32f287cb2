import pytest

import tinydyn as td
from tinydyn.measure import flops as F


def _resnet18_flops():
    """ResNet-18 at 224x224, layer by layer (convolutions have no bias; the classifier has)."""
    total = F.conv2d_flops(3, 64, 7, 112, bias=False)  # stem, stride 2
    spatial = {64: 56, 128: 28, 256: 14, 512: 7}
    in_ch = 64
    for ch in (64, 128, 256, 512):
        hw = spatial[ch]
        total += F.conv2d_flops(in_ch, ch, 3, hw, bias=False)  # first conv of the stage
        total += 3 * F.conv2d_flops(ch, ch, 3, hw, bias=False)  # the other three
        if ch != in_ch:
            total += F.conv2d_flops(in_ch, ch, 1, hw, bias=False)  # projection shortcut
        in_ch = ch
    return total + F.linear_flops(512, 1000)


def test_resnet18_matches_the_reported_1_8_billion_multiply_adds():
    # He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016), Table 1 gives
    # 1.8 x 10^9 FLOPs for ResNet-18, counting multiply-adds; torchvision's model card lists
    # 1.81 GFLOPS. With a multiply-add = 2 FLOPs our count must be twice that.
    multiply_adds = _resnet18_flops() / 2
    assert multiply_adds == pytest.approx(1.814e9, rel=2e-3)


def test_linear_flops_counts_two_per_multiply_add_plus_bias():
    assert F.linear_flops(4, 3, rows=2) == 2 * (2 * 4 * 3 + 3)
    assert F.linear_flops(4, 3, bias=False) == 24


def test_conv2d_flops_divides_input_channels_by_groups():
    dense = F.conv2d_flops(8, 8, 3, 4, bias=False)
    assert F.conv2d_flops(8, 8, 3, 4, groups=8, bias=False) == dense // 8


def test_counter_charges_matmul_two_flops_per_multiply_add():
    a, b = td.ones(3, 4), td.ones(4, 5)
    with F.FlopCounter() as fc:
        a @ b
    assert fc.total == 2 * 3 * 4 * 5 and fc.by_op == {"MatMul": 120}


def test_counter_charges_one_flop_per_element_and_nothing_for_reshape():
    x = td.ones(3, 5)
    with F.FlopCounter() as fc:
        (x + x).reshape(15)
    assert fc.total == 15


def test_counter_records_under_no_grad():
    x = td.ones(2, 2)
    with td.no_grad(), F.FlopCounter() as fc:
        x * x
    assert fc.total == 4


def test_nested_counters_both_see_inner_ops():
    x = td.ones(2, 2)
    with F.FlopCounter() as outer:
        x + x
        with F.FlopCounter() as inner:
            x * x
    assert (outer.total, inner.total) == (8, 4)


def test_add_flops_charges_work_done_outside_the_ops():
    with F.FlopCounter() as fc:
        F.add_flops(100, "skim kernel")
    assert fc.by_op["skim kernel"] == 100


def test_add_flops_rejects_negative_counts():
    with pytest.raises(ValueError, match="add_flops: flops must be >= 0, got -1"):
        F.add_flops(-1)


def test_counter_stops_observing_after_exit():
    x = td.ones(2)
    with F.FlopCounter() as fc:
        pass
    x + x
    assert fc.total == 0


def test_count_flops_of_a_function():
    w = td.ones(4, 4)
    assert F.count_flops(lambda v: v @ w, td.ones(1, 4)) == 32


def test_format_flops_uses_si_prefixes():
    assert F.format_flops(999) == "999 FLOPs"
    assert F.format_flops(1_234_567) == "1.23 MFLOPs"
    assert F.format_flops(3.6e9) == "3.6 GFLOPs"


def test_lstm_flops_scales_with_steps_and_batch():
    one = F.lstm_cell_flops(64, 128)
    assert F.lstm_flops(64, 128, steps=10, batch=3) == 30 * one
    assert one == 2 * 4 * 128 * (64 + 128) + 13 * 128


def test_transformer_layer_flops_is_dominated_by_matmuls():
    total = F.transformer_layer_flops(seq_len=128, d_model=768, num_heads=12, d_ff=3072)
    matmuls = 2 * 128 * (4 * 768 * 768 + 2 * 768 * 3072) + 2 * 2 * 128 * 128 * 768
    assert matmuls < total < 1.02 * matmuls
