"""Models built from MoE layers, and their dense baselines with the same active FLOPs.

* :class:`MoETransformerEncoder`: the library's Transformer encoder (``tinydyn.nn``) with an
  MoE block in place of the feed-forward block in the chosen layers (``moe_layers``; GShard
  and Switch use every other layer). Its dense baseline is ``nn.TransformerEncoder`` with
  ``dim_feedforward = k * d_ff`` (:func:`dense_baseline_encoder`): a token pays for k experts
  of width d_ff, the same hidden units as one dense FFN of width k·d_ff.
* :class:`MoEClassifier` / :class:`DenseClassifier`: a residual MLP for vector tasks
  (``embed -> x + block(LN(x)) -> head``) whose block is an MoE layer or a dense FFN of width
  k·d_ff: the pair the quality experiment compares on the ``regions`` task.

Routers are named ("switch", "gshard", "noisy_topk") or given as a factory
``make_router(d_model, n_experts, rng) -> Router`` (so any router of the family plugs in).
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_int, fail
from tinydyn.autograd.ops_linalg import linear
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.moe.layer import MoELayer
from tinydyn.dynamic.moe.routers import GShardRouter, NoisyTopKRouter, SwitchRouter
from tinydyn.dynamic.moe.routing import Router
from tinydyn.nn import functional as F
from tinydyn.nn.attention import TransformerEncoder, TransformerEncoderLayer
from tinydyn.nn.layers import LayerNorm, Linear
from tinydyn.nn.module import Module, ModuleList

__all__ = ["DenseClassifier", "MoEClassifier", "MoETransformerEncoder",
           "MoETransformerEncoderLayer", "dense_baseline_encoder", "make_router"]

ROUTERS = {"switch": SwitchRouter, "gshard": GShardRouter, "noisy_topk": NoisyTopKRouter}


def make_router(router, d_model: int, n_experts: int, k: int, rng, dtype, **kwargs) -> Router:
    """A Router from a name in ``ROUTERS`` (k and kwargs passed on; GShard is always top-2)
    or from a factory ``router(d_model, n_experts, rng)``."""
    if callable(router) and not isinstance(router, str):
        made = router(d_model, n_experts, rng)
        if not isinstance(made, Router):
            fail("make_router", f"the router factory must return a Router, got "
                 f"{type(made).__name__}", TypeError)
        return made
    if router not in ROUTERS:
        fail("make_router", f"router must be one of {sorted(ROUTERS)} or a factory, got "
             f"{router!r}")
    if router == "gshard":
        return GShardRouter(d_model, n_experts, rng=rng, dtype=dtype, **kwargs)
    return ROUTERS[router](d_model, n_experts, k=k, rng=rng, dtype=dtype, **kwargs)


class MoETransformerEncoderLayer(TransformerEncoderLayer):
    """A :class:`TransformerEncoderLayer` whose feed-forward block is ``moe`` (an MoELayer);
    its own linear1/linear2 are removed. Token ids for Hash routing are set with
    ``layer.token_ids = ids`` (B, T) before the call (the encoder does it)."""

    def __init__(self, d_model: int, nhead: int, moe: MoELayer, dropout: float = 0.0,
                 norm_first: bool = True, layer_norm_eps: float = 1e-5, rng=None,
                 dtype=np.float32):
        if not isinstance(moe, MoELayer):
            fail("MoETransformerEncoderLayer", f"moe must be an MoELayer, got "
                 f"{type(moe).__name__}", TypeError)
        super().__init__(d_model, nhead, dim_feedforward=1, dropout=dropout,
                         activation=moe.activation, norm_first=norm_first,
                         layer_norm_eps=layer_norm_eps, rng=rng, dtype=dtype)
        del self.linear1, self.linear2
        self.moe = moe
        self.token_ids = None

    def _feedforward_block(self, x: Tensor) -> Tensor:
        return self.dropout2(self.moe(x, self.token_ids))


class MoETransformerEncoder(Module):
    """``num_layers`` encoder layers; those in ``moe_layers`` (default: every other one,
    1, 3, ...) have an MoE block of ``n_experts`` experts of width ``d_ff``, the others a dense
    FFN of width ``k * d_ff``. Pre-norm with a final LayerNorm by default.

    ``forward(x (B, T, d), key_padding_mask=None, token_ids=None) -> (B, T, d)``;
    ``routings()`` lists the last Routing of each MoE layer; add
    ``tinydyn.dynamic.moe.aux_loss_of(model)`` to the training loss.
    """

    def __init__(self, num_layers: int, d_model: int, nhead: int, d_ff: int, n_experts: int,
                 router="switch", k: int = 1, moe_layers=None, capacity_factor=None,
                 group_size=None, dropout: float = 0.0, activation: str = "relu",
                 norm_first: bool = True, final_norm: bool = True, router_kwargs=None,
                 rng=None, dtype=np.float32):
        super().__init__()
        fn = "MoETransformerEncoder"
        self.num_layers = check_int(fn, "num_layers", num_layers, min_value=1)
        self.d_model = check_int(fn, "d_model", d_model, min_value=1)
        self.k = check_int(fn, "k", k, min_value=1)
        if moe_layers is None:
            moe_layers = tuple(range(1, num_layers, 2)) or (0,)
        moe_layers = tuple(sorted(set(moe_layers)))
        if any(not 0 <= i < num_layers for i in moe_layers):
            fail(fn, f"moe_layers must be layer indices in [0, {num_layers}), got {moe_layers}")
        self.moe_layers = moe_layers
        rng = get_rng(rng, fn)
        layers = []
        for i in range(num_layers):
            if i in moe_layers:
                r = make_router(router, d_model, n_experts, k, rng, dtype,
                                **(router_kwargs or {}))
                moe = MoELayer(r, d_model, d_ff, n_experts, capacity_factor=capacity_factor,
                               group_size=group_size, activation=activation, rng=rng,
                               dtype=dtype)
                layers.append(MoETransformerEncoderLayer(d_model, nhead, moe, dropout,
                                                         norm_first, rng=rng, dtype=dtype))
            else:
                layers.append(TransformerEncoderLayer(d_model, nhead, k * d_ff, dropout,
                                                      activation, norm_first, rng=rng,
                                                      dtype=dtype))
        self.layers = ModuleList(layers)
        if final_norm:
            self.norm = LayerNorm(d_model, dtype=dtype)
        else:
            self.add_module("norm", None)

    def forward(self, x: Tensor, key_padding_mask=None, token_ids=None) -> Tensor:
        for layer in self.layers:
            if isinstance(layer, MoETransformerEncoderLayer):
                layer.token_ids = token_ids
            x = layer(x, key_padding_mask=key_padding_mask)
        return self.norm(x) if self.norm is not None else x

    def routings(self) -> list:
        return [layer.moe.last_routing for layer in self.layers
                if isinstance(layer, MoETransformerEncoderLayer)]


def dense_baseline_encoder(num_layers: int, d_model: int, nhead: int, d_ff: int, k: int = 1,
                           dropout: float = 0.0, activation: str = "relu",
                           norm_first: bool = True, rng=None,
                           dtype=np.float32) -> TransformerEncoder:
    """The dense encoder with the MoE encoder's active FFN width ``k * d_ff`` in every layer."""
    return TransformerEncoder(num_layers, d_model, nhead, k * d_ff, dropout, activation,
                              norm_first, final_norm=True, rng=rng, dtype=dtype)


