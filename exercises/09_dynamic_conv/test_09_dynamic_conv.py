"""Graded tests of exercise 09 (dynamic convolution): 12 points.

Every test calls the functions of ``student.py`` (fixture ``impl``) on the stored inputs
(fixture ``refs``) and compares with the library's results (fixture ``check``): the routing
and aggregation of ``DynamicConv2d``, the autograd convolution with per-sample kernels, and a
whole DY-Conv layer's output.
"""

import numpy as np
import pytest

pytestmark = pytest.mark.exercise("09")

FC_NAMES = ("fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias")


def _array(received, name):
    assert received is not None, f"{name}: the function returned None"
    return np.asarray(received)


def _pair(received, name):
    assert received is not None and len(received) == 2, f"{name}: return (kernels, biases)"
    return _array(received[0], f"{name} kernels"), _array(received[1], f"{name} biases")


# ---- the attention over kernels ---------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.parametrize("case", ["one", "hot", "cold"])
def test_kernel_attention(impl, refs, check, case):
    # tau = 1, tau = 30 (near uniform), tau = 0.3 (sharper than softmax(z))
    tau = float(refs[f"att_{case}_temperature"])
    received = impl.kernel_attention(refs["att_x"], *(refs[f"att_{n}"] for n in FC_NAMES), tau)
    check.allclose(_array(received, "pi"), refs[f"att_{case}_expected"],
                   f"attention pi at temperature {tau:g}")


@pytest.mark.points(1)
def test_kernel_attention_large_logits_stay_finite(impl, refs, check):
    # logits near 800: exp overflows without subtracting each row's max
    received = _array(impl.kernel_attention(refs["big_x"], *(refs[f"big_{n}"] for n in FC_NAMES),
                                            1.0), "pi")
    assert np.isfinite(received.astype(np.float64)).all(), (
        "attention pi (logits ~ 800): values are not finite; subtract each row's max before exp")
    check.allclose(received, refs["big_expected"], "attention pi (logits ~ 800)")


# ---- one kernel per sample --------------------------------------------------------------------


@pytest.mark.points(1)
def test_aggregate_kernels(impl, refs, check):
    kernels, _ = _pair(impl.aggregate_kernels(refs["agg_pi"], refs["agg_weight"],
                                              refs["agg_bias"]), "aggregate_kernels")
    check.allclose(kernels, refs["agg_kernels"], "per-sample kernels (N, O, C/g, kh, kw)")


@pytest.mark.points(1)
def test_aggregate_biases(impl, refs, check):
    _, biases = _pair(impl.aggregate_kernels(refs["agg_pi"], refs["agg_weight"],
                                             refs["agg_bias"]), "aggregate_kernels")
    check.allclose(biases, refs["agg_biases"], "per-sample biases (N, O)")


# ---- the per-sample convolution ---------------------------------------------------------------


@pytest.mark.points(1)
@pytest.mark.parametrize("case", ["plain", "strided", "grouped", "depthwise"])
def test_per_sample_conv2d(impl, refs, check, case):
    # plain: stride 1, padding 1; strided: stride 2, padding 2, a 3x2 kernel;
    # grouped: 2 groups; depthwise: groups = channels, stride 2
    stride, padding, groups = (int(v) for v in refs[f"conv_{case}_options"])
    received = impl.per_sample_conv2d(refs[f"conv_{case}_x"], refs[f"conv_{case}_kernels"],
                                      refs[f"conv_{case}_biases"], stride, padding, groups)
    check.allclose(_array(received, "y"), refs[f"conv_{case}_expected"],
                   f"output ({case}: stride {stride}, padding {padding}, groups {groups})")


# ---- a whole layer ----------------------------------------------------------------------------


@pytest.mark.points(2)
def test_a_dyconv_layer_from_the_three_pieces(impl, refs, check):
    # attention at tau = 2 -> aggregation -> convolution (3x3, padding 1), as DynamicConv2d
    x = refs["layer_x"]
    pi = _array(impl.kernel_attention(x, *(refs[f"layer_{n}"] for n in FC_NAMES),
                                      float(refs["layer_temperature"])), "pi")
    kernels, biases = _pair(impl.aggregate_kernels(pi, refs["layer_weight"], refs["layer_bias"]),
                            "aggregate_kernels")
    received = impl.per_sample_conv2d(x, kernels, biases, 1, 1, 1)
    check.allclose(_array(received, "y"), refs["layer_expected"], "the layer's output")
