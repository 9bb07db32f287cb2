"""Dispatch -> experts -> combine, as one differentiable op, in the two forms of spec A.0.

``moe_ffn(x, routing, w1, b1, w2, b2, form=...)`` computes, for x (S, d)::

    y[s] = sum over assignments n with token[n] == s of  gate[n] * FFN_{expert[n]}(x[s])
    FFN_e(u) = act(u @ w1[e] + b1[e]) @ w2[e] + b2[e]        w1 (E, d, F), w2 (E, F, d)

* ``form="dropless"``: the assignments sorted by expert (stable) into contiguous blocks, one
  matrix product per expert on exactly its tokens (MegaBlocks without its block padding).
  Works with any Routing, with or without capacity.
* ``form="slots"``: a buffer of E·C rows, assignment n in row ``expert·C + slot``; every slot is
  computed, filled or not (the padding the GShard/Switch buffers pay for). Needs the Routing's
  ``slot`` and ``capacity`` (from :func:`~tinydyn.dynamic.moe.routing.apply_capacity`); without
  them, slots are queue positions and C the largest load (nothing is dropped).

Both forms are exact: they agree to float rounding (P-A0.5), and with nothing dropped both equal
:func:`reference_moe_loop`, a per-token Python loop, and :func:`dense_moe`, the einsum with the
dense dispatch and combine masks D, W (S, E, C) of spec A.0.

The gradient reaches x, the gate (hence the router) and the expert parameters; the integer
routing decisions have none. The kernels are in :mod:`tinydyn.kernels.moe`.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import fail
from tinydyn.autograd.function import Function
from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.moe.routing import Routing, queue_positions
from tinydyn.kernels import moe as kernels

__all__ = ["FORMS", "buffer_layout", "dense_moe", "expert_row_flops", "moe_ffn",
           "reference_moe_loop"]

FORMS = ("dropless", "slots")


def buffer_layout(routing: Routing, form: str) -> tuple[np.ndarray, np.ndarray, int]:
    """``(row (N,), offsets (E + 1,), n_rows)``: where each assignment sits in the expert buffer.

    dropless: rows sorted by expert, n_rows = N. slots: row = expert·C + slot, n_rows = E·C.
    """
    e = routing.n_experts
    if form == "dropless":
        order, offsets = routing.sorted_by_expert()
        row = np.empty_like(order)
        row[order] = np.arange(order.shape[0], dtype=np.int64)
        return row, offsets, int(order.shape[0])
    if form == "slots":
        slot = routing.slot
        if slot is None:
            slot = queue_positions(routing.expert, e)
        c = routing.capacity if routing.capacity is not None else \
            int(slot.max() + 1 if slot.size else 1)
        if slot.size and slot.max() >= c:
            fail("moe_ffn", f"routing has a slot {slot.max()} >= its capacity {c}")
        return routing.expert * c + slot, np.arange(e + 1, dtype=np.int64) * c, e * c
    fail("moe_ffn", f"form must be one of {FORMS}, got {form!r}")


class MoEFFN(Function):
    """The fused op: inputs x (S, d), gate (N,), w1, b1, w2, b2; integer layout as kwargs."""

    @staticmethod
    def flops(arrays, out, kwargs):
        """For the FLOP counter: every buffer row through its expert (padding rows included),
        plus one multiply-add per combined element (see :mod:`tinydyn.dynamic.moe.cost`)."""
        x, _, w1 = arrays[0], arrays[1], arrays[2]
        d, f = x.shape[1], w1.shape[2]
        per_row = expert_row_flops(d, f, kwargs["gelu"])
        return kwargs["n_rows"] * per_row + 2 * kwargs["token"].shape[0] * d

    @staticmethod
    def forward(ctx, x, gate, w1, b1, w2, b2, token=None, row=None, offsets=None, n_rows=0,
                gelu=False):
        xe = kernels.gather_rows(x, token, row, n_rows)
        out, h, pre = kernels.expert_ffn_forward(xe, offsets, w1, b1, w2, b2, gelu)
        ctx.save_for_backward(xe, out, h, pre, gate, w1, w2)
        ctx.layout = (token, row, offsets, n_rows, gelu, x.shape[0])
        return kernels.combine_rows(out, token, row, gate, x.shape[0])

    @staticmethod
    def backward(ctx, dy):
        xe, out, h, pre, gate, w1, w2 = ctx.saved
        token, row, offsets, n_rows, gelu, n_tokens = ctx.layout
        dy = np.ascontiguousarray(dy, dtype=out.dtype)
        dout, dgate = kernels.combine_backward(dy, out, token, row, gate, n_rows)
        dxe, dw1, db1, dw2, db2 = kernels.expert_ffn_backward(dout, xe, h, pre, offsets, w1,
                                                              w2, gelu)
        dx = kernels.scatter_rows(dxe, token, row, n_tokens)
        return dx, dgate, dw1, db1, dw2, db2


def expert_row_flops(d: int, d_ff: int, gelu: bool) -> int:
    """FLOPs of one row through one expert: two products with biases, the activation
    (1 per element for ReLU, 8 for GELU, as the FLOP counter charges its ops)."""
    return 2 * d * d_ff + d_ff + (8 if gelu else 1) * d_ff + 2 * d_ff * d + d


def _check(fn, x, routing, w1, b1, w2, b2, activation):
    if not isinstance(x, Tensor):
        fail(fn, f"x must be a Tensor, got {type(x).__name__}", TypeError)
    if not isinstance(routing, Routing):
        fail(fn, f"routing must be a Routing, got {type(routing).__name__}", TypeError)
    if x.ndim != 2:
        fail(fn, f"x must be 2-D (S, d), got shape {x.shape}")
    s, d = x.shape
    if routing.n_tokens != s:
        fail(fn, f"routing is for {routing.n_tokens} tokens but x has {s}")
    e, f = routing.n_experts, None
    for name, t in (("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2)):
        if not isinstance(t, Tensor):
            fail(fn, f"{name} must be a Tensor, got {type(t).__name__}", TypeError)
        if t.dtype != x.dtype:
            fail(fn, f"{name} must have x's dtype {x.dtype}, got {t.dtype}", TypeError)
    if w1.ndim != 3 or w1.shape[0] != e or w1.shape[1] != d:
        fail(fn, f"w1 must have shape ({e}, {d}, F), got {w1.shape}")
    f = w1.shape[2]
    for name, t, shape in (("b1", b1, (e, f)), ("w2", w2, (e, f, d)), ("b2", b2, (e, d))):
        if t.shape != shape:
            fail(fn, f"{name} must have shape {shape}, got {t.shape}")
    if routing.gate.dtype != x.dtype:
        fail(fn, f"routing.gate must have x's dtype {x.dtype}, got {routing.gate.dtype}",
             TypeError)
    if activation not in kernels.ACTIVATIONS:
        fail(fn, f"activation must be one of {kernels.ACTIVATIONS}, got {activation!r}")


def moe_ffn(x: Tensor, routing: Routing, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor,
            activation: str = "relu", form: str = "dropless") -> Tensor:
    """y (S, d): the experts' outputs for the routed tokens, weighted by the gates and summed
    per token (zero for tokens with no assignment). Shapes in the module docstring."""
    fn = "moe_ffn"
    _check(fn, x, routing, w1, b1, w2, b2, activation)
    row, offsets, n_rows = buffer_layout(routing, form)
    return MoEFFN.apply(x, routing.gate, w1, b1, w2, b2, token=routing.token, row=row,
                        offsets=offsets, n_rows=n_rows, gelu=activation == "gelu")


def _ffn_numpy(u, w1, b1, w2, b2, activation):
    pre = u @ w1 + b1
    if activation == "gelu":
        hidden = kernels._gelu_numpy(pre)
    else:
        hidden = np.maximum(pre, 0)
    return hidden @ w2 + b2


def reference_moe_loop(x: np.ndarray, routing: Routing, w1, b1, w2, b2,
                       activation: str = "relu") -> np.ndarray:
    """The naive reference (P-A0.3): for each token, for each of its assignments, run that
    expert's FFN on the token alone and add gate · output. Plain arrays in, array out."""
    y = np.zeros_like(x)
    gate = routing.gate.data
    for s in range(x.shape[0]):
        for n in np.flatnonzero(routing.token == s):
            e = routing.expert[n]
            y[s] += gate[n] * _ffn_numpy(x[s], w1[e], b1[e], w2[e], b2[e], activation)
    return y


def dense_moe(x: np.ndarray, routing: Routing, w1, b1, w2, b2,
              activation: str = "relu") -> np.ndarray:
    """The dense-mask form of spec A.0: ``X_e = einsum(D, x)``, FFN on every slot,
    ``y = einsum(W, Y_e)`` with D, W (S, E, C) from :meth:`Routing.dense_masks`."""
    dispatch_mask, combine = routing.dense_masks()
    xe = np.einsum("sec,sd->ecd", dispatch_mask, x)
    ye = np.stack([_ffn_numpy(xe[e], w1[e], b1[e], w2[e], b2[e], activation)
                   for e in range(routing.n_experts)])
    return np.einsum("sec,ecd->sd", combine, ye)
