"""Exercise 09 (dynamic convolution): DY-Conv's forward pass, piece by piece.

The student writes the forward pass of lesson 09's layer:

* ``kernel_attention(x, fc1_weight, fc1_bias, fc2_weight, fc2_bias, temperature)``: the
  attention ``softmax(FC2(relu(FC1(GAP(x)))) / tau)`` over the K kernels, (N, K);
* ``aggregate_kernels(pi, weight, bias)``: each sample's mixed kernel and bias;
* ``per_sample_conv2d(x, kernels, biases, stride, padding, groups)``: the convolution with one
  kernel per sample, grouped and depthwise included.

The references come from the library's real paths: the routing of
:class:`~tinydyn.dynamic.dyconv.DynamicConv2d` with the given attention weights, its
``aggregate``, the autograd ``conv2d`` with a per-sample (5-D) weight, and a whole layer's
forward pass, which the graded test composes from the student's three functions.
"""

from __future__ import annotations

import numpy as np

from tinydyn.autograd import ops_conv
from tinydyn.autograd.function import no_grad
from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.dyconv import DynamicConv2d

TITLE = "Dynamic convolution: kernel attention with a temperature, per-sample convolution"
LESSON = "lessons/09_dynamic_conv.py"
PREREQUISITES = ("01", "02")  # lessons to have done first (the instructors' syllabus)
# What student.py may import (see tinydyn.grading.integrity); nothing from tinydyn.
ALLOWED_IMPORTS = ("numpy", "math")

TEMPERATURES = {"one": 1.0, "hot": 30.0, "cold": 0.3}
# (x shape, out channels, kernel (kh, kw), stride, padding, groups) of the graded convolutions
CONV_CASES = {"plain": ((3, 4, 6, 5), 5, (3, 3), 1, 1, 1),
              "strided": ((3, 4, 7, 6), 4, (3, 2), 2, 2, 1),
              "grouped": ((2, 6, 5, 5), 4, (3, 3), 1, 1, 2),
              "depthwise": ((2, 4, 6, 6), 4, (3, 3), 2, 1, 4)}
FC_NAMES = ("fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias")


def _layer(fc, temperature, in_channels, out_channels=1, kernel=1, padding=0):
    """A float64 DynamicConv2d carrying the given attention weights."""
    hidden, k = fc[0].shape[0], fc[2].shape[0]
    layer = DynamicConv2d(in_channels, out_channels, kernel, num_kernels=k, padding=padding,
                          hidden=hidden, temperature=float(temperature),
                          rng=np.random.default_rng(0), dtype=np.float64)
    for name, value in zip(FC_NAMES, fc):
        getattr(layer, name).data[...] = value
    return layer


def _attention(x, fc1_weight, fc1_bias, fc2_weight, fc2_bias, temperature):
    x = np.asarray(x, np.float64)
    layer = _layer((fc1_weight, fc1_bias, fc2_weight, fc2_bias), temperature, x.shape[1])
    with no_grad():
        return layer.routing(Tensor(x)).data.copy()


def _aggregate(pi, weight, bias):
    k, o, cg, kh, kw = np.shape(weight)
    layer = DynamicConv2d(cg, o, (kh, kw), num_kernels=k, rng=np.random.default_rng(0),
                          dtype=np.float64)
    layer.weight.data[...] = weight
    layer.bias.data[...] = bias
    with no_grad():
        kernels, biases = layer.aggregate(Tensor(np.asarray(pi, np.float64)))
    return kernels.data.copy(), biases.data.copy()


def _conv(x, kernels, biases, stride, padding, groups):
    with no_grad():
        y = ops_conv.conv2d(Tensor(np.asarray(x, np.float64)), Tensor(np.asarray(kernels)),
                            Tensor(np.asarray(biases)), int(stride), int(padding), int(groups))
    return y.data.copy()


class SOLUTION:
    """The functions of ``exercises/09_dynamic_conv/student.py``, implemented with the
    library."""

    kernel_attention = staticmethod(_attention)
    aggregate_kernels = staticmethod(_aggregate)
    per_sample_conv2d = staticmethod(_conv)


def _fc(rng, c, hidden, k, scale=1.0):
    return (rng.normal(0, scale, (hidden, c)), rng.normal(0, 0.5, hidden),
            rng.normal(0, scale, (k, hidden)), rng.normal(0, 0.5, k))


def make_references(seed: int) -> dict:
    """Inputs and the library's outputs, all float64 (ints for the conv options)."""
    rng = np.random.default_rng(seed)
    out = {}
    # attention: one input, three temperatures
    x = rng.normal(0.3, 1.0, (5, 6, 4, 5))
    fc = _fc(rng, 6, 3, 4, scale=1.5)
    out["att_x"] = x
    out.update({f"att_{name}": v for name, v in zip(FC_NAMES, fc)})
    for case, tau in TEMPERATURES.items():
        out[f"att_{case}_temperature"] = np.array(tau)
        out[f"att_{case}_expected"] = _attention(x, *fc, tau)
    # logits near 800 at tau = 1: exp overflows without the max shift
    big = list(_fc(rng, 6, 3, 4))
    big[3] = big[3] + np.array([800.0, 799.0, 797.0, 790.0])
    out["big_x"] = rng.normal(0.0, 1.0, (3, 6, 3, 3))
    out.update({f"big_{name}": v for name, v in zip(FC_NAMES, big)})
    out["big_expected"] = _attention(out["big_x"], *big, 1.0)
    # aggregation: 4 samples, K = 3 kernels (6, 2, 3, 3), every row of pi different
    pi = rng.dirichlet(np.ones(3), size=4)
    weight, bias = rng.normal(0, 1, (3, 6, 2, 3, 3)), rng.normal(0, 1, (3, 6))
    kernels, biases = _aggregate(pi, weight, bias)
    out.update(agg_pi=pi, agg_weight=weight, agg_bias=bias, agg_kernels=kernels,
               agg_biases=biases)
    # per-sample convolutions
    for case, (shape, o, (kh, kw), stride, padding, groups) in CONV_CASES.items():
        n, c = shape[:2]
        cx = rng.normal(0, 1, shape)
        ck = rng.normal(0, 1, (n, o, c // groups, kh, kw))
        cb = rng.normal(0, 1, (n, o))
        out.update({f"conv_{case}_x": cx, f"conv_{case}_kernels": ck, f"conv_{case}_biases": cb,
                    f"conv_{case}_options": np.array([stride, padding, groups], np.int64),
                    f"conv_{case}_expected": _conv(cx, ck, cb, stride, padding, groups)})
    # a whole layer: 3 -> 4 channels, 3x3, padding 1, K = 4, tau = 2
    layer = _layer(_fc(rng, 3, 3, 4, scale=1.5), 2.0, 3, out_channels=4, kernel=3, padding=1)
    layer.weight.data[...] = rng.normal(0, 0.5, layer.weight.shape)
    layer.bias.data[...] = rng.normal(0, 0.5, layer.bias.shape)
    lx = rng.normal(0.2, 1.0, (4, 3, 6, 6))
    with no_grad():
        expected = layer(Tensor(lx)).data.copy()
    out.update({f"layer_{name}": getattr(layer, name).data.copy()
                for name in FC_NAMES + ("weight", "bias")})
    out.update(layer_x=lx, layer_temperature=np.array(2.0), layer_expected=expected)
    return out
