"""Multi-head attention and the Transformer encoder, batch first, with PyTorch's names.

Shapes: B batch, T sequence length, D model width, h heads, d = D / h per head.

    Q, K, V = query W_q^T + b_q, key W_k^T + b_k, value W_v^T + b_v       (B, T, D)
    split heads: (B, T, D) -> (B, h, T, d)
    A = softmax(Q K^T / sqrt(d) with padded keys masked)                  (B, h, Tq, Tk)
    out = merge_heads(A V) W_o^T + b_o                                     (B, Tq, D)

Dropout masks come from the default generator (reset by ``tinydyn.manual_seed``), looked up at
each call; ``rng=`` in the constructors seeds the initial weights only.

Everything is composed from tinydyn ops (linear, reshape, permute, matmul, the fused masked
softmax of :mod:`tinydyn.autograd.ops_attention`, dropout), so gradients come from the engine
and the attention probabilities ``A`` are an ordinary differentiable tensor: token pruning
scores tokens with them.
"""

from __future__ import annotations

import math

import numpy as np

from tinydyn._checks import check_float, check_int, fail
from tinydyn.autograd.ops_attention import masked_softmax
from tinydyn.autograd.ops_linalg import linear
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import Tensor
from tinydyn.nn import functional as F
from tinydyn.nn import init
from tinydyn.nn.layers import Dropout, LayerNorm, Linear, _check_dtype
from tinydyn.nn.module import Module, ModuleList, Parameter

__all__ = ["MultiHeadAttention", "TransformerEncoder", "TransformerEncoderLayer"]


def _check_bool(fn: str, name: str, value) -> bool:
    if not isinstance(value, bool):
        fail(fn, f"{name} must be a bool, got {type(value).__name__} {value!r}", TypeError)
    return value


def _check_sequence_input(fn: str, name: str, x, width: int) -> None:
    if not isinstance(x, Tensor):
        fail(fn, f"{name} must be a Tensor, got {type(x).__name__}", TypeError)
    if x.ndim != 3 or x.shape[2] != width:
        fail(fn, f"expected {name} of shape (B, T, {width}), got {x.shape}")


def _padding_mask_array(fn: str, mask, batch: int, length: int) -> np.ndarray | None:
    """``key_padding_mask`` as a (B, Tk) bool array (True = padding), or None."""
    if mask is None:
        return None
    array = mask.data if isinstance(mask, Tensor) else mask
    if not isinstance(array, np.ndarray):
        fail(fn, f"key_padding_mask must be a bool Tensor or ndarray, got "
             f"{type(mask).__name__}", TypeError)
    if array.dtype != np.bool_:
        fail(fn, f"key_padding_mask must be boolean (True = padding), got dtype {array.dtype}",
             TypeError)
    if array.shape != (batch, length):
        fail(fn, f"expected key_padding_mask of shape (B, Tk) = {(batch, length)}, got "
             f"{array.shape}")
    return array


