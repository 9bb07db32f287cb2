"""Post-processing (spec D.6): after training, store only what a PAD layer can use.

At a static position (``M_j = 0``) the K dynamic values never reach the output, and at a
dynamic position the static value is never used; both are deleted. The constant scale factors
are folded in (``lambda_d * W_k``, ``lambda_s * Wbar``), and the dynamic positions are stored once
per layer as an index shared by all K kernels. Per layer with N entries per kernel and a
dynamic fraction kappa, the kernel storage drops from ``K * N`` to

    (1 - kappa) * N + K * kappa * N                 (+ kappa * N integers of index)

(:func:`pad_kernel_parameters`; 47.5% of the fully dynamic storage for K = 4, kappa = 0.3).
The compressed layer also mixes only the dynamic entries: aggregation costs ``2 K kappa N``
FLOPs per sample instead of ``2 K N``.
"""

from __future__ import annotations

import copy

import numpy as np

from tinydyn._checks import check_int, fail
from tinydyn.autograd import ops_conv
from tinydyn.autograd.function import Function, is_grad_enabled
from tinydyn.autograd.ops_elementwise import relu
from tinydyn.autograd.ops_index import getitem
from tinydyn.autograd.ops_linalg import linear, matmul
from tinydyn.autograd.ops_nn import softmax
from tinydyn.autograd.ops_shape import reshape
from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.padnet.layers import PadDynamicConv2d
from tinydyn.dynamic.padnet.moe import PadMoELinear, expert_loop, gate_sums, gated_bias
from tinydyn.dynamic.padnet.partition import check_kappa
from tinydyn.nn.module import Module, Parameter

__all__ = ["CompressedDynamicConv2d", "CompressedMoELinear", "compress",
           "pad_kernel_parameters", "place", "stored_parameters"]


def pad_kernel_parameters(n: int, k: int, kappa: float) -> float:
    """Stored kernel values of one PAD layer: ``(1 - kappa) N + K kappa N`` (spec D.8)."""
    fn = "pad_kernel_parameters"
    n = check_int(fn, "n", n, min_value=1)
    k = check_int(fn, "k", k, min_value=1)
    kappa = check_kappa(fn, kappa)
    return (1.0 - kappa) * n + k * kappa * n


class Place(Function):
    """``out[r] = base; out[r, index] = values[r]`` for every row r: values (R, n), base (P,)
    with zeros at ``index``, index (n,) distinct -> out (R, P). Moving data only: 0 FLOPs."""

    @staticmethod
    def forward(ctx, values, base, index=None):
        ctx.index = index
        out = np.repeat(base[None, :], values.shape[0], axis=0)
        out[:, index] = values
        return out

    @staticmethod
    def backward(ctx, grad):
        grad_base = grad.sum(axis=0)
        grad_base[ctx.index] = 0.0     # those positions were overwritten
        return np.ascontiguousarray(grad[:, ctx.index]), grad_base

    @staticmethod
    def flops(arrays, out, kwargs):
        return 0


def place(values: Tensor, base: Tensor, index) -> Tensor:
    """Rows of ``base`` (P,) with ``values`` (R, n) written at the distinct positions ``index``."""
    fn = "place"
    for name, t in (("values", values), ("base", base)):
        if not isinstance(t, Tensor):
            fail(fn, f"{name} must be a Tensor, got {type(t).__name__}", TypeError)
    index = np.asarray(index)
    if index.dtype.kind not in "iu" or index.ndim != 1:
        fail(fn, f"index must be a 1-D integer array, got dtype {index.dtype}, shape "
             f"{index.shape}", TypeError)
    if values.ndim != 2 or values.shape[1] != index.size or base.ndim != 1:
        fail(fn, f"values must be (R, {index.size}) and base 1-D, got {values.shape} and "
             f"{base.shape}")
    if index.size and (index.min() < 0 or index.max() >= base.shape[0]
                       or np.unique(index).size != index.size):
        fail(fn, f"index must hold distinct positions in [0, {base.shape[0]})")
    return Place.apply(values, base, index=index.astype(np.int64))


