"""Partially dynamic layers (PAD-Net, He et al. 2023): each entry of a dynamic layer's kernel is
either dynamic (input-dependent, as in the fully dynamic layer) or static (one shared value).

For an entry ``j`` of the computational kernel (spec D.2)::

    W~_j(x) = lambda_d * M_j * W^_j(x) + lambda_s * (1 - M_j) * Wbar_j
    lambda_d = 2 * sigmoid(phi),  lambda_s = 2 - lambda_d        (phi = 0: both are 1)

``M`` (1 = dynamic) is a frozen buffer with the shape of one kernel, chosen by Iterative Mode
Partition (:mod:`tinydyn.dynamic.padnet.partition`); ``Wbar`` (one static kernel) and the scalar
``phi`` are trained with the rest. What every PAD layer shares lives in :class:`PadMixin`: the
mask, the scale factors, and the *relaxed* mask IMP differentiates through.

:class:`PadDynamicConv2d` is DY-Conv with this split: the K kernels are mixed by the attention as
before, then blended entry by entry with the static kernel. The bias and the attention branch
stay fully dynamic (as in the reference code). The PAD MoE layer is in
:mod:`tinydyn.dynamic.padnet.moe`.
"""

from __future__ import annotations

import math

import numpy as np

from tinydyn._checks import fail
from tinydyn.autograd import ops_conv
from tinydyn.autograd.function import is_grad_enabled
from tinydyn.autograd.ops_elementwise import sigmoid
from tinydyn.autograd.ops_linalg import matmul
from tinydyn.autograd.ops_shape import reshape
from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.dyconv.layers import DynamicConv2d
from tinydyn.nn import init
from tinydyn.nn.module import Parameter

__all__ = ["SCALE_MODES", "PadDynamicConv2d", "PadMixin", "check_mask"]

# "both": lambda_d = 2 sigmoid(phi), lambda_s = 2 - lambda_d (the method); the others are the
# reference code's ablations: only one side scaled (the other fixed at 1), or neither.
SCALE_MODES = ("both", "dynamic", "static", "none")


def check_mask(fn: str, mask, shape) -> np.ndarray:
    """A 0/1 array of exactly ``shape`` (any real dtype), or a ValueError naming ``mask``."""
    array = np.asarray(mask)
    if array.shape != tuple(shape):
        fail(fn, f"mask must have shape {tuple(shape)} (one kernel), got shape {array.shape}")
    if array.dtype.kind not in "biuf":
        fail(fn, f"mask must hold numbers 0/1, got dtype {array.dtype}", TypeError)
    if not np.isin(array, (0, 1)).all():
        fail(fn, "mask must hold only 0 (static) and 1 (dynamic)")
    return array


class PadMixin:
    """The PAD machinery shared by every partially dynamic layer.

    The subclass sets ``self.fn``, calls :meth:`_init_pad` with the shape of one kernel and the
    static tensor's init bound, and defines :meth:`dynamic_values` -> (K, *mask_shape).
    """

    def _init_pad(self, shape, bound, rng, scale_mode="both") -> None:
        if scale_mode not in SCALE_MODES:
            fail(self.fn, f"scale_mode must be one of {SCALE_MODES}, got {scale_mode!r}")
        self.scale_mode = scale_mode
        # initialised independently like one more kernel, not as the kernels' mean (ref. code)
        self.static_weight = Parameter(np.empty(shape, dtype=self.dtype))
        init.uniform_(self.static_weight, -bound, bound, rng=rng)
        self.phi = Parameter(np.zeros(1, dtype=self.dtype))
        # the mask is a buffer: saved with the model, never seen by an optimiser
        self.register_buffer("mask", np.ones(shape, dtype=self.dtype))
        self._relaxed = None          # a Tensor (1, N) with requires_grad while IMP scores
        self.lambda_history = []      # lambda_d at every training forward (for the plots)

    # ---- the mask -------------------------------------------------------------------------
    @property
    def mask_shape(self) -> tuple:
        return self.static_weight.shape

    @property
    def dynamic_ratio(self) -> float:
        """Fraction of the kernel's entries that are dynamic (kappa of this layer)."""
        return float(self.mask.mean())

    def set_mask(self, mask) -> None:
        """Freeze a new 0/1 mask (shape of one kernel) into the buffer."""
        mask = check_mask(self.fn, mask, self.mask_shape)
        self.mask = mask.astype(self.dtype)

    def start_scoring(self) -> None:
        """Use a relaxed copy of the mask whose gradient IMP reads (:meth:`mask_grad`)."""
        self._relaxed = Tensor(self.mask.reshape(1, -1).astype(self.dtype), requires_grad=True)

    def stop_scoring(self) -> None:
        self._relaxed = None

    def mask_grad(self) -> np.ndarray:
        """dL/dm accumulated since :meth:`start_scoring`, shape of one kernel (zeros if none)."""
        if self._relaxed is None:
            fail(self.fn, "mask_grad needs start_scoring() first")
        grad = self._relaxed.grad
        if grad is None:
            return np.zeros(self.mask_shape, dtype=np.float64)
        return np.asarray(grad.data, dtype=np.float64).reshape(self.mask_shape)

    def dynamic_values(self) -> np.ndarray:
        raise NotImplementedError

    # ---- the scale factors ----------------------------------------------------------------
    def scales(self):
        """(lambda_d, lambda_s) as Tensors of shape (1,): 2 sigmoid(phi) and 2 - lambda_d."""
        one = Tensor(np.ones(1, dtype=self.dtype))
        lam_d = 2.0 * sigmoid(self.phi) if self.scale_mode in ("both", "dynamic") else one
        if self.scale_mode == "both":
            lam_s = 2.0 - lam_d
        elif self.scale_mode == "static":
            lam_s = 2.0 * sigmoid(self.phi)
        else:
            lam_s = one
        return lam_d, lam_s

    def scale_values(self) -> tuple:
        """(lambda_d, lambda_s) as floats."""
        lam_d, lam_s = self.scales()
        return float(lam_d.data[0]), float(lam_s.data[0])

    def log_lambda(self, lam_d: Tensor) -> None:
        """Record lambda_d at a training forward (not while IMP scores, not in evaluation)."""
        if self.training and is_grad_enabled() and self._relaxed is None:
            self.lambda_history.append(float(lam_d.data[0]))

    def mask_tensor(self, shape=None) -> Tensor:
        """The mask as a Tensor of ``shape`` (default (1, N)): the relaxed one while scoring."""
        m = self._relaxed if self._relaxed is not None else Tensor(self.mask.reshape(1, -1))
        return m if shape is None else reshape(m, shape)

    def blend(self, dynamic: Tensor) -> Tensor:
        """``lambda_d * M * dynamic + lambda_s * (1 - M) * Wbar`` for dynamic (R, N) -> (R, N).

        While scoring, ``M`` is the relaxed mask Tensor, so the loss is differentiable in it.
        """
        lam_d, lam_s = self.scales()
        self.log_lambda(lam_d)
        m = self.mask_tensor()
        static = reshape(self.static_weight, (1, -1))
        return lam_d * (m * dynamic) + lam_s * ((1.0 - m) * static)