class MultiHeadAttention(Module):
    """Multi-head scaled dot-product attention (``torch.nn.MultiheadAttention`` with
    ``batch_first=True``).

    Parameters as in torch, so weights copy over one to one: ``in_proj_weight`` (3D, D) stacks
    W_q, W_k, W_v (Xavier-uniform), ``in_proj_bias`` (3D,) (zeros), ``out_proj`` a Linear(D, D)
    (its bias zeroed). ``dropout`` applies to the attention probabilities in training.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 rng=None, dtype=np.float32):
        super().__init__()
        fn = "MultiHeadAttention"
        self.embed_dim = check_int(fn, "embed_dim", embed_dim, min_value=1)
        self.num_heads = check_int(fn, "num_heads", num_heads, min_value=1)
        if embed_dim % num_heads:
            fail(fn, f"embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})")
        self.head_dim = embed_dim // num_heads
        self.dropout = check_float(fn, "dropout", dropout, low=0.0, high=1.0)
        _check_bool(fn, "bias", bias)
        dtype = _check_dtype(fn, dtype)
        rng = get_rng(rng, fn)
        self.in_proj_weight = Parameter(np.empty((3 * embed_dim, embed_dim), dtype=dtype))
        init.xavier_uniform_(self.in_proj_weight, rng=rng)
        if bias:
            self.in_proj_bias = Parameter(np.zeros(3 * embed_dim, dtype=dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, rng=rng, dtype=dtype)
        if bias:
            init.zeros_(self.out_proj.bias)
        self.attn_dropout = Dropout(self.dropout)

    def _project(self, x: Tensor, which: int) -> Tensor:
        """Rows ``which*D .. (which+1)*D`` of the packed projection applied to ``x``, split into
        heads: (B, T, D) -> (B, h, T, d). Slicing the Parameter sends its gradient back into
        the right third of ``in_proj_weight``."""
        D = self.embed_dim
        rows = slice(which * D, (which + 1) * D)
        bias = self.in_proj_bias[rows] if self.in_proj_bias is not None else None
        B, T, _ = x.shape
        y = linear(x, self.in_proj_weight[rows], bias)  # one 2-D GEMM over all B*T rows
        return F.permute(F.reshape(y, (B, T, self.num_heads, self.head_dim)), (0, 2, 1, 3))

    def forward(self, query: Tensor, key: Tensor | None = None, value: Tensor | None = None,
                key_padding_mask=None, need_weights: bool = False):
        """query (B, Tq, D); key and value (B, Tk, D) (default: the query, i.e. self-attention);
        key_padding_mask (B, Tk) bool, True marks padding keys (torch's convention).

        Returns the output (B, Tq, D), or ``(output, probs)`` if ``need_weights``, where probs
        (B, h, Tq, Tk) are the per-head attention probabilities *before* dropout (torch
        averages over heads by default; token pruning needs them per head).
        """
        fn = "MultiHeadAttention"
        D = self.embed_dim
        _check_sequence_input(fn, "query", query, D)
        key = query if key is None else key
        value = key if value is None else value
        _check_sequence_input(fn, "key", key, D)
        _check_sequence_input(fn, "value", value, D)
        B, Tq, _ = query.shape
        if key.shape[0] != B or value.shape[0] != B:
            fail(fn, f"query, key and value must share the batch size, got shapes "
                 f"{query.shape}, {key.shape} and {value.shape}")
        if key.shape[1] != value.shape[1]:
            fail(fn, f"key and value must have the same length, got shapes {key.shape} and "
                 f"{value.shape}")
        for name, t in (("key", key), ("value", value)):
            if t.dtype != query.dtype:
                fail(fn, f"{name} must have the query's dtype {query.dtype}, got {t.dtype}",
                     TypeError)
        _check_bool(fn, "need_weights", need_weights)
        Tk = key.shape[1]
        pad = _padding_mask_array(fn, key_padding_mask, B, Tk)

        # Three GEMMs, not one with the packed (3D, D) weight: splitting the packed output
        # into q, k, v costs three full-size zero-filled gradients in the backward, which eat
        # what the larger GEMM saves (measured on the bench step: no faster with the tuned
        # allocator of tinydyn.autograd.memory, 17% slower without it).
        q, k, v = self._project(query, 0), self._project(key, 1), self._project(value, 2)
        scores = F.matmul(q, F.transpose(k, -1, -2))  # (B, h, Tq, Tk)
        # scale, mask and softmax in one fused kernel (one pass each way, no temporaries)
        probs = masked_softmax(scores, pad, 1.0 / math.sqrt(self.head_dim))
        context = F.matmul(self.attn_dropout(probs), v)  # (B, h, Tq, d)
        merged = F.reshape(F.permute(context, (0, 2, 1, 3)), (B, Tq, D))
        out = linear(merged, self.out_proj.weight, self.out_proj.bias)
        return (out, probs) if need_weights else out

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"dropout={self.dropout}, bias={self.in_proj_bias is not None}")


_ACTIVATIONS = {"relu": F.relu, "gelu": F.gelu}


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward block, each with a residual connection and LayerNorm
    (``torch.nn.TransformerEncoderLayer`` with ``batch_first=True``, same parameter names).

    Post-norm (default, the original Transformer)::

        x = norm1(x + dropout1(self_attn(x)));  x = norm2(x + dropout2(ff(x)))

    Pre-norm (``norm_first=True``; trains more stably when deep)::

        x = x + dropout1(self_attn(norm1(x)));  x = x + dropout2(ff(norm2(x)))

    with ``ff(x) = linear2(dropout(activation(linear1(x))))``. ``activation`` is "relu" or
    "gelu" (the exact erf GELU, as in PyTorch).
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str = "relu", norm_first: bool = False,
                 layer_norm_eps: float = 1e-5, rng=None, dtype=np.float32):
        super().__init__()
        fn = "TransformerEncoderLayer"
        self.d_model = check_int(fn, "d_model", d_model, min_value=1)
        self.nhead = check_int(fn, "nhead", nhead, min_value=1)
        if d_model % nhead:
            fail(fn, f"d_model ({d_model}) must be divisible by nhead ({nhead})")
        self.dim_feedforward = check_int(fn, "dim_feedforward", dim_feedforward, min_value=1)
        p = check_float(fn, "dropout", dropout, low=0.0, high=1.0)
        if activation not in _ACTIVATIONS:
            fail(fn, f"activation must be 'relu' or 'gelu', got {activation!r}")
        self.activation = activation
        self.norm_first = _check_bool(fn, "norm_first", norm_first)
        rng = get_rng(rng, fn)
        self.self_attn = MultiHeadAttention(d_model, nhead, dropout=p, rng=rng, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, rng=rng, dtype=dtype)
        self.dropout = Dropout(p)
        self.linear2 = Linear(dim_feedforward, d_model, rng=rng, dtype=dtype)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, dtype=dtype)
        self.dropout1 = Dropout(p)
        self.dropout2 = Dropout(p)

    def _attention_block(self, x: Tensor, key_padding_mask) -> tuple[Tensor, Tensor]:
        out, probs = self.self_attn(x, key_padding_mask=key_padding_mask, need_weights=True)
        return self.dropout1(out), probs

    def _feedforward_block(self, x: Tensor) -> Tensor:
        # the fused linear op on the layers' parameters: one op each instead of three
        hidden = _ACTIVATIONS[self.activation](linear(x, self.linear1.weight, self.linear1.bias))
        return self.dropout2(linear(self.dropout(hidden), self.linear2.weight, self.linear2.bias))

    def forward(self, x: Tensor, key_padding_mask=None, need_weights: bool = False):
        """x (B, T, d_model) -> (B, T, d_model); key_padding_mask (B, T) bool, True = padding
        (padded positions are still computed, but no position attends to them). With
        ``need_weights``, returns ``(output, probs)``: the self-attention probabilities
        (B, nhead, T, T), as :class:`MultiHeadAttention` gives them (for token pruning)."""
        fn = "TransformerEncoderLayer"
        _check_sequence_input(fn, "input", x, self.d_model)
        _check_bool(fn, "need_weights", need_weights)
        if self.norm_first:
            attended, probs = self._attention_block(self.norm1(x), key_padding_mask)
            x = x + attended
            x = x + self._feedforward_block(self.norm2(x))
        else:
            attended, probs = self._attention_block(x, key_padding_mask)
            x = self.norm1(x + attended)
            x = self.norm2(x + self._feedforward_block(x))
        return (x, probs) if need_weights else x

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, nhead={self.nhead}, "
                f"dim_feedforward={self.dim_feedforward}, dropout={self.dropout.p}, "
                f"activation={self.activation!r}, norm_first={self.norm_first}")


class TransformerEncoder(Module):
    """A stack of ``num_layers`` :class:`TransformerEncoderLayer` (``layers.0`` ...), each with
    its own weights, optionally followed by a final LayerNorm ``norm`` (customary with
    pre-norm layers, whose output is otherwise un-normalised).

    ``forward(x, key_padding_mask=None, return_all_hidden=False)`` returns the output (B, T, D)
    or ``(output, [h_1, ..., h_L])``, the output of every layer (before the final norm), to
    which early-exit models attach their internal classifiers.
    """

    def __init__(self, num_layers: int, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str = "relu", norm_first: bool = False,
                 final_norm: bool = False, layer_norm_eps: float = 1e-5, rng=None,
                 dtype=np.float32):
        super().__init__()
        fn = "TransformerEncoder"
        self.num_layers = check_int(fn, "num_layers", num_layers, min_value=1)
        check_int(fn, "d_model", d_model, min_value=1)
        check_int(fn, "nhead", nhead, min_value=1)
        if d_model % nhead:
            fail(fn, f"d_model ({d_model}) must be divisible by nhead ({nhead})")
        _check_bool(fn, "final_norm", final_norm)
        rng = get_rng(rng, fn)
        self.layers = ModuleList(
            TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation,
                                    norm_first, layer_norm_eps, rng=rng, dtype=dtype)
            for _ in range(num_layers))
        self.d_model = d_model
        if final_norm:
            self.norm = LayerNorm(d_model, eps=layer_norm_eps, dtype=dtype)
        else:
            self.add_module("norm", None)

    def forward(self, x: Tensor, key_padding_mask=None, return_all_hidden: bool = False):
        _check_bool("TransformerEncoder", "return_all_hidden", return_all_hidden)
        _check_sequence_input("TransformerEncoder", "input", x, self.d_model)
        hidden = []
        for layer in self.layers:
            x = layer(x, key_padding_mask=key_padding_mask)
            hidden.append(x)
        if self.norm is not None:
            x = self.norm(x)
        return (x, hidden) if return_all_hidden else x

    def extra_repr(self) -> str:
        return f"num_layers={self.num_layers}"
