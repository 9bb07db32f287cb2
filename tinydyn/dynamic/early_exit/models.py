"""Multi-exit networks: a backbone of L layers with an internal classifier (exit head) after
every layer, and the NumPy inference runners the exit engines drive.

    MultiExitMLP          x -> relu(stem) -> [h + fc2(relu(fc1(h)))] x L, head_i(h_i) after each
    MultiExitTransformer  x (N, T, F) -> linear + positions -> [encoder layer] x L,
                          head_i(masked mean of h_i) after each

Both also carry one learning-to-exit unit ``lte`` (BERxiT: a single Linear(d, 1) shared by all
layers, read through a sigmoid). ``forward`` returns the list of the L exits' logits, so every
training recipe sees all of them; the runner (``model.runner()``) is the hard-decision path:
``embed``, ``layer(i, state)`` and ``head(i, state)`` on plain arrays, run only as far as an
engine asks.
"""

from __future__ import annotations

import math

import numpy as np

from tinydyn._checks import check_int, fail
from tinydyn.autograd.function import no_grad
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.early_exit.kernels import linear_rows, mlp_block
from tinydyn.nn.attention import TransformerEncoderLayer
from tinydyn.nn.containers import ModuleList
from tinydyn.nn.layers import Linear
from tinydyn.nn.module import Module, Parameter

__all__ = ["MLPRunner", "MultiExitMLP", "MultiExitTransformer", "TransformerRunner"]


class _ResidualBlock(Module):
    """h + fc2(relu(fc1(h))): (N, width) -> (N, width)."""

    def __init__(self, width: int, hidden: int, rng, dtype):
        super().__init__()
        self.fc1 = Linear(width, hidden, rng=rng, dtype=dtype)
        self.fc2 = Linear(hidden, width, rng=rng, dtype=dtype)
        # a smaller residual branch at the start keeps 8 unnormalised blocks from blowing up
        self.fc2.weight.data *= 0.5

    def forward(self, h: Tensor) -> Tensor:
        return h + self.fc2(self.fc1(h).relu())


class MultiExitMLP(Module):
    """Residual MLP with an exit after every block (spec C.10: 8 blocks of width 64).

    x (N, ...) is flattened to (N, in_features). ``forward(x)`` -> list of L logits (N, C);
    ``hidden(x)`` -> list of L exit inputs (N, width), which the exits (and LTE) read.

    ``mix_layers=True`` gives the Right Tool's classifiers: exit i reads a learned weighted sum
    ``sum_{j=0..i} a_i[j] h_j`` of the stem's output h_0 and every block's output up to its
    own (``mix.i``: i + 1 weights, starting at unit length); otherwise exit i reads h_i.
    """

    def __init__(self, in_features: int, num_classes: int, width: int = 64, depth: int = 8,
                 hidden: int | None = None, mix_layers: bool = False, rng=None,
                 dtype=np.float32):
        super().__init__()
        fn = "MultiExitMLP"
        self.in_features = check_int(fn, "in_features", in_features, min_value=1)
        self.num_classes = check_int(fn, "num_classes", num_classes, min_value=2)
        self.width = check_int(fn, "width", width, min_value=1)
        self.depth = check_int(fn, "depth", depth, min_value=1)
        self.hidden_size = check_int(fn, "hidden", width if hidden is None else hidden,
                                     min_value=1)
        rng = get_rng(rng, fn)
        self.stem = Linear(in_features, width, rng=rng, dtype=dtype)
        self.blocks = ModuleList(_ResidualBlock(width, self.hidden_size, rng, dtype)
                                 for _ in range(depth))
        self.heads = ModuleList(Linear(width, num_classes, rng=rng, dtype=dtype)
                                for _ in range(depth))
        self.lte = Linear(width, 1, rng=rng, dtype=dtype)
        if not isinstance(mix_layers, bool):
            fail(fn, f"mix_layers must be a bool, got {mix_layers!r}", TypeError)
        self.mix_layers = mix_layers
        if mix_layers:
            self.mix = ModuleList(_Mix(i + 2, dtype) for i in range(depth))

    @property
    def num_layers(self) -> int:
        return self.depth

    def _flat(self, x) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        if x.ndim < 2 or int(np.prod(x.shape[1:])) != self.in_features:
            fail("MultiExitMLP", f"x must be (N, ...) with {self.in_features} features per "
                 f"row, got shape {x.shape}")
        return x.reshape(x.shape[0], self.in_features)

    def hidden(self, x) -> list:
        h = self.stem(self._flat(x)).relu()
        states = [h]
        for block in self.blocks:
            h = block(h)
            states.append(h)
        if not self.mix_layers:
            return states[1:]
        return [self.mix[i](states[:i + 2]) for i in range(self.depth)]

    def forward(self, x) -> list:
        return [head(h) for head, h in zip(self.heads, self.hidden(x))]

    def runner(self) -> MLPRunner:
        return MLPRunner(self)