class CompressedDynamicConv2d(Module):
    """A post-processed PAD DY-Conv layer: same outputs, only the used values stored.

    Parameters: ``static_values`` ((1 - kappa) N,) = lambda_s * Wbar at the static positions,
    ``dynamic_values`` (K, kappa N) = lambda_d * W_k at the dynamic positions, the K biases and
    the attention branch unchanged. Buffer ``dynamic_index`` (kappa N,) int64: the flat dynamic
    positions in the kernel (O, C/g, kh, kw). x (N, C, H, W) -> (N, O, Ho, Wo).
    """

    fn = "CompressedDynamicConv2d"

    def __init__(self, layer: PadDynamicConv2d):
        super().__init__()
        if not isinstance(layer, PadDynamicConv2d):
            fail(self.fn, f"layer must be a PadDynamicConv2d, got {type(layer).__name__}",
                 TypeError)
        for name in ("in_channels", "out_channels", "kernel_size", "stride", "padding",
                     "groups", "num_kernels", "hidden", "temperature", "dtype"):
            setattr(self, name, getattr(layer, name))
        self.kernel_shape = layer.mask_shape
        lam_d, lam_s = layer.scale_values()
        flat_mask = layer.mask.reshape(-1) > 0.5
        dynamic_index = np.flatnonzero(flat_mask).astype(np.int64)
        self.register_buffer("dynamic_index", dynamic_index)
        self._static_index = np.flatnonzero(~flat_mask).astype(np.int64)
        k = self.num_kernels
        kernels = layer.weight.data.reshape(k, -1)
        # the folding is done in float64 so the only rounding is the final cast
        self.dynamic_values = Parameter(
            (lam_d * kernels[:, flat_mask].astype(np.float64)).astype(self.dtype))
        self.static_values = Parameter(
            (lam_s * layer.static_weight.data.reshape(-1)[~flat_mask].astype(np.float64))
            .astype(self.dtype))
        self.bias = None if layer.bias is None else Parameter(layer.bias.data.copy())
        for name in ("fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"):
            setattr(self, name, Parameter(getattr(layer, name).data.copy()))
        self.last_weights = None

    @property
    def dynamic_ratio(self) -> float:
        return self.dynamic_index.size / int(np.prod(self.kernel_shape))

    def static_kernel(self) -> Tensor:
        """The kernel's static part (P,): lambda_s * Wbar at static positions, 0 elsewhere."""
        size = int(np.prod(self.kernel_shape))
        if not is_grad_enabled():     # inference: no graph, one NumPy scatter
            base = np.zeros(size, dtype=self.dtype)
            base[self._static_index] = self.static_values.data
            return Tensor(base)
        zeros = Tensor(np.zeros(size, dtype=self.dtype))
        values = reshape(self.static_values, (1, -1))
        return reshape(Place.apply(values, zeros, index=self._static_index), (size,))

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1] != self.in_channels:
            fail(self.fn, f"input must be a 4-D Tensor (N, {self.in_channels}, H, W), got "
                 f"{getattr(x, 'shape', type(x).__name__)}")
        pooled = ops_conv.global_avg_pool2d(x)
        z = linear(relu(linear(pooled, self.fc1_weight, self.fc1_bias)), self.fc2_weight,
                   self.fc2_bias)
        pi = softmax(z / self.temperature, dim=-1)
        self.last_weights = pi.data.copy()
        mixed = matmul(pi, self.dynamic_values)                  # (N, kappa N): the saving
        # the indices were checked when the layer was built: the op is applied directly
        kernel = Place.apply(mixed, self.static_kernel(), index=self.dynamic_index)
        kernel = reshape(kernel, (x.shape[0],) + tuple(self.kernel_shape))
        bias = None if self.bias is None else matmul(pi, self.bias)
        return ops_conv.conv2d(x, kernel, bias, self.stride, self.padding, self.groups)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"num_kernels={self.num_kernels}, dynamic_ratio={self.dynamic_ratio:.3f}")


