"""The contract between MoE routers and the MoE layer: a :class:`Routing` of flat assignments.

A router looks at one *group* of S tokens ``x`` (S, d) (and, for unlearned routers, their
token ids (S,)) and decides N assignments ``(token, expert, gate)``:

    token  int64 [N]   which token, in [0, S)
    expert int64 [N]   which expert, in [0, E)
    gate   Tensor [N]  the weight of that expert's output in the token's output,
                       differentiable into the router's parameters

and the layer computes ``y[s] = sum over n with token[n] == s of gate[n] * FFN_expert[n](x[s])``.
Tokens without any assignment get ``y[s] = 0`` and are carried by the residual connection.

The same flat form holds every router of the family: top-k (N = k·S before dropping), Expert
Choice (N = E·C, each expert its C best tokens), Hash and THOR (N = S, gate 1), BASE (N = S).
It is the "scatter/gather" form of spec A.0 (Flaxformer's RouterIndices): O(N) memory where
the dense dispatch mask D (S, E, C) costs O(S·E·C).

**Order is priority.** Assignments are listed in the order they queue for their experts: for a
top-k router, every token's first choice (in token order, or by confidence with batch
prioritised routing) before any second choice, and so on. ``rank[n]`` is the choice rank
(0 = first choice). :func:`apply_capacity` keeps an assignment iff its *position in its
expert's queue* (an exclusive cumulative sum over this order of the one-hot expert mask)
is < C, so first choices are never displaced by second choices.

**Capacity.** :func:`expert_capacity` gives ``C = round_up(k * S * CF / E)`` with a documented
rounding: ``rounding="ceil"`` (default), ``"floor"``, or ``"ceil4"`` (Lingvo: round up to a
multiple of 4), and at least 1. ``apply_capacity`` drops assignments whose slot is >= C,
records their count in ``n_dropped``, stores each kept assignment's ``slot`` (its position in
its expert's buffer) and ``capacity``; a Routing without ``capacity`` is *dropless*.

**Routers.** A :class:`Router` is an ``nn.Module`` with ``forward(x (S, d), token_ids=None) ->
Routing``; attributes ``d_model``, ``n_experts`` and ``k`` (experts per token on average, the
cost model's multiplier). Learned routers return their auxiliary loss already multiplied by
its coefficient in ``aux_loss`` (None if they have none); the training loop adds it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from tinydyn._checks import check_float, check_int, fail
from tinydyn.autograd.ops_index import getitem
from tinydyn.autograd.tensor import Tensor
from tinydyn.nn.module import Module

__all__ = [
    "CAPACITY_ROUNDINGS", "Router", "Routing", "apply_capacity", "concat_routings",
    "expert_capacity", "queue_positions",
]

CAPACITY_ROUNDINGS = ("ceil", "floor", "ceil4")


@dataclass
class Routing:
    """What a router decided for S tokens, as N (token, expert, gate) assignments.

    Attributes (N assignments, S tokens, E experts):
        token: int64 [N], index of the token in [0, S).
        expert: int64 [N], index of the expert in [0, E).
        gate: Tensor [N], the combine weight, differentiable into the router's parameters.
        aux_loss: the router's auxiliary loss (0-d Tensor), already weighted, or None.
        n_tokens: S.  n_experts: E.
        rank: int64 [N], choice rank of each assignment (0 = first choice), or None.
        slot: int64 [N], position in the expert's buffer, set by :func:`apply_capacity`.
        capacity: C, slots per expert (None = dropless: no capacity was applied).
        n_dropped: assignments removed by the capacity limit.
        probs: float [S, E] router probabilities (NumPy copy, for inspection/plots), or None.
        info: free-form extras a router wants to expose (e.g. the z-loss, unweighted losses).
    """

    token: np.ndarray
    expert: np.ndarray
    gate: Tensor
    aux_loss: Tensor | None
    n_tokens: int
    n_experts: int
    rank: np.ndarray | None = None
    slot: np.ndarray | None = None
    capacity: int | None = None
    n_dropped: int = 0
    probs: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        fn = "Routing"
        for name in ("token", "expert"):
            value = getattr(self, name)
            if not isinstance(value, np.ndarray) or value.ndim != 1 \
                    or not np.issubdtype(value.dtype, np.integer):
                fail(fn, f"{name} must be a 1-D integer ndarray, got {_describe(value)}",
                     TypeError)
            object.__setattr__(self, name, value.astype(np.int64, copy=False))
        n = self.token.shape[0]
        if self.expert.shape[0] != n:
            fail(fn, f"expert must have the length of token ({n}), got {self.expert.shape[0]}")
        if not isinstance(self.gate, Tensor):
            fail(fn, f"gate must be a Tensor, got {type(self.gate).__name__}", TypeError)
        if self.gate.shape != (n,):
            fail(fn, f"gate must have shape ({n},), got {self.gate.shape}")
        self.n_tokens = check_int(fn, "n_tokens", self.n_tokens, min_value=0)
        self.n_experts = check_int(fn, "n_experts", self.n_experts, min_value=1)
        if n and (self.token.min() < 0 or self.token.max() >= self.n_tokens):
            fail(fn, f"token values must lie in [0, {self.n_tokens}), got "
                 f"[{self.token.min()}, {self.token.max()}]")
        if n and (self.expert.min() < 0 or self.expert.max() >= self.n_experts):
            fail(fn, f"expert values must lie in [0, {self.n_experts}), got "
                 f"[{self.expert.min()}, {self.expert.max()}]")
        for name in ("rank", "slot"):
            value = getattr(self, name)
            if value is not None:
                if not isinstance(value, np.ndarray) or value.shape != (n,):
                    fail(fn, f"{name} must be None or an integer ndarray of shape ({n},), "
                         f"got {_describe(value)}", TypeError)
                object.__setattr__(self, name, value.astype(np.int64, copy=False))

    # ---- derived views ---------------------------------------------------------------------
    @property
    def n_assignments(self) -> int:
        """N."""
        return int(self.token.shape[0])

    def load(self) -> np.ndarray:
        """int64 [E]: how many (kept) assignments each expert serves."""
        return np.bincount(self.expert, minlength=self.n_experts).astype(np.int64)

    def experts_per_token(self) -> np.ndarray:
        """int64 [S]: how many experts serve each token (0 = passed on by the residual)."""
        return np.bincount(self.token, minlength=self.n_tokens).astype(np.int64)

    def dropped_tokens(self) -> np.ndarray:
        """bool [S]: tokens that no expert serves (their MoE output is 0)."""
        return self.experts_per_token() == 0

    def load_cv(self) -> float:
        """Coefficient of variation (population std / mean) of :meth:`load` (0 if no load)."""
        load = self.load().astype(np.float64)
        return float(load.std() / load.mean()) if load.mean() > 0 else 0.0

    def sorted_by_expert(self) -> tuple[np.ndarray, np.ndarray]:
        """``(order, offsets)``: ``order`` int64 [N] lists the assignments expert by expert
        (stable, so priority order within an expert); expert e's block is
        ``order[offsets[e]:offsets[e + 1]]``, offsets int64 [E + 1]."""
        order = np.argsort(self.expert, kind="stable").astype(np.int64)
        offsets = np.zeros(self.n_experts + 1, dtype=np.int64)
        np.cumsum(self.load(), out=offsets[1:])
        return order, offsets

    def dense_masks(self, capacity: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The dense form of spec A.0: dispatch D (S, E, C) of 0/1 and combine W = D ⊙ gate.

        Uses ``slot`` (and ``capacity``) when capacity was applied; otherwise slots are the
        queue positions and C the largest load (or ``capacity`` if given)."""
        slot = self.slot if self.slot is not None else queue_positions(self.expert,
                                                                       self.n_experts)
        c = capacity or self.capacity or int(max(1, slot.max() + 1 if slot.size else 1))
        dispatch = np.zeros((self.n_tokens, self.n_experts, c), dtype=self.gate.dtype)
        combine = np.zeros_like(dispatch)
        dispatch[self.token, self.expert, slot] = 1.0
        combine[self.token, self.expert, slot] = self.gate.data
        return dispatch, combine

    def select(self, keep: np.ndarray, **changes) -> Routing:
        """A Routing with only the assignments where ``keep`` (bool [N]) is True; the gate
        stays differentiable (a gather of the kept entries)."""
        index = np.flatnonzero(keep)
        kwargs = dict(token=self.token[index], expert=self.expert[index],
                      gate=getitem(self.gate, index),
                      rank=None if self.rank is None else self.rank[index],
                      slot=None if self.slot is None else self.slot[index])
        kwargs.update(changes)
        return replace(self, **kwargs)


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"ndarray of shape {value.shape} and dtype {value.dtype}"
    return type(value).__name__


