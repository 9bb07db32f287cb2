"""Dynamic convolution layers: K kernels mixed per sample by a small routing branch.

Both layers hold K kernels ``W_k`` (O, C/g, kh, kw) and biases ``b_k`` (O,), look at the whole
input through global average pooling, compute mixing weights ``pi`` (N, K), and convolve each
sample with its own kernel::

    a  = GAP(x)                                  (N, C)
    pi = routing(a)                              (N, K)
    W~ = pi @ W.reshape(K, -1)  -> (N, O, C/g, kh, kw)      b~ = pi @ b   (N, O)
    y  = conv2d(x, W~, b~)                       per-sample weights: one batched matmul

* :class:`DynamicConv2d` (DY-Conv, Chen et al. 2020): ``pi = softmax(FC2(relu(FC1(a))) / tau)``,
  rows sum to 1, so W~ stays in the convex hull of the kernels.
* :class:`CondConv2d` (Yang et al. 2019): ``pi = sigmoid(a @ R + c)``, independent gates.

Why mixing kernels is cheap: the mix costs K * O * C/g * kh * kw per sample, independent of the
image size, while the convolution costs Ho * Wo times O * C/g * kh * kw. Mixing the *outputs*
of K convolutions instead (the same result, by linearity) would cost K convolutions.

The last mixing weights are kept in ``layer.last_weights`` (a NumPy copy) for inspection.
"""

from __future__ import annotations

import math

import numpy as np

from tinydyn._checks import check_float, check_int, fail
from tinydyn.autograd import ops_conv
from tinydyn.autograd.ops_elementwise import relu, sigmoid
from tinydyn.autograd.ops_linalg import linear, matmul
from tinydyn.autograd.ops_nn import softmax
from tinydyn.autograd.ops_reduce import mean
from tinydyn.autograd.ops_shape import reshape
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import Tensor
from tinydyn.nn import init
from tinydyn.nn.conv import set_conv_geometry
from tinydyn.nn.module import Module, Parameter

__all__ = ["CondConv2d", "DynamicConv2d", "MixtureConv2d", "ATTENTION_MODES"]

# "sample": one mix per sample (the method); "batch": the batch's mean mix for every sample,
# a known mistake (it removes the per-sample dynamism), kept for the ablation.
ATTENTION_MODES = ("sample", "batch")


class MixtureConv2d(Module):
    """The shared part: K kernels and biases, their per-sample mix, and the convolution.

    Subclasses define ``routing(x) -> pi (N, K)``. Shapes: x (N, C, H, W) -> (N, O, Ho, Wo).
    """

    fn = "MixtureConv2d"
    count_name = "num_kernels"

    def __init__(self, in_channels, out_channels, kernel_size, num_kernels, stride=1, padding=0,
                 groups=1, bias=True, rng=None, dtype=np.float32):
        super().__init__()
        fn = self.fn
        set_conv_geometry(self, fn, in_channels, out_channels, kernel_size, stride, padding,
                          groups, bias)
        self.num_kernels = check_int(fn, self.count_name, num_kernels, min_value=1)
        self.dtype = np.dtype(dtype)
        if self.dtype.kind != "f":
            fail(fn, f"dtype must be a floating dtype, got {self.dtype}", TypeError)
        self._rng = get_rng(rng, fn)
        kh, kw = self.kernel_size
        k, o, cg = self.num_kernels, out_channels, in_channels // groups
        # every kernel initialised like a static convolution of the same fan-in
        bound = 1.0 / math.sqrt(cg * kh * kw)
        self.weight = Parameter(np.empty((k, o, cg, kh, kw), dtype=self.dtype))
        init.uniform_(self.weight, -bound, bound, rng=self._rng)
        if bias:
            self.bias = Parameter(np.empty((k, o), dtype=self.dtype))
            init.uniform_(self.bias, -bound, bound, rng=self._rng)
        else:
            self.register_parameter("bias", None)
        self.attention_mode = "sample"
        self.last_weights = None

    # ---- the parts ---------------------------------------------------------------------------
    def routing(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def check_input(self, x) -> None:
        fn = self.fn
        if not isinstance(x, Tensor):
            fail(fn, f"input must be a Tensor, got {type(x).__name__}", TypeError)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            fail(fn, f"input must be 4-D (N, {self.in_channels}, H, W), got shape {x.shape}")
        if x.dtype != self.dtype:
            fail(fn, f"input must have the layer's dtype {self.dtype}, got {x.dtype}", TypeError)

    def aggregate(self, weights: Tensor) -> tuple:
        """The per-sample kernels and biases: weights (N, K) -> ``(W~ (N, O, C/g, kh, kw),
        b~ (N, O) or None)`` with ``W~[n] = sum_k weights[n, k] * W_k`` (one matmul)."""
        k = self.num_kernels
        if not isinstance(weights, Tensor) or weights.ndim != 2 or weights.shape[1] != k:
            fail(self.fn, f"weights must be a Tensor of shape (N, {k}), got "
                 f"{getattr(weights, 'shape', type(weights).__name__)}")
        kernel = matmul(weights, reshape(self.weight, (k, -1)))  # (N, O*C/g*kh*kw)
        kernel = reshape(kernel, (weights.shape[0],) + self.weight.shape[1:])
        bias = None if self.bias is None else matmul(weights, self.bias)  # (N, O)
        return kernel, bias

    def mix(self, x: Tensor, weights: Tensor) -> Tensor:
        """Convolve sample n with ``sum_k weights[n, k] * (W_k, b_k)``; weights (N, K)."""
        k = self.num_kernels
        if weights.shape != (x.shape[0], k):
            fail(self.fn, f"weights must have shape ({x.shape[0]}, {k}), got {weights.shape}")
        kernel, bias = self.aggregate(weights)
        return ops_conv.conv2d(x, kernel, bias, self.stride, self.padding, self.groups)

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        weights = self.routing(x)
        if self.attention_mode == "batch":
            # the pitfall: one kernel for the whole batch (a static conv with the mean mix)
            mean_w = mean(weights, dim=0, keepdim=True)
            self.last_weights = np.repeat(mean_w.data, x.shape[0], axis=0)
            k = self.num_kernels
            kernel = reshape(matmul(mean_w, reshape(self.weight, (k, -1))),
                             self.weight.shape[1:])
            bias = None if self.bias is None else reshape(matmul(mean_w, self.bias),
                                                          (self.out_channels,))
            return ops_conv.conv2d(x, kernel, bias, self.stride, self.padding, self.groups)
        self.last_weights = weights.data.copy()
        return self.mix(x, weights)

    def set_attention_mode(self, mode: str) -> None:
        """'sample' (per-sample mixing, the method) or 'batch' (the batch-mean ablation)."""
        if mode not in ATTENTION_MODES:
            fail(self.fn, f"attention_mode must be one of {ATTENTION_MODES}, got {mode!r}")
        self.attention_mode = mode

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"{self.count_name}={self.num_kernels}, stride={self.stride}, "
                f"padding={self.padding}, groups={self.groups}, bias={self.bias is not None}")