class CompressedMoELinear(Module):
    """A post-processed PAD MoE linear layer: same outputs, only the used values stored.

    ``static_values`` ((1 - kappa) N,) = lambda_s * Wbar at the static positions,
    ``dynamic_values`` (E, kappa N) = lambda_d * W_e at the dynamic positions, the expert
    biases, the router (shared with the source layer's copy); buffer ``dynamic_index``.
    x (S, d_in) -> (S, d_out).
    """

    fn = "CompressedMoELinear"

    def __init__(self, layer: PadMoELinear):
        super().__init__()
        if not isinstance(layer, PadMoELinear):
            fail(self.fn, f"layer must be a PadMoELinear, got {type(layer).__name__}",
                 TypeError)
        self.d_in, self.d_out, self.n_experts = layer.d_in, layer.d_out, layer.n_experts
        self.dtype, self.kernel_shape = layer.dtype, layer.mask_shape
        self.router = layer.router
        lam_d, lam_s = layer.scale_values()
        flat_mask = layer.mask.reshape(-1) > 0.5
        self.register_buffer("dynamic_index", np.flatnonzero(flat_mask).astype(np.int64))
        self._static_index = np.flatnonzero(~flat_mask).astype(np.int64)
        experts = layer.weight.data.reshape(self.n_experts, -1)
        self.dynamic_values = Parameter(
            (lam_d * experts[:, flat_mask].astype(np.float64)).astype(self.dtype))
        self.static_values = Parameter(
            (lam_s * layer.static_weight.data.reshape(-1)[~flat_mask].astype(np.float64))
            .astype(self.dtype))
        self.bias = Parameter(layer.bias.data.copy())
        self.last_routing = self.aux_loss = None

    @property
    def dynamic_ratio(self) -> float:
        return self.dynamic_index.size / (self.d_in * self.d_out)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != self.d_in:
            fail(self.fn, f"x must be a Tensor of shape (S, {self.d_in}), got "
                 f"{getattr(x, 'shape', type(x).__name__)}")
        routing = self.router(x)
        self.last_routing, self.aux_loss = routing, routing.aux_loss
        size, shape = self.d_in * self.d_out, (self.d_in, self.d_out)
        zeros = Tensor(np.zeros(size, dtype=self.dtype))
        static_w = Place.apply(reshape(self.static_values, (1, -1)), zeros,
                               index=self._static_index)
        # experts: each expert's dense weight rebuilt from its dynamic values (zeros elsewhere)
        experts = Place.apply(self.dynamic_values, zeros, index=self.dynamic_index)
        dynamic = expert_loop(x, routing, lambda e: reshape(getitem(experts, e), shape))
        static = matmul(x, reshape(static_w, shape)) * reshape(gate_sums(routing, x.dtype),
                                                               (-1, 1))
        return dynamic + static + gated_bias(routing, self.bias)

    def extra_repr(self) -> str:
        return (f"d_in={self.d_in}, d_out={self.d_out}, n_experts={self.n_experts}, "
                f"dynamic_ratio={self.dynamic_ratio:.3f}")


_COMPRESSED = {PadDynamicConv2d: CompressedDynamicConv2d, PadMoELinear: CompressedMoELinear}


def _compressed(layer):
    for kind, compressed in _COMPRESSED.items():
        if isinstance(layer, kind):
            return compressed(layer)
    return None


def _replace(module: Module) -> None:
    for name, child in list(module._modules.items()):
        small = _compressed(child) if child is not None else None
        if small is not None:
            # assigning into the ordered registry keeps the child's place (a Sequential's order)
            module._modules[name] = small
        elif child is not None:
            _replace(child)


def compress(model: Module) -> Module:
    """A copy of ``model`` with every PAD layer post-processed; ``model`` is unchanged."""
    if not isinstance(model, Module):
        fail("compress", f"model must be a Module, got {type(model).__name__}", TypeError)
    model = copy.deepcopy(model)
    small = _compressed(model)
    if small is not None:
        return small
    out = model
    _replace(out)
    return out


def stored_parameters(model: Module) -> dict:
    """``{"values": stored float values, "index": stored integer positions}`` of a model."""
    if not isinstance(model, Module):
        fail("stored_parameters", f"model must be a Module, got {type(model).__name__}",
             TypeError)
    index = sum(m.dynamic_index.size for m in model.modules()
                if isinstance(m, (CompressedDynamicConv2d, CompressedMoELinear)))
    return {"values": int(model.num_parameters()), "index": int(index)}