class _Mix(Module):
    """The Right Tool's layer mixing: sum_j weight[j] * states[j] over ``n`` states."""

    def __init__(self, n: int, dtype):
        super().__init__()
        self.weight = Parameter(np.full(n, 1.0 / np.sqrt(n), dtype=dtype))  # unit length

    def forward(self, states: list) -> Tensor:
        out = None
        for j, h in enumerate(states):
            term = h * self.weight[j:j + 1]
            out = term if out is None else out + term
        return out


class MultiExitTransformer(Module):
    """Transformer encoder classifier with an exit after every layer.

    x (N, T, F) real-valued tokens (T <= max_len), optional key_padding_mask (N, T) bool
    (True = padding). Each exit reads the mean of the layer's non-padded positions.
    ``forward(x, key_padding_mask=None)`` -> list of L logits (N, C).
    """

    def __init__(self, in_features: int, num_classes: int, max_len: int, d_model: int = 32,
                 nhead: int = 2, dim_feedforward: int = 64, num_layers: int = 6, rng=None,
                 dtype=np.float32):
        super().__init__()
        fn = "MultiExitTransformer"
        self.in_features = check_int(fn, "in_features", in_features, min_value=1)
        self.num_classes = check_int(fn, "num_classes", num_classes, min_value=2)
        self.max_len = check_int(fn, "max_len", max_len, min_value=1)
        self.depth = check_int(fn, "num_layers", num_layers, min_value=1)
        self.width = check_int(fn, "d_model", d_model, min_value=1)
        rng = get_rng(rng, fn)
        self.embed = Linear(in_features, d_model, rng=rng, dtype=dtype)
        self.pos = Parameter((0.1 * rng.standard_normal((max_len, d_model))).astype(dtype))
        self.layers = ModuleList(
            TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout=0.0, rng=rng,
                                    dtype=dtype) for _ in range(num_layers))
        self.heads = ModuleList(Linear(d_model, num_classes, rng=rng, dtype=dtype)
                                for _ in range(num_layers))
        self.lte = Linear(d_model, 1, rng=rng, dtype=dtype)

    @property
    def num_layers(self) -> int:
        return self.depth

    def _check(self, x, key_padding_mask):
        fn = "MultiExitTransformer"
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        if x.ndim != 3 or x.shape[2] != self.in_features or x.shape[1] > self.max_len:
            fail(fn, f"x must be (N, T <= {self.max_len}, {self.in_features}), got shape "
                 f"{x.shape}")
        keep = np.ones(x.shape[:2], dtype=x.dtype)
        if key_padding_mask is not None:
            mask = np.asarray(key_padding_mask)
            if mask.dtype != bool or mask.shape != x.shape[:2]:
                fail(fn, f"key_padding_mask must be a bool array of shape {x.shape[:2]}, got "
                     f"{mask.dtype} {mask.shape}")
            keep = (~mask).astype(x.dtype)
        return x, keep

    def hidden(self, x, key_padding_mask=None) -> list:
        """Pooled (N, d_model) state after each layer (the exits' inputs)."""
        x, keep = self._check(x, key_padding_mask)
        h = self.embed(x) + self.pos[:x.shape[1]]
        weights = keep / np.maximum(keep.sum(1, keepdims=True), 1)
        pooled = []
        for layer in self.layers:
            h = layer(h, key_padding_mask=key_padding_mask)
            pooled.append((h * weights[:, :, None]).sum(1))
        return pooled

    def forward(self, x, key_padding_mask=None) -> list:
        return [head(p) for head, p in zip(self.heads, self.hidden(x, key_padding_mask))]

    def runner(self) -> TransformerRunner:
        return TransformerRunner(self)


