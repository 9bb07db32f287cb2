"""FLOP counting: analytic formulas per layer, and a counter that records what a model spends.

Convention (used everywhere in tinydyn): **a multiply-add is 2 FLOPs**; every other arithmetic
or transcendental operation on one element is 1 FLOP; moving data (reshape, indexing, cat,
an embedding lookup) is free. Papers often report multiply-adds ("MACs") and call them FLOPs:
ResNet-18's "1.8 GFLOPs" are 1.8 G multiply-adds, 3.6 GFLOPs here.

Two ways to count:

* **analytic** — ``linear_flops(...)``, ``conv2d_flops(...)``, ``lstm_flops(...)`` ... give the
  cost of a layer from its sizes; dynamic methods build their cost models from these;
* **measured** — ``with FlopCounter() as fc: model(x)`` records every op that actually ran,
  so a hard-decision path that physically skips work is charged only for what it did. Code
  that runs outside the autograd ops (a Numba inference loop) reports its own cost with
  :func:`add_flops`.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from tinydyn._checks import check_int, fail
from tinydyn.autograd import function as _function

# ---- analytic formulas --------------------------------------------------------------------


def linear_flops(in_features: int, out_features: int, rows: int = 1, bias: bool = True) -> int:
    """``rows`` inputs through ``x @ W.T + b``: 2·in·out per row, plus out for the bias."""
    return rows * (2 * in_features * out_features + (out_features if bias else 0))


def conv2d_flops(in_channels: int, out_channels: int, kernel_size, out_hw, batch: int = 1,
                 groups: int = 1, bias: bool = True) -> int:
    """A convolution producing ``out_hw`` = (H_out, W_out) maps: 2·(C/g)·kh·kw per output."""
    kh, kw = _pair(kernel_size)
    h, w = _pair(out_hw)
    per_output = 2 * (in_channels // groups) * kh * kw + (1 if bias else 0)
    return batch * out_channels * h * w * per_output


def lstm_cell_flops(input_size: int, hidden_size: int, rows: int = 1) -> int:
    """One LSTM step: the 4 gates' matmuls (2·4H·(I+H)), biases, and ~10 elementwise ops per
    hidden unit (3 sigmoids, 2 tanh, 3 products, 1 sum, bias add of the 4H pre-activations)."""
    matmul = 2 * 4 * hidden_size * (input_size + hidden_size)
    elementwise = 4 * hidden_size + 9 * hidden_size
    return rows * (matmul + elementwise)


def lstm_flops(input_size: int, hidden_size: int, steps: int, batch: int = 1) -> int:
    """An LSTM over ``steps`` tokens for ``batch`` sequences (no padding)."""
    return steps * lstm_cell_flops(input_size, hidden_size, rows=batch)


def gru_cell_flops(input_size: int, hidden_size: int, rows: int = 1) -> int:
    """One GRU step: 3 gates' matmuls (2·3H·(I+H)), biases, and ~8 elementwise ops per unit."""
    return rows * (2 * 3 * hidden_size * (input_size + hidden_size) + 6 * hidden_size
                   + 8 * hidden_size)


def attention_flops(seq_len: int, d_model: int, num_heads: int, batch: int = 1,
                    kv_len: int | None = None) -> int:
    """Multi-head self-attention: Q, K, V and output projections, QK^T, softmax, and AV."""
    kv_len = seq_len if kv_len is None else kv_len
    projections = linear_flops(d_model, d_model, seq_len) * 2 + linear_flops(
        d_model, d_model, kv_len) * 2
    scores = 2 * seq_len * kv_len * d_model  # summed over heads: d_head * heads = d_model
    softmax = 5 * num_heads * seq_len * kv_len  # scale, max-subtract, exp, sum, divide
    mix = 2 * seq_len * kv_len * d_model
    return batch * (projections + scores + softmax + mix)


def layer_norm_flops(elements: int) -> int:
    """Mean, variance, normalise, scale and shift: about 8 FLOPs per element."""
    return 8 * elements


def transformer_layer_flops(seq_len: int, d_model: int, num_heads: int, d_ff: int,
                            batch: int = 1) -> int:
    """One encoder layer: attention, two residual adds, two layer norms, a GELU/ReLU MLP."""
    tokens = batch * seq_len
    mlp = linear_flops(d_model, d_ff, tokens) + linear_flops(d_ff, d_model, tokens)
    return (attention_flops(seq_len, d_model, num_heads, batch) + mlp + d_ff * tokens
            + 2 * d_model * tokens + 2 * layer_norm_flops(d_model * tokens))


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# ---- the measured counter -----------------------------------------------------------------