class PadDynamicConv2d(PadMixin, DynamicConv2d):
    """DY-Conv with a partially dynamic kernel. x (N, C, H, W) -> (N, O, Ho, Wo).

    Parameters beyond DY-Conv's: ``static_weight`` (O, C/g, kh, kw), ``phi`` (1,); buffer
    ``mask`` (O, C/g, kh, kw), all ones (fully dynamic) until a partition sets it. Per sample::

        pi = softmax(FC2(relu(FC1(GAP(x)))) / tau)           (N, K)
        W~ = lambda_d * M * (pi @ W) + lambda_s * (1 - M) * Wbar
        b~ = pi @ b                                           (the bias stays dynamic)
    """

    fn = "PadDynamicConv2d"

    def __init__(self, in_channels, out_channels, kernel_size, num_kernels=4, stride=1,
                 padding=0, groups=1, bias=True, reduction=4, hidden=None, temperature=1.0,
                 scale_mode="both", rng=None, dtype=np.float32):
        super().__init__(in_channels, out_channels, kernel_size, num_kernels, stride, padding,
                         groups, bias, reduction, hidden, temperature, rng, dtype)
        kh, kw = self.kernel_size
        bound = 1.0 / math.sqrt((in_channels // groups) * kh * kw)
        self._init_pad(self.weight.shape[1:], bound, self._rng, scale_mode)

    @classmethod
    def from_dynamic(cls, layer: DynamicConv2d, rng=None, scale_mode="both"):
        """A PAD layer with ``layer``'s kernels, biases and attention (copied), a fresh static
        kernel drawn from ``rng``, and an all-dynamic mask: it computes what ``layer`` does."""
        if not isinstance(layer, DynamicConv2d) or isinstance(layer, PadDynamicConv2d):
            fail("PadDynamicConv2d.from_dynamic", f"layer must be a DynamicConv2d, got "
                 f"{type(layer).__name__}", TypeError)
        pad = cls(layer.in_channels, layer.out_channels, layer.kernel_size, layer.num_kernels,
                  layer.stride, layer.padding, layer.groups, layer.bias is not None,
                  hidden=layer.hidden, temperature=layer.temperature, scale_mode=scale_mode,
                  rng=rng, dtype=layer.dtype)
        for name in ("weight", "bias", "fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"):
            source = getattr(layer, name)
            if source is not None:
                getattr(pad, name).data[...] = source.data
        return pad

    def dynamic_values(self) -> np.ndarray:
        """The K kernels (K, O, C/g, kh, kw): the values a dynamic entry mixes."""
        return self.weight.data

    def mix(self, x: Tensor, weights: Tensor) -> Tensor:
        k = self.num_kernels
        if weights.shape != (x.shape[0], k):
            fail(self.fn, f"weights must have shape ({x.shape[0]}, {k}), got {weights.shape}")
        dynamic = matmul(weights, reshape(self.weight, (k, -1)))      # (N, O*C/g*kh*kw)
        kernel = reshape(self.blend(dynamic), (x.shape[0],) + self.mask_shape)
        bias = None if self.bias is None else matmul(weights, self.bias)  # (N, O)
        return ops_conv.conv2d(x, kernel, bias, self.stride, self.padding, self.groups)

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        if self.attention_mode != "sample":
            fail(self.fn, f"attention_mode must be 'sample' for a PAD layer, got "
                 f"{self.attention_mode!r}")
        weights = self.routing(x)
        self.last_weights = weights.data.copy()
        return self.mix(x, weights)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", dynamic_ratio={self.dynamic_ratio:.3f}"