class DynamicConv2d(MixtureConv2d):
    """DY-Conv: softmax attention over K kernels with a temperature.

    ``pi = softmax(FC2(relu(FC1(GAP(x)))) / temperature)``; FC1 (C -> hidden), FC2
    (hidden -> K), hidden = ``max(1, in_channels // reduction)`` unless ``hidden`` is given.
    ``temperature`` (> 0) is set from outside each step, e.g. by
    :func:`tinydyn.dynamic.dyconv.temperature_schedule` (30 -> 1, as the paper).
    """

    fn = "DynamicConv2d"

    def __init__(self, in_channels, out_channels, kernel_size, num_kernels=4, stride=1,
                 padding=0, groups=1, bias=True, reduction=4, hidden=None, temperature=1.0,
                 rng=None, dtype=np.float32):
        super().__init__(in_channels, out_channels, kernel_size, num_kernels, stride, padding,
                         groups, bias, rng, dtype)
        fn = self.fn
        reduction = check_int(fn, "reduction", reduction, min_value=1)
        if hidden is None:
            hidden = max(1, in_channels // reduction)
        self.hidden = check_int(fn, "hidden", hidden, min_value=1)
        self.temperature = temperature
        for name, shape in (("fc1", (self.hidden, in_channels)),
                            ("fc2", (num_kernels, self.hidden))):
            bound = 1.0 / math.sqrt(shape[1])
            setattr(self, f"{name}_weight", Parameter(np.empty(shape, dtype=self.dtype)))
            setattr(self, f"{name}_bias", Parameter(np.empty(shape[0], dtype=self.dtype)))
            init.uniform_(getattr(self, f"{name}_weight"), -bound, bound, rng=self._rng)
            init.uniform_(getattr(self, f"{name}_bias"), -bound, bound, rng=self._rng)

    @property
    def temperature(self) -> float:
        return self._temperature

    @temperature.setter
    def temperature(self, value) -> None:
        self._temperature = check_float(self.fn, "temperature", value, low=0.0, low_open=True)

    def logits(self, x: Tensor) -> Tensor:
        """z (N, K) before the temperature: FC2(relu(FC1(GAP(x))))."""
        pooled = ops_conv.global_avg_pool2d(x)
        hidden = relu(linear(pooled, self.fc1_weight, self.fc1_bias))
        return linear(hidden, self.fc2_weight, self.fc2_bias)

    def routing(self, x: Tensor) -> Tensor:
        return softmax(self.logits(x) / self._temperature, dim=-1)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", hidden={self.hidden}, temperature={self.temperature}"


class CondConv2d(MixtureConv2d):
    """CondConv: ``pi = sigmoid(GAP(x) @ R.T + c)``, one independent gate per expert kernel.

    No temperature and no sum-to-one: scaling every gate by c scales the kernel by c.
    """

    fn = "CondConv2d"
    count_name = "num_experts"

    def __init__(self, in_channels, out_channels, kernel_size, num_experts=4, stride=1,
                 padding=0, groups=1, bias=True, rng=None, dtype=np.float32):
        super().__init__(in_channels, out_channels, kernel_size, num_experts, stride, padding,
                         groups, bias, rng, dtype)
        bound = 1.0 / math.sqrt(in_channels)
        self.router_weight = Parameter(np.empty((num_experts, in_channels), dtype=self.dtype))
        self.router_bias = Parameter(np.empty(num_experts, dtype=self.dtype))
        init.uniform_(self.router_weight, -bound, bound, rng=self._rng)
        init.uniform_(self.router_bias, -bound, bound, rng=self._rng)

    def routing(self, x: Tensor) -> Tensor:
        pooled = ops_conv.global_avg_pool2d(x)
        return sigmoid(linear(pooled, self.router_weight, self.router_bias))