# Ops that only move data cost nothing.
FREE_OPS = {
    "Reshape", "Permute", "Expand", "Squeeze", "Unsqueeze", "Flatten", "Cat", "Stack", "Pad",
    "GetItem", "Gather", "TakeAlongDim", "Embedding", "Cast", "MaskedFill", "Where", "Clip",
    "TopK", "Dropout",
}


def _matmul(arrays, out, kwargs):
    a, b = arrays
    k = a.shape[-1]
    return 2 * k * out.size


def _conv2d(arrays, out, kwargs):
    weight = arrays[1]
    per_output = 2 * int(np.prod(weight.shape[-3:]))  # (C/g)·kh·kw
    bias = 1 if len(arrays) > 2 and arrays[2] is not None and arrays[2].size else 0
    return out.size * (per_output + bias)


def _lstm(arrays, out, kwargs):
    x, h0 = arrays[0], arrays[1]
    batch, steps, n_in = x.shape
    hidden = h0.shape[-1]
    mask = arrays[6] if len(arrays) > 6 else None
    real_steps = int(np.count_nonzero(mask)) if mask is not None and mask.size else batch * steps
    return real_steps * lstm_cell_flops(n_in, hidden)


def _per_element(factor):
    return lambda arrays, out, kwargs: factor * max(a.size for a in arrays)


# Op class name -> cost(input arrays, output array, kwargs). Anything not listed here and not
# free is charged one FLOP per element of its largest operand (elementwise arithmetic, reductions).
OP_COSTS = {
    "MatMul": _matmul,
    "Conv2d": _conv2d,
    "Conv2dFunction": _conv2d,
    "LSTM": _lstm,
    "LSTMFunction": _lstm,
    "FusedLSTM": _lstm,
    "Softmax": _per_element(5),
    "LogSoftmax": _per_element(5),
    "CrossEntropy": _per_element(5),
    "LayerNorm": _per_element(8),
    "GELU": _per_element(8),
    "GumbelSoftmax": _per_element(8),
}

_active: list = []


class FlopCounter:
    """Record the FLOPs of every op run inside ``with FlopCounter() as fc:``.

    ``fc.total`` is the sum; ``fc.by_op`` maps each op (or label given to :func:`add_flops`) to
    its FLOPs. Counters nest: an inner counter's ops are also charged to the outer one.
    """

    def __init__(self):
        self.total = 0
        self.by_op: dict = defaultdict(int)

    def _observe(self, fn_class, arrays, out, kwargs):
        name = fn_class.__name__
        if name in FREE_OPS:
            return
        cost_fn = getattr(fn_class, "flops", None) or OP_COSTS.get(name)
        if cost_fn is None:
            cost = max((a.size for a in arrays), default=out.size)
        else:
            cost = int(cost_fn(arrays, out, kwargs))
        self.add(cost, name)

    def add(self, flops: int, label: str) -> None:
        self.total += int(flops)
        self.by_op[label] += int(flops)

    def __enter__(self) -> FlopCounter:
        _function.op_observers.append(self._observe)
        _active.append(self)
        return self

    def __exit__(self, *exc):
        _function.op_observers.remove(self._observe)
        _active.remove(self)
        return False

    def summary(self) -> str:
        """One line per op, largest first, with its share of the total."""
        lines = [f"total {format_flops(self.total)}"]
        for name, n in sorted(self.by_op.items(), key=lambda kv: -kv[1]):
            share = 100 * n / max(1, self.total)
            lines.append(f"  {name:<16} {format_flops(n):>10}  {share:5.1f}%")
        return "\n".join(lines)


def add_flops(flops: int, label: str = "kernel") -> None:
    """Charge ``flops`` to every active counter (for work done outside the autograd ops)."""
    flops = check_int("add_flops", "flops", int(flops) if isinstance(flops, np.integer)
                      else flops, min_value=0)
    for counter in _active:
        counter.add(flops, label)


def count_flops(fn, *args, **kwargs) -> int:
    """FLOPs spent by one call ``fn(*args, **kwargs)``."""
    if not callable(fn):
        fail("count_flops", f"fn must be callable, got {type(fn).__name__}", TypeError)
    with FlopCounter() as counter:
        fn(*args, **kwargs)
    return counter.total


def format_flops(n: float) -> str:
    """1234567 -> '1.23 MFLOPs'."""
    if n < 1000:
        return f"{int(n)} FLOPs"
    exponent = min(int(math.log10(n) // 3), 4)
    unit = ["", "K", "M", "G", "T"][exponent]
    return f"{n / 1000 ** exponent:.3g} {unit}FLOPs"