class _ResidualMLP(Module):
    """embed (d_in -> d) -> [x + block_i(LN_i(x))] * n_blocks -> LN -> head (d -> n_out)."""

    def __init__(self, d_in, d_model, n_out, blocks, rng, dtype):
        super().__init__()
        self.embed = Linear(d_in, d_model, rng=rng, dtype=dtype)
        self.norms = ModuleList(LayerNorm(d_model, dtype=dtype) for _ in blocks)
        self.blocks = ModuleList(blocks)
        self.norm = LayerNorm(d_model, dtype=dtype)
        self.head = Linear(d_model, n_out, rng=rng, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        h = self.embed(x)
        for norm, block in zip(self.norms, self.blocks):
            h = h + block(norm(h))
        return self.head(self.norm(h))


class _DenseFFN(Module):
    def __init__(self, d_model, d_hidden, rng, dtype):
        super().__init__()
        self.linear1 = Linear(d_model, d_hidden, rng=rng, dtype=dtype)
        self.linear2 = Linear(d_hidden, d_model, rng=rng, dtype=dtype)

    def forward(self, x):
        hidden = F.relu(linear(x, self.linear1.weight, self.linear1.bias))
        return linear(hidden, self.linear2.weight, self.linear2.bias)


class MoEClassifier(_ResidualMLP):
    """Residual MLP with ``n_blocks`` MoE blocks (E experts of width d_ff, top-k routing)."""

    def __init__(self, d_in: int, d_model: int, d_ff: int, n_experts: int, n_out: int,
                 router="switch", k: int = 1, n_blocks: int = 1, capacity_factor=None,
                 router_kwargs=None, rng=None, dtype=np.float32):
        rng = get_rng(rng, "MoEClassifier")
        blocks = [MoELayer(make_router(router, d_model, n_experts, k, rng, dtype,
                                       **(router_kwargs or {})),
                           d_model, d_ff, n_experts, capacity_factor=capacity_factor, rng=rng,
                           dtype=dtype)
                  for _ in range(check_int("MoEClassifier", "n_blocks", n_blocks,
                                           min_value=1))]
        super().__init__(d_in, d_model, n_out, blocks, rng, dtype)


class DenseClassifier(_ResidualMLP):
    """The same residual MLP with dense FFN blocks of width ``k * d_ff`` (same active FLOPs
    per token as :class:`MoEClassifier`, up to the router and combine)."""

    def __init__(self, d_in: int, d_model: int, d_ff: int, n_out: int, k: int = 1,
                 n_blocks: int = 1, rng=None, dtype=np.float32):
        rng = get_rng(rng, "DenseClassifier")
        blocks = [_DenseFFN(d_model, k * d_ff, rng, dtype) for _ in range(n_blocks)]
        super().__init__(d_in, d_model, n_out, blocks, rng, dtype)
