"""PAD MoE (spec D.4): a mixture of E linear experts whose weights share one static weight and
one mask.

A fully dynamic MoE linear layer (:class:`MoELinear`, as in PAD-Net's BERT-MoE, where each FFN
linear becomes an MoE of linear experts) computes, for a token x with gates g (from any router
of :mod:`tinydyn.dynamic.moe`)::

    y = sum_e g_e (x W_e + b_e)                    W_e (d_in, d_out), b_e (d_out,)

PAD replaces every expert's weight by ``lambda_d M * W_e + lambda_s (1 - M) * Wbar``, with ONE
``Wbar`` and ONE mask ``M`` shared by all experts; the biases stay expert-specific. Because
the static part is the same in every expert it factors out of the sum::

    y = lambda_s (sum_e g_e) x ((1 - M) * Wbar) + lambda_d sum_e g_e x (M * W_e) + sum_e g_e b_e

and ``sum_e g_e = 1`` for top-k gates: the static path runs once per token, outside the
experts (:class:`PadMoELinear` computes it this way; a test checks it against the per-expert
formula). The experts run as a loop over experts on their own tokens, from the router's
:class:`~tinydyn.dynamic.moe.routing.Routing` (``sorted_by_expert``): E small matrix
products, each on exactly the rows routed to it.
"""

from __future__ import annotations

import math

import numpy as np

from tinydyn._checks import check_int, fail
from tinydyn.autograd.ops_index import getitem, index_add
from tinydyn.autograd.ops_linalg import matmul
from tinydyn.autograd.ops_shape import cat, reshape
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.moe.routing import Router, Routing
from tinydyn.dynamic.padnet.layers import PadMixin
from tinydyn.nn import init
from tinydyn.nn.module import Module, Parameter

__all__ = ["MoELinear", "PadMoELinear", "expert_loop", "gate_sums", "gated_bias"]


def expert_loop(x: Tensor, routing: Routing, weights) -> Tensor:
    """``out[s] = sum over assignments n of token s: gate[n] * x[s] @ weights(expert[n])``.

    x (S, d_in); ``weights(e)`` returns expert e's (d_in, d_out) Tensor. -> (S, d_out).
    The assignments are sorted by expert once, so each expert reads one contiguous block of
    rows; the expert outputs are scaled by their gates and added back to their tokens at once.
    """
    order, offsets = routing.sorted_by_expert()
    rows = getitem(x, routing.token[order])                      # (N, d_in), expert by expert
    parts = [matmul(rows[offsets[e]:offsets[e + 1]], weights(e))
             for e in range(routing.n_experts) if offsets[e + 1] > offsets[e]]
    d_out = weights(0).shape[1]
    out = Tensor(np.zeros((x.shape[0], d_out), dtype=x.dtype))
    if not parts:                     # no assignment at all (every token dropped)
        return out
    gated = (cat(parts) if len(parts) > 1 else parts[0]) * reshape(
        getitem(routing.gate, order), (-1, 1))
    return index_add(out, 0, routing.token[order], gated)


def gated_bias(routing: Routing, bias: Tensor) -> Tensor:
    """``sum_e g_e b_e`` per token: (S, d_out) from bias (E, d_out)."""
    rows = getitem(bias, routing.expert) * reshape(routing.gate, (-1, 1))
    zeros = Tensor(np.zeros((routing.n_tokens, bias.shape[1]), dtype=bias.dtype))
    return index_add(zeros, 0, routing.token, rows)


def gate_sums(routing: Routing, dtype) -> Tensor:
    """``sum_e g_e`` per token (S,): 1 for top-k softmax gates, less for dropped tokens."""
    zeros = Tensor(np.zeros(routing.n_tokens, dtype=dtype))
    return index_add(zeros, 0, routing.token, routing.gate)


