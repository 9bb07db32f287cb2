"""Expert Choice routing (Zhou et al., 2022): each expert picks its C best tokens.

``A = softmax(x W_g)`` (S, E), softmax over experts. Expert ``e`` takes the C tokens with the
largest ``A[:, e]`` (ties: the lower token index), with gate ``A[token, e]``. Every expert
processes exactly ``C = ceil(S * c / E)`` tokens (capped at S), where the capacity factor ``c``
is the average number of experts per token; a token may get 0 experts (it is passed on by the
residual) or several. No balancing loss: balance holds by construction.

The choice for a token depends on every other token of its group, later ones included, so
Expert Choice is not causal: do not use it in an autoregressive decoder.
"""

from __future__ import annotations

import math

import numpy as np

from tinydyn._checks import check_float, check_int, fail
from tinydyn.autograd.ops_index import getitem
from tinydyn.autograd.ops_linalg import matmul
from tinydyn.autograd.ops_nn import softmax
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.moe.routing import CAPACITY_ROUNDINGS, Router, Routing, expert_capacity
from tinydyn.nn import init
from tinydyn.nn.module import Parameter

__all__ = ["ExpertChoiceRouter", "expert_choice_capacity", "expert_choice_select"]


def expert_choice_select(scores: np.ndarray, capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """Each expert's top-``capacity`` tokens by score.

    Args:
        scores: (S, E) float array, token-to-expert scores.
        capacity: C, 1 <= C <= S.
    Returns:
        ``(token, expert)``, int64 (E * C,) each, expert by expert, each expert's tokens in
        decreasing score (equal scores: lower token index first).
    """
    fn = "expert_choice_select"
    if not isinstance(scores, np.ndarray) or scores.ndim != 2:
        fail(fn, f"scores must be a 2-D ndarray (S, E), got "
             f"{getattr(scores, 'shape', type(scores).__name__)}", TypeError)
    n_tokens, n_experts = scores.shape
    capacity = check_int(fn, "capacity", capacity, min_value=1)
    if capacity > n_tokens:
        fail(fn, f"capacity must be <= the number of tokens S={n_tokens}, got {capacity}")
    # stable sort of -score along tokens: descending score, lower index first on ties
    order = np.argsort(-scores.T, axis=1, kind="stable")[:, :capacity]  # (E, C)
    token = order.reshape(-1).astype(np.int64)
    expert = np.repeat(np.arange(n_experts, dtype=np.int64), capacity)
    return token, expert


def expert_choice_capacity(n_tokens: int, n_experts: int, capacity_factor: float,
                           rounding: str = "ceil") -> int:
    """``C = round(S * c / E)`` with :func:`expert_capacity`'s rounding, capped at S."""
    return min(n_tokens, expert_capacity(n_tokens, n_experts, 1, capacity_factor, rounding))


class ExpertChoiceRouter(Router):
    """Router weight ``w`` (d, E) (no bias); ``forward(x (S, d)) -> Routing`` with E * C
    assignments, expert by expert.

    Args:
        d_model, n_experts: widths.
        capacity_factor: c, the average number of experts per token, 0 < c <= E (c = 2 in the
            paper's main experiments; c = E gives every expert every token).
        rounding: how ``S * c / E`` becomes an integer ("ceil", "floor", "ceil4").
    """

    fn = "ExpertChoiceRouter"

    def __init__(self, d_model: int, n_experts: int, capacity_factor: float = 2.0,
                 rounding: str = "ceil", rng=None, dtype=np.float32):
        super().__init__(d_model, n_experts)
        c = check_float(self.fn, "capacity_factor", capacity_factor, low=0.0, low_open=True)
        if c > n_experts:
            fail(self.fn, f"capacity_factor must be <= n_experts={n_experts} (an expert "
                 f"cannot take a token twice), got {c}")
        if rounding not in CAPACITY_ROUNDINGS:
            fail(self.fn, f"rounding must be one of {CAPACITY_ROUNDINGS}, got {rounding!r}")
        self.capacity_factor = c
        self.k = c
        self.rounding = rounding
        self.weight = Parameter(np.empty((d_model, n_experts), dtype=dtype))
        bound = 1.0 / math.sqrt(d_model)
        init.uniform_(self.weight, -bound, bound, rng=get_rng(rng, self.fn))

    def capacity(self, n_tokens: int) -> int:
        """C for a group of ``n_tokens`` tokens."""
        return expert_choice_capacity(n_tokens, self.n_experts, self.capacity_factor,
                                      self.rounding)

    def flops(self, n_tokens: int) -> int:
        """FLOPs of routing S tokens, as the FLOP counter charges them: the logits (2 S d E)
        and the softmax (5 per element). Choosing the top C is a sort, not arithmetic."""
        s = check_int(self.fn, "n_tokens", n_tokens, min_value=0)
        return 2 * s * self.d_model * self.n_experts + 5 * s * self.n_experts

    def forward(self, x: Tensor, token_ids: np.ndarray | None = None) -> Routing:
        self.check_input(x, token_ids)
        n = x.shape[0]
        if n == 0:
            fail(self.fn, "x must hold at least one token")
        probs = softmax(matmul(x, self.weight), dim=-1)  # (S, E)
        c = self.capacity(n)
        token, expert = expert_choice_select(probs.data, c)
        gate = getitem(probs, (token, expert))
        return Routing(token=token, expert=expert, gate=gate, aux_loss=None, n_tokens=n,
                       n_experts=self.n_experts, rank=np.zeros(token.size, dtype=np.int64),
                       probs=probs.data.copy(), info={"capacity": c})

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, n_experts={self.n_experts}, "
                f"capacity_factor={self.capacity_factor}")
