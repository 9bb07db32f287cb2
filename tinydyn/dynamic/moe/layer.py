"""The MoE layer: a router, E expert feed-forward networks, dispatch -> experts -> combine.

    MoELayer(router, d_model, d_ff, n_experts, capacity_factor=None, form="dropless", ...)
    y = layer(x)            x (S, d) or (B, T, d) -> y of x's shape

The tokens (all B·T of them, flattened) are cut into groups of ``group_size`` consecutive tokens
(default: one group); each group is routed on its own (capacity is per group, and groups are
independent: permuting groups permutes outputs, P-A0.6). With ``capacity_factor`` set, each
group's Routing goes through :func:`~tinydyn.dynamic.moe.routing.apply_capacity` with
``C = expert_capacity(S, E, router.k, capacity_factor, capacity_rounding)``: assignments past
an expert's C-th slot are dropped (first choices queue before second choices), and a token that
loses all its experts gets y = 0 here and is passed on by the host's residual connection.

The output is the experts' weighted sum only: the host adds the residual (``x + layer(x)``),
as a Transformer adds its FFN's output. Gates are not renormalised after dropping.

After each call: ``layer.last_routing`` (the Routing over all groups, token indices into the
flattened input) and ``layer.aux_loss`` (the mean of the groups' weighted auxiliary losses, a
Tensor in the graph, or None); :func:`aux_loss_of` sums them over a model.
"""

from __future__ import annotations

import math

import numpy as np

from tinydyn._checks import check_float, check_int, fail
from tinydyn.autograd.ops_shape import cat, reshape
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.moe.dispatch import FORMS, moe_ffn
from tinydyn.dynamic.moe.routing import (
    CAPACITY_ROUNDINGS,
    Router,
    apply_capacity,
    concat_routings,
    expert_capacity,
)
from tinydyn.kernels.moe import ACTIVATIONS
from tinydyn.nn import init
from tinydyn.nn.module import Module, Parameter

__all__ = ["MoELayer", "aux_loss_of"]


