"""The cost of an MoE layer and of its dense counterpart, in FLOPs (2 per multiply-add).

For S tokens, width d, experts of width F, E experts, k choices per token::

    router    router.flops(S)           a linear router: 2*S*d*E for the logits x @ W_r and
                                        5*S*E for the softmax; a hash router 0
    experts   R * row                   row = 2dF + F (bias) + a*F (activation) + 2Fd + d
              dropless: R = N, the assignments actually made (k*S when nothing drops)
              slots:    R = E*C per group (every slot computed, filled or not)
    combine   2*N*d                     one multiply-add per element of each assignment
    dense FFN of width k*F:  S * (2d(kF) + kF + a*kF + 2(kF)d + d)

with a = 1 for ReLU and 8 for GELU (what :class:`~tinydyn.measure.flops.FlopCounter` charges).
Per token the MoE layer costs about k FFNs of width F: the dense block of width k*F is its
same-active-FLOPs baseline; it differs by (k - 1)*d (the k output biases) plus the router and
the combine. The router and combine terms equal what the FLOP counter records for those ops
(the ops of the auxiliary losses are training bookkeeping, left out here; a test checks this).
"""

from __future__ import annotations

from tinydyn._checks import check_int, fail
from tinydyn.dynamic.moe.dispatch import expert_row_flops
from tinydyn.dynamic.moe.layer import MoELayer
from tinydyn.measure.flops import layer_norm_flops, linear_flops, transformer_layer_flops

__all__ = ["dense_ffn_cost", "moe_encoder_cost", "moe_layer_cost"]


def moe_layer_cost(layer: MoELayer, n_tokens: int, n_assignments: int | None = None) -> dict:
    """FLOPs of ``layer`` on ``n_tokens`` tokens: dict with router, experts, combine, total,
    per_token. ``n_assignments`` (the N of a Routing) defaults to k*S (nothing dropped)."""
    fn = "moe_layer_cost"
    if not isinstance(layer, MoELayer):
        fail(fn, f"layer must be an MoELayer, got {type(layer).__name__}", TypeError)
    s = check_int(fn, "n_tokens", n_tokens, min_value=1)
    d, f, e = layer.d_model, layer.d_ff, layer.n_experts
    n = round(layer.router.k * s) if n_assignments is None else check_int(
        fn, "n_assignments", n_assignments, min_value=0)
    row = expert_row_flops(d, f, layer.activation == "gelu")
    if layer.form == "slots" and layer.capacity_factor is not None:
        size = layer.group_size or s
        rows = e * layer.capacity(size) * (s // size)
    elif layer.form == "slots":
        fail(fn, "a dropless 'slots' layer has data-dependent buffer rows (the largest load); "
             "give it a capacity_factor")
    else:
        rows = n
    parts = {"router": layer.router.flops(s), "experts": rows * row, "combine": 2 * n * d}
    parts["total"] = sum(parts.values())
    parts["per_token"] = parts["total"] / s
    return parts


def dense_ffn_cost(d_model: int, d_hidden: int, n_tokens: int, activation: str = "relu") -> int:
    """FLOPs of a dense FFN block ``act(x W1 + b1) W2 + b2`` on ``n_tokens`` tokens."""
    fn = "dense_ffn_cost"
    d = check_int(fn, "d_model", d_model, min_value=1)
    h = check_int(fn, "d_hidden", d_hidden, min_value=1)
    s = check_int(fn, "n_tokens", n_tokens, min_value=1)
    act = 8 if activation == "gelu" else 1
    return linear_flops(d, h, s) + act * h * s + linear_flops(h, d, s)


def moe_encoder_cost(model, seq_len: int, batch: int = 1) -> dict:
    """FLOPs of an :class:`~tinydyn.dynamic.moe.models.MoETransformerEncoder` on ``batch``
    sequences of ``seq_len`` tokens, nothing dropped: dict with ``attention_and_norms``,
    ``dense_ffn``, ``moe`` (router + experts + combine of every MoE layer), ``final_norm``,
    ``total`` and ``per_input`` (per sequence). A dense layer costs
    ``transformer_layer_flops``; an MoE layer the same without its FFN, plus
    :func:`moe_layer_cost`."""
    from tinydyn.dynamic.moe.models import MoETransformerEncoder, MoETransformerEncoderLayer

    fn = "moe_encoder_cost"
    if not isinstance(model, MoETransformerEncoder):
        fail(fn, f"model must be an MoETransformerEncoder, got {type(model).__name__}",
             TypeError)
    t = check_int(fn, "seq_len", seq_len, min_value=1)
    b = check_int(fn, "batch", batch, min_value=1)
    tokens = t * b
    parts = {"attention_and_norms": 0, "dense_ffn": 0, "moe": 0, "final_norm": 0}
    for layer in model.layers:
        d, h = layer.d_model, layer.nhead
        if isinstance(layer, MoETransformerEncoderLayer):
            f = layer.moe.d_ff
            parts["moe"] += moe_layer_cost(layer.moe, tokens)["total"]
        else:
            f = layer.dim_feedforward
            parts["dense_ffn"] += dense_ffn_cost(d, f, tokens, layer.activation)
        ffn = dense_ffn_cost(d, f, tokens, layer.activation)
        parts["attention_and_norms"] += transformer_layer_flops(t, d, h, f, b) - ffn
    if model.norm is not None:
        parts["final_norm"] = layer_norm_flops(model.d_model * tokens)
    parts["total"] = sum(parts.values())
    parts["per_input"] = parts["total"] / b
    return parts