def expert_capacity(n_tokens: int, n_experts: int, k: float, capacity_factor: float,
                    rounding: str = "ceil") -> int:
    """Slots per expert: ``C = round(k * S * CF / E)``, at least 1.

    ``rounding``: "ceil" (default, the common convention), "floor", or "ceil4" (round up to a
    multiple of 4, as Lingvo does). Example: S = 10, E = 4, k = 1, CF = 1.0 -> 2.5 -> C = 3
    ("ceil"), 2 ("floor"), 4 ("ceil4").
    """
    fn = "expert_capacity"
    n_tokens = check_int(fn, "n_tokens", n_tokens, min_value=0)
    n_experts = check_int(fn, "n_experts", n_experts, min_value=1)
    k = check_float(fn, "k", k, low=0.0, low_open=True)
    capacity_factor = check_float(fn, "capacity_factor", capacity_factor, low=0.0,
                                  low_open=True)
    if rounding not in CAPACITY_ROUNDINGS:
        fail(fn, f"rounding must be one of {CAPACITY_ROUNDINGS}, got {rounding!r}")
    exact = k * n_tokens * capacity_factor / n_experts
    # a tiny tolerance so that 2.0000000000000004 does not round up to 3
    if rounding == "floor":
        c = math.floor(exact + 1e-9)
    elif rounding == "ceil":
        c = math.ceil(exact - 1e-9)
    else:
        c = 4 * math.ceil(exact / 4 - 1e-9)
    return max(1, int(c))