class MoELinear(Module):
    """A fully dynamic MoE of E linear experts behind ``router``: x (S, d_in) -> (S, d_out).

    Parameters ``weight`` (E, d_in, d_out) and ``bias`` (E, d_out), initialised like
    ``nn.Linear`` (uniform +-1/sqrt(d_in)). After a call: ``last_routing`` and ``aux_loss``
    (the router's weighted balancing loss, to add to the task loss).
    """

    fn = "MoELinear"

    def __init__(self, router: Router, d_in: int, d_out: int, n_experts: int, rng=None,
                 dtype=np.float32):
        super().__init__()
        fn = self.fn
        self.d_in = check_int(fn, "d_in", d_in, min_value=1)
        self.d_out = check_int(fn, "d_out", d_out, min_value=1)
        self.n_experts = check_int(fn, "n_experts", n_experts, min_value=1)
        if not isinstance(router, Router):
            fail(fn, f"router must be a Router, got {type(router).__name__}", TypeError)
        if router.d_model != d_in or router.n_experts != n_experts:
            fail(fn, f"router must have d_model={d_in} and n_experts={n_experts}, got "
                 f"d_model={router.d_model} and n_experts={router.n_experts}")
        self.router = router
        self.dtype = np.dtype(dtype)
        self._rng = get_rng(rng, fn)
        bound = 1.0 / math.sqrt(d_in)
        self.weight = Parameter(np.empty((n_experts, d_in, d_out), dtype=self.dtype))
        self.bias = Parameter(np.empty((n_experts, d_out), dtype=self.dtype))
        init.uniform_(self.weight, -bound, bound, rng=self._rng)
        init.uniform_(self.bias, -bound, bound, rng=self._rng)
        self.last_routing = None
        self.aux_loss = None

    def route(self, x: Tensor) -> Routing:
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != self.d_in:
            fail(self.fn, f"x must be a Tensor of shape (S, {self.d_in}), got "
                 f"{getattr(x, 'shape', type(x).__name__)}")
        routing = self.router(x)
        self.last_routing, self.aux_loss = routing, routing.aux_loss
        return routing

    def forward(self, x: Tensor) -> Tensor:
        routing = self.route(x)
        out = expert_loop(x, routing, lambda e: getitem(self.weight, e))
        return out + gated_bias(routing, self.bias)

    def extra_repr(self) -> str:
        return f"d_in={self.d_in}, d_out={self.d_out}, n_experts={self.n_experts}"


class PadMoELinear(PadMixin, MoELinear):
    """The partially dynamic MoELinear: one static weight ``static_weight`` (d_in, d_out), one
    mask buffer ``mask`` (d_in, d_out) and one ``phi`` shared by all experts. x (S, d_in) ->
    (S, d_out), computed in the factorised form of the module docstring."""

    fn = "PadMoELinear"

    def __init__(self, router: Router, d_in: int, d_out: int, n_experts: int,
                 scale_mode: str = "both", rng=None, dtype=np.float32):
        super().__init__(router, d_in, d_out, n_experts, rng, dtype)
        self._init_pad((d_in, d_out), 1.0 / math.sqrt(d_in), self._rng, scale_mode)

    @classmethod
    def from_dynamic(cls, layer: MoELinear, rng=None, scale_mode: str = "both"):
        """A PAD layer with ``layer``'s router (shared), experts and biases (copied), a fresh
        static weight from ``rng`` and an all-dynamic mask."""
        if not isinstance(layer, MoELinear) or isinstance(layer, PadMoELinear):
            fail("PadMoELinear.from_dynamic", f"layer must be a MoELinear, got "
                 f"{type(layer).__name__}", TypeError)
        pad = cls(layer.router, layer.d_in, layer.d_out, layer.n_experts, scale_mode, rng,
                  layer.dtype)
        pad.weight.data[...] = layer.weight.data
        pad.bias.data[...] = layer.bias.data
        return pad

    def dynamic_values(self) -> np.ndarray:
        return self.weight.data

    def forward(self, x: Tensor) -> Tensor:
        routing = self.route(x)
        lam_d, lam_s = self.scales()
        self.log_lambda(lam_d)
        m = self.mask_tensor((1, self.d_in, self.d_out))
        masked = self.weight * m                                  # (E, d_in, d_out)
        dynamic = expert_loop(x, routing, lambda e: getitem(masked, e))
        static_w = reshape(1.0 - m, (self.d_in, self.d_out)) * self.static_weight
        # the static path: once per token, outside the experts
        static = matmul(x, static_w) * reshape(gate_sums(routing, x.dtype), (-1, 1))
        return lam_d * dynamic + lam_s * static + gated_bias(routing, self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", dynamic_ratio={self.dynamic_ratio:.3f}"
