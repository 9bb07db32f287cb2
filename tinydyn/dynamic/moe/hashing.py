"""Hash layers (Roller et al., 2021): route every token by its token id through a fixed table.

The router has no parameters and no loss: token ``v`` always goes to expert ``table[v]``, with
gate 1, whatever its hidden state, position or batch. Two ways to build the table (V,):

* :func:`random_hash`: each id gets an expert drawn uniformly at random (once, before training);
* :func:`balanced_hash`: ids, most frequent first, each go to the expert with the least
  frequency mass so far (greedy "longest processing time first" scheduling), so the training
  distribution loads the experts evenly: the spread between the most and least loaded expert is
  at most the largest single-id frequency.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_int, fail
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.moe.routing import Router, Routing

__all__ = ["HashRouter", "balanced_hash", "hash_loads", "random_hash", "token_frequencies"]


def random_hash(vocab_size: int, n_experts: int, rng=None) -> np.ndarray:
    """int64 (V,): an expert drawn uniformly for every token id."""
    fn = "random_hash"
    vocab_size = check_int(fn, "vocab_size", vocab_size, min_value=1)
    n_experts = check_int(fn, "n_experts", n_experts, min_value=1)
    return get_rng(rng, fn).integers(0, n_experts, size=vocab_size).astype(np.int64)


def token_frequencies(token_ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """int64 (V,): how often each id occurs in ``token_ids`` (any shape)."""
    fn = "token_frequencies"
    vocab_size = check_int(fn, "vocab_size", vocab_size, min_value=1)
    ids = _check_ids(fn, "token_ids", token_ids, vocab_size)
    return np.bincount(ids.reshape(-1), minlength=vocab_size).astype(np.int64)


def balanced_hash(frequencies: np.ndarray, n_experts: int) -> np.ndarray:
    """int64 (V,): ids by decreasing frequency (ties: lower id first), each to the expert with
    the smallest total frequency so far (ties: lower expert index)."""
    fn = "balanced_hash"
    n_experts = check_int(fn, "n_experts", n_experts, min_value=1)
    if not isinstance(frequencies, np.ndarray) or frequencies.ndim != 1 or frequencies.size == 0:
        fail(fn, f"frequencies must be a non-empty 1-D ndarray (V,), got "
             f"{getattr(frequencies, 'shape', type(frequencies).__name__)}", TypeError)
    if frequencies.dtype.kind not in "iuf" or not np.isfinite(frequencies).all() \
            or (frequencies < 0).any():
        fail(fn, "frequencies must be finite non-negative numbers")
    load = np.zeros(n_experts, dtype=np.float64)
    table = np.empty(frequencies.size, dtype=np.int64)
    for v in np.argsort(-frequencies, kind="stable"):
        e = int(np.argmin(load))
        table[v] = e
        load[e] += frequencies[v]
    return table


def hash_loads(table: np.ndarray, frequencies: np.ndarray, n_experts: int) -> np.ndarray:
    """float64 (E,): the frequency mass each expert receives under ``table``."""
    return np.bincount(table, weights=np.asarray(frequencies, dtype=np.float64),
                       minlength=n_experts)


def _check_ids(fn: str, name: str, ids, vocab_size: int) -> np.ndarray:
    if not isinstance(ids, np.ndarray) or not np.issubdtype(ids.dtype, np.integer):
        fail(fn, f"{name} must be an integer ndarray, got "
             f"{type(ids).__name__ if not isinstance(ids, np.ndarray) else ids.dtype}",
             TypeError)
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        fail(fn, f"{name} must lie in [0, {vocab_size}), got [{ids.min()}, {ids.max()}]")
    return ids.astype(np.int64, copy=False)


class HashRouter(Router):
    """Token ``s`` goes to expert ``table[token_ids[s]]`` with gate 1 (one assignment per token,
    in token order). ``forward(x (S, d), token_ids (S,))``: token_ids are required."""

    fn = "HashRouter"

    def __init__(self, d_model: int, n_experts: int, table: np.ndarray, kind: str = "custom"):
        super().__init__(d_model, n_experts, k=1)
        if not isinstance(table, np.ndarray) or table.ndim != 1 or table.size == 0 \
                or not np.issubdtype(table.dtype, np.integer):
            fail(self.fn, "table must be a non-empty 1-D integer ndarray (V,)", TypeError)
        if table.min() < 0 or table.max() >= n_experts:
            fail(self.fn, f"table values must lie in [0, {n_experts}), got "
                 f"[{table.min()}, {table.max()}]")
        self.table = table.astype(np.int64).copy()
        self.vocab_size = int(table.size)
        self.kind = kind

    @classmethod
    def random(cls, d_model: int, n_experts: int, vocab_size: int, rng=None) -> HashRouter:
        """A router with a :func:`random_hash` table."""
        return cls(d_model, n_experts, random_hash(vocab_size, n_experts, rng), kind="random")

    @classmethod
    def balanced(cls, d_model: int, n_experts: int, frequencies: np.ndarray) -> HashRouter:
        """A router with a :func:`balanced_hash` table built from training frequencies (V,)."""
        return cls(d_model, n_experts, balanced_hash(frequencies, n_experts), kind="balanced")

    def flops(self, n_tokens: int) -> int:
        """FLOPs of routing S tokens: 0 (a table lookup)."""
        check_int(self.fn, "n_tokens", n_tokens, min_value=0)
        return 0

    def forward(self, x: Tensor, token_ids: np.ndarray | None = None) -> Routing:
        self.check_input(x, token_ids)
        if token_ids is None:
            fail(self.fn, "token_ids must be given: a hash router routes by token id")
        ids = _check_ids(self.fn, "token_ids", token_ids, self.vocab_size)
        n = x.shape[0]
        return Routing(token=np.arange(n, dtype=np.int64), expert=self.table[ids],
                       gate=Tensor(np.ones(n, dtype=x.dtype)), aux_loss=None,
                       n_tokens=n, n_experts=self.n_experts, rank=np.zeros(n, dtype=np.int64),
                       info={"hash": self.kind})

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, n_experts={self.n_experts}, vocab={self.vocab_size}, " \
               f"kind={self.kind}"