def queue_positions(expert: np.ndarray, n_experts: int) -> np.ndarray:
    """int64 [N]: each assignment's position in its expert's queue, in list order.

    This is the exclusive cumulative sum over the assignments of the one-hot expert mask,
    read at each assignment's expert: ``cumsum(onehot, axis=0) - onehot`` (N, E), computed here
    without building the (N, E) matrix: sort by expert (stable), number each block 0, 1, ...
    """
    expert = np.asarray(expert, dtype=np.int64)
    n = expert.shape[0]
    order = np.argsort(expert, kind="stable")
    counts = np.bincount(expert, minlength=n_experts)
    starts = np.zeros(n_experts, dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    positions = np.empty(n, dtype=np.int64)
    positions[order] = np.arange(n, dtype=np.int64) - np.repeat(starts, counts)
    return positions


def apply_capacity(routing: Routing, capacity: int) -> Routing:
    """Keep the assignments whose queue position (in the Routing's priority order) is below
    ``capacity``; set ``slot``, ``capacity`` and add the removed count to ``n_dropped``."""
    capacity = check_int("apply_capacity", "capacity", capacity, min_value=1)
    positions = queue_positions(routing.expert, routing.n_experts)
    keep = positions < capacity
    n_dropped = routing.n_dropped + int(routing.n_assignments - keep.sum())
    if keep.all():
        return replace(routing, slot=positions, capacity=capacity, n_dropped=n_dropped)
    return routing.select(keep, slot=positions[keep], capacity=capacity, n_dropped=n_dropped)


def concat_routings(routings: list[Routing], gate: Tensor, aux_loss: Tensor | None) -> Routing:
    """One Routing over G groups laid end to end (group g's tokens offset by the sizes of the
    groups before it). ``gate`` is the concatenation of the groups' gates and ``aux_loss`` the
    combined loss, computed by the caller (they are Tensors in the autograd graph).

    With capacity C per group, the result has ``capacity = G·C`` and group g's slots shifted
    by g·C (each expert's buffer holds the groups one after the other); the per-group C is
    ``info["group_capacity"]``."""
    if not routings:
        fail("concat_routings", "routings must be a non-empty list")
    offsets = np.cumsum([0] + [r.n_tokens for r in routings])
    token = np.concatenate([r.token + off for r, off in zip(routings, offsets)])
    expert = np.concatenate([r.expert for r in routings])

    def join(name):
        parts = [getattr(r, name) for r in routings]
        return None if any(p is None for p in parts) else np.concatenate(parts)

    caps = {r.capacity for r in routings}
    info = {"groups": len(routings)}
    slot, capacity = None, None
    if len(caps) == 1 and None not in caps and all(r.slot is not None for r in routings):
        # group g owns slots [g*C, (g+1)*C) of each expert's G*C buffer rows, so groups never
        # share a slot and each expert's rows stay one contiguous block
        group_capacity = caps.pop()
        slot = np.concatenate([r.slot + g * group_capacity for g, r in enumerate(routings)])
        capacity = group_capacity * len(routings)
        info["group_capacity"] = group_capacity
    return Routing(token=token, expert=expert, gate=gate, aux_loss=aux_loss,
                   n_tokens=int(offsets[-1]), n_experts=routings[0].n_experts,
                   rank=join("rank"), slot=slot, capacity=capacity,
                   n_dropped=sum(r.n_dropped for r in routings), probs=join("probs"),
                   info=info)


class Router(Module):
    """Base class of every router: ``forward(x (S, d), token_ids=None) -> Routing``.

    Subclasses set ``d_model``, ``n_experts`` and ``k`` (mean experts per token, used by the
    cost model), call :meth:`check_input` first and return a :class:`Routing` whose
    assignments are in priority order. ``token_ids`` (int [S]) is for routers that route by
    token id (Hash); the others ignore it.
    """

    fn = "Router"

    def __init__(self, d_model: int, n_experts: int, k: float = 1):
        super().__init__()
        self.d_model = check_int(self.fn, "d_model", d_model, min_value=1)
        self.n_experts = check_int(self.fn, "n_experts", n_experts, min_value=1)
        self.k = k

    def check_input(self, x, token_ids=None) -> None:
        """Raise naming the router if ``x`` is not a (S, d_model) float Tensor or token_ids
        is not None / an integer array of shape (S,)."""
        fn = self.fn
        if not isinstance(x, Tensor):
            fail(fn, f"x must be a Tensor, got {type(x).__name__}", TypeError)
        if x.ndim != 2 or x.shape[1] != self.d_model:
            fail(fn, f"x must have shape (S, {self.d_model}) (the router's d_model), "
                 f"got {x.shape}")
        if x.dtype.kind != "f":
            fail(fn, f"x must be floating point, got dtype {x.dtype}", TypeError)
        if token_ids is not None:
            if not isinstance(token_ids, np.ndarray) or not np.issubdtype(token_ids.dtype,
                                                                          np.integer):
                fail(fn, f"token_ids must be None or an integer ndarray, got "
                     f"{_describe(token_ids)}", TypeError)
            if token_ids.shape != (x.shape[0],):
                fail(fn, f"token_ids must have shape ({x.shape[0]},), got {token_ids.shape}")

    def flops(self, n_tokens: int) -> int:
        """FLOPs of routing S tokens at inference, as the FLOP counter charges them. This
        default is a linear router: the logits (2 S d E) and a softmax over E (5 per
        element); routers that do otherwise override it (a hash router costs 0)."""
        s = check_int(self.fn, "n_tokens", n_tokens, min_value=0)
        return 2 * s * self.d_model * self.n_experts + 5 * s * self.n_experts

    def forward(self, x: Tensor, token_ids: np.ndarray | None = None) -> Routing:
        raise NotImplementedError