class MoELayer(Module):
    """E expert FFNs ``act(u W1_e + b1_e) W2_e + b2_e`` behind a router.

    Args:
        router: a :class:`Router` with the same d_model and n_experts.
        d_model, d_ff, n_experts: widths; experts' weights w1 (E, d, F), b1 (E, F),
            w2 (E, F, d), b2 (E, d), initialised like ``nn.Linear`` (uniform ±1/sqrt(fan_in)).
        capacity_factor: None (dropless) or CF > 0.
        capacity_rounding: "ceil" | "floor" | "ceil4" (see ``expert_capacity``).
        form: "dropless" (grouped, sorted by expert) or "slots" (E·C buffers).
        group_size: tokens per routing group (None = all tokens in one group).
        activation: "relu" or "gelu".
    """

    fn = "MoELayer"

    def __init__(self, router: Router, d_model: int, d_ff: int, n_experts: int,
                 capacity_factor: float | None = None, capacity_rounding: str = "ceil",
                 form: str = "dropless", group_size: int | None = None,
                 activation: str = "relu", rng=None, dtype=np.float32):
        super().__init__()
        fn = self.fn
        self.d_model = check_int(fn, "d_model", d_model, min_value=1)
        self.d_ff = check_int(fn, "d_ff", d_ff, min_value=1)
        self.n_experts = check_int(fn, "n_experts", n_experts, min_value=1)
        if not isinstance(router, Router):
            fail(fn, f"router must be a Router, got {type(router).__name__}", TypeError)
        if router.d_model != d_model or router.n_experts != n_experts:
            fail(fn, f"router must have d_model={d_model} and n_experts={n_experts}, got "
                 f"d_model={router.d_model} and n_experts={router.n_experts}")
        self.router = router
        if capacity_factor is not None:
            capacity_factor = check_float(fn, "capacity_factor", capacity_factor, low=0.0,
                                          low_open=True)
        self.capacity_factor = capacity_factor
        if capacity_rounding not in CAPACITY_ROUNDINGS:
            fail(fn, f"capacity_rounding must be one of {CAPACITY_ROUNDINGS}, "
                 f"got {capacity_rounding!r}")
        self.capacity_rounding = capacity_rounding
        if form not in FORMS:
            fail(fn, f"form must be one of {FORMS}, got {form!r}")
        self.form = form
        if group_size is not None:
            group_size = check_int(fn, "group_size", group_size, min_value=1)
        self.group_size = group_size
        if activation not in ACTIVATIONS:
            fail(fn, f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.activation = activation
        rng = get_rng(rng, fn)
        e, d, f = n_experts, d_model, d_ff
        self.w1 = Parameter(np.empty((e, d, f), dtype=dtype))
        self.b1 = Parameter(np.empty((e, f), dtype=dtype))
        self.w2 = Parameter(np.empty((e, f, d), dtype=dtype))
        self.b2 = Parameter(np.empty((e, d), dtype=dtype))
        for p, fan_in in ((self.w1, d), (self.b1, d), (self.w2, f), (self.b2, f)):
            bound = 1.0 / math.sqrt(fan_in)
            init.uniform_(p, -bound, bound, rng=rng)
        self.last_routing = None
        self.aux_loss = None

    def capacity(self, n_tokens: int) -> int | None:
        """C for a group of ``n_tokens`` tokens (None when dropless)."""
        if self.capacity_factor is None:
            return None
        return expert_capacity(n_tokens, self.n_experts, self.router.k, self.capacity_factor,
                               self.capacity_rounding)

    def route(self, x: Tensor, token_ids: np.ndarray | None = None):
        """The Routing of x (S, d), group by group, with capacity applied."""
        s = x.shape[0]
        size = self.group_size or s
        if s % size:
            fail(self.fn, f"the number of tokens ({s}) must be divisible by group_size "
                 f"({size})")
        routings = []
        for start in range(0, s, size):
            xg = x[start:start + size] if size != s else x
            ids = None if token_ids is None else token_ids[start:start + size]
            r = self.router(xg, ids)
            if self.capacity_factor is not None:
                r = apply_capacity(r, self.capacity(size))
            routings.append(r)
        if len(routings) == 1:
            return routings[0]
        losses = [r.aux_loss for r in routings if r.aux_loss is not None]
        aux = None
        if losses:
            aux = losses[0]
            for extra in losses[1:]:
                aux = aux + extra
            aux = aux * (1.0 / len(losses))
        return concat_routings(routings, cat([r.gate for r in routings]), aux)

    def forward(self, x: Tensor, token_ids: np.ndarray | None = None) -> Tensor:
        fn = self.fn
        if not isinstance(x, Tensor):
            fail(fn, f"x must be a Tensor, got {type(x).__name__}", TypeError)
        if x.ndim not in (2, 3) or x.shape[-1] != self.d_model:
            fail(fn, f"x must have shape (S, {self.d_model}) or (B, T, {self.d_model}), "
                 f"got {x.shape}")
        if x.dtype != self.w1.dtype:
            fail(fn, f"x must have the layer's dtype {self.w1.dtype}, got {x.dtype}", TypeError)
        flat = reshape(x, (-1, self.d_model)) if x.ndim == 3 else x
        if token_ids is not None:
            if not isinstance(token_ids, np.ndarray) or token_ids.shape != x.shape[:-1]:
                fail(fn, f"token_ids must be an integer ndarray of shape {x.shape[:-1]}, got "
                     f"{getattr(token_ids, 'shape', type(token_ids).__name__)}", TypeError)
            token_ids = token_ids.reshape(-1)
        routing = self.route(flat, token_ids)
        self.last_routing = routing
        self.aux_loss = routing.aux_loss
        y = moe_ffn(flat, routing, self.w1, self.b1, self.w2, self.b2, self.activation,
                    self.form)
        return reshape(y, x.shape) if x.ndim == 3 else y

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, d_ff={self.d_ff}, n_experts={self.n_experts}, "
                f"capacity_factor={self.capacity_factor}, form={self.form!r}, "
                f"group_size={self.group_size}, activation={self.activation!r}")


def aux_loss_of(model: Module) -> Tensor | None:
    """The sum of ``aux_loss`` over every MoELayer in ``model`` after its last forward (None if
    there is none): add it to the task loss."""
    total = None
    for module in model.modules():
        if isinstance(module, MoELayer) and module.aux_loss is not None:
            total = module.aux_loss if total is None else total + module.aux_loss
    return total