def _layer_norm(x, gamma, beta, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


class MLPRunner:
    """Hard-decision inference for :class:`MultiExitMLP` on plain arrays (weights copied, so
    later training does not change a runner). State: ``{"h": (n, width)}``."""

    def __init__(self, model: MultiExitMLP):
        if not isinstance(model, MultiExitMLP):
            fail("MLPRunner", f"model must be a MultiExitMLP, got {type(model).__name__}",
                 TypeError)
        c = np.ascontiguousarray
        self.num_layers, self.num_classes = model.depth, model.num_classes
        self.in_features = model.in_features
        self.stem_w, self.stem_b = c(model.stem.weight.data), c(model.stem.bias.data)
        self.w1 = c(np.stack([b.fc1.weight.data for b in model.blocks]))
        self.b1 = c(np.stack([b.fc1.bias.data for b in model.blocks]))
        self.w2 = c(np.stack([b.fc2.weight.data for b in model.blocks]))
        self.b2 = c(np.stack([b.fc2.bias.data for b in model.blocks]))
        self.head_w = c(np.stack([h.weight.data for h in model.heads]))
        self.head_b = c(np.stack([h.bias.data for h in model.heads]))
        self.lte_w, self.lte_b = c(model.lte.weight.data[0]), float(model.lte.bias.data[0])
        self.dtype = self.stem_w.dtype
        # Right Tool mixing: every block's output is kept in the state, row by row
        self.mix = [c(m.weight.data) for m in model.mix] if model.mix_layers else None

    def embed(self, x, key_padding_mask=None) -> dict:
        x = np.ascontiguousarray(np.asarray(x, dtype=self.dtype).reshape(len(x), -1))
        if x.shape[1] != self.in_features:
            fail("MLPRunner.embed", f"x must have {self.in_features} features per row, got "
                 f"{x.shape[1]}")
        h = np.maximum(linear_rows(x, self.stem_w, self.stem_b), 0)
        if self.mix is None:
            return {"h": h}
        hist = np.zeros((len(h), self.num_layers + 1, h.shape[1]), dtype=h.dtype)
        hist[:, 0] = h
        return {"h": h, "hist": hist}

    def layer(self, i: int, state: dict) -> dict:
        h = mlp_block(state["h"], self.w1[i], self.b1[i], self.w2[i], self.b2[i])
        if self.mix is None:
            return {"h": h}
        hist = state["hist"].copy()
        hist[:, i + 1] = h
        return {"h": h, "hist": hist}

    def head(self, i: int, state: dict) -> tuple[np.ndarray, np.ndarray]:
        """(logits (n, C), features (n, width)) of exit ``i`` (0-based)."""
        feats = state["h"] if self.mix is None else np.ascontiguousarray(
            np.einsum("j,njd->nd", self.mix[i], state["hist"][:, :i + 2]))
        return linear_rows(feats, self.head_w[i], self.head_b[i]), feats


class TransformerRunner:
    """Hard-decision inference for :class:`MultiExitTransformer`. State: ``{"h": (n, T, d),
    "keep": (n, T)}`` (keep = 1 for real tokens), gathered row by row with the samples."""

    def __init__(self, model: MultiExitTransformer):
        if not isinstance(model, MultiExitTransformer):
            fail("TransformerRunner", f"model must be a MultiExitTransformer, got "
                 f"{type(model).__name__}", TypeError)
        self.model = model
        self.num_layers, self.num_classes = model.depth, model.num_classes
        self.dtype = model.embed.weight.data.dtype
        for layer in model.layers:
            if layer.norm_first or layer.activation != "relu" or layer.dropout.p > 0:
                fail("TransformerRunner", "the layers must be post-norm ReLU without dropout "
                     "(as MultiExitTransformer builds them)")
        self._cache = {}  # per-layer weights, copied once (later training does not change them)

    def embed(self, x, key_padding_mask=None) -> dict:
        x, keep = self.model._check(np.asarray(x, dtype=self.dtype), key_padding_mask)
        with no_grad():
            h = (self.model.embed(x) + self.model.pos[:x.shape[1]]).data
        return {"h": h, "keep": keep}

    def layer(self, i: int, state: dict) -> dict:
        """Encoder layer ``i`` in plain NumPy (post-norm, ReLU, no dropout: the model's
        layers as built); the autograd layer's per-op bookkeeping would cost more than a
        small batch's arithmetic, and compaction only pays when the cost scales with rows."""
        p = self._params(i)
        h, keep = state["h"], state["keep"]
        n, t, d = h.shape
        heads = p["nhead"]
        qkv = h.reshape(n * t, d) @ p["w_in"].T + p["b_in"]  # (n t, 3 d)
        qkv = qkv.reshape(n, t, 3, heads, d // heads).transpose(2, 0, 3, 1, 4)
        scores = (qkv[0] @ qkv[1].transpose(0, 1, 3, 2)) * (1.0 / math.sqrt(d // heads))
        scores = np.where(keep[:, None, None, :] > 0, scores, -np.inf)
        all_pad = ~(keep > 0).any(axis=1)
        if all_pad.any():  # a row of padding only: a uniform average, as masked_softmax does
            scores[all_pad] = 0.0
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs = scores / scores.sum(axis=-1, keepdims=True)
        ctx = (probs @ qkv[2]).transpose(0, 2, 1, 3).reshape(n * t, d)
        x = h.reshape(n * t, d) + ctx @ p["w_out"].T + p["b_out"]
        x = _layer_norm(x, p["g1"], p["beta1"], p["eps"])
        ff = np.maximum(x @ p["w1"].T + p["b1"], 0) @ p["w2"].T + p["b2"]
        x = _layer_norm(x + ff, p["g2"], p["beta2"], p["eps"])
        return {"h": x.reshape(n, t, d).astype(h.dtype, copy=False), "keep": keep}

    def _params(self, i: int) -> dict:
        if i not in self._cache:
            layer = self.model.layers[i]
            att = layer.self_attn
            self._cache[i] = {
                "nhead": layer.nhead, "w_in": att.in_proj_weight.data.copy(),
                "b_in": att.in_proj_bias.data.copy(), "w_out": att.out_proj.weight.data.copy(),
                "b_out": att.out_proj.bias.data.copy(), "w1": layer.linear1.weight.data.copy(),
                "b1": layer.linear1.bias.data.copy(), "w2": layer.linear2.weight.data.copy(),
                "b2": layer.linear2.bias.data.copy(), "g1": layer.norm1.weight.data.copy(),
                "beta1": layer.norm1.bias.data.copy(), "g2": layer.norm2.weight.data.copy(),
                "beta2": layer.norm2.bias.data.copy(), "eps": layer.norm1.eps}
        return self._cache[i]

    def head(self, i: int, state: dict) -> tuple[np.ndarray, np.ndarray]:
        keep = state["keep"]
        pooled = (state["h"] * keep[:, :, None]).sum(1) / np.maximum(keep.sum(1), 1)[:, None]
        head = self.model.heads[i]
        return pooled @ head.weight.data.T + head.bias.data, pooled
