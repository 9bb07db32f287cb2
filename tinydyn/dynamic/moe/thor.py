"""THOR (Zuo et al., 2022): experts chosen at random, made to agree by a consistency loss.

No router parameters and no balancing loss. In training, each forward pass picks experts at
random: by default *one expert for the whole batch* (``train_level="batch"``, as the released
code does: every layer samples one expert per pass), or one per token (``"token"``). Two
passes over the same batch give two predictions ``p1``, ``p2``, and the loss is
``CE(p1) + CE(p2) + alpha * (KL(p1 || p2) + KL(p2 || p1)) / 2`` (:func:`thor_loss`), which
pushes every expert towards the same function.

Inference rule (the released code's ``inference_level``): a random expert per token
(``inference_level="token"``, the default) or one per sequence of ``sequence_length`` tokens
(``"sequence"``). The draw comes from a generator re-seeded with ``inference_seed`` at every
call, so inference is reproducible: the same S tokens get the same experts on every call.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_float, check_int, fail
from tinydyn.autograd.ops_nn import cross_entropy, log_softmax
from tinydyn.autograd.ops_reduce import mean
from tinydyn.autograd.ops_reduce import sum as tsum
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.moe.routing import Router, Routing

__all__ = ["ThorRouter", "consistency_loss", "thor_loss"]

TRAIN_LEVELS = ("batch", "token")
INFERENCE_LEVELS = ("token", "sequence")


class ThorRouter(Router):
    """A random expert per batch or per token in training; the inference rule above in eval.

    Args:
        d_model, n_experts: widths (the router reads no features, only the token count).
        train_level: "batch" (one expert for all S tokens of a pass) or "token".
        inference_level: "token" or "sequence" (then S must be a multiple of
            ``sequence_length``).
        inference_seed: seed of the inference draw (re-used at every call).
        rng: the generator of the training draws.
    """

    fn = "ThorRouter"

    def __init__(self, d_model: int, n_experts: int, train_level: str = "batch",
                 inference_level: str = "token", sequence_length: int | None = None,
                 inference_seed: int = 0, rng=None):
        super().__init__(d_model, n_experts, k=1)
        if train_level not in TRAIN_LEVELS:
            fail(self.fn, f"train_level must be one of {TRAIN_LEVELS}, got {train_level!r}")
        if inference_level not in INFERENCE_LEVELS:
            fail(self.fn, f"inference_level must be one of {INFERENCE_LEVELS}, got "
                 f"{inference_level!r}")
        if inference_level == "sequence":
            if sequence_length is None:
                fail(self.fn, "sequence_length must be given when inference_level='sequence'")
            sequence_length = check_int(self.fn, "sequence_length", sequence_length,
                                        min_value=1)
        self.train_level = train_level
        self.inference_level = inference_level
        self.sequence_length = sequence_length
        self.inference_seed = check_int(self.fn, "inference_seed", inference_seed, min_value=0)
        self.rng = get_rng(rng, self.fn)

    def choose(self, n_tokens: int) -> np.ndarray:
        """int64 (S,): the expert of every token under the current mode's rule."""
        e = self.n_experts
        if self.training:
            if self.train_level == "batch":
                return np.full(n_tokens, self.rng.integers(0, e), dtype=np.int64)
            return self.rng.integers(0, e, size=n_tokens).astype(np.int64)
        draw = np.random.default_rng(self.inference_seed)
        if self.inference_level == "token":
            return draw.integers(0, e, size=n_tokens).astype(np.int64)
        length = self.sequence_length
        if n_tokens % length:
            fail(self.fn, f"the number of tokens ({n_tokens}) must be a multiple of "
                 f"sequence_length ({length}) when inference_level='sequence'")
        return np.repeat(draw.integers(0, e, size=n_tokens // length), length).astype(np.int64)

    def flops(self, n_tokens: int) -> int:
        """FLOPs of routing S tokens: 0 (a random draw)."""
        check_int(self.fn, "n_tokens", n_tokens, min_value=0)
        return 0

    def forward(self, x: Tensor, token_ids: np.ndarray | None = None) -> Routing:
        self.check_input(x, token_ids)
        n = x.shape[0]
        return Routing(token=np.arange(n, dtype=np.int64), expert=self.choose(n),
                       gate=Tensor(np.ones(n, dtype=x.dtype)), aux_loss=None, n_tokens=n,
                       n_experts=self.n_experts, rank=np.zeros(n, dtype=np.int64),
                       info={"thor": "train" if self.training else self.inference_level})

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, n_experts={self.n_experts}, "
                f"train_level={self.train_level}, inference_level={self.inference_level}")


def _check_logits(fn: str, a, b) -> None:
    for name, t in (("logits1", a), ("logits2", b)):
        if not isinstance(t, Tensor):
            fail(fn, f"{name} must be a Tensor, got {type(t).__name__}", TypeError)
        if t.ndim != 2:
            fail(fn, f"{name} must be 2-D (N, classes), got shape {t.shape}")
    if a.shape != b.shape:
        fail(fn, f"logits1 and logits2 must have the same shape, got {a.shape} and {b.shape}")


def consistency_loss(logits1: Tensor, logits2: Tensor) -> Tensor:
    """``mean over rows of (KL(p1 || p2) + KL(p2 || p1)) / 2`` for p = softmax(logits) (N, K).

    Symmetric, >= 0, and 0 iff the two distributions are equal; differentiable in both."""
    _check_logits("consistency_loss", logits1, logits2)
    lp1, lp2 = log_softmax(logits1, dim=-1), log_softmax(logits2, dim=-1)
    # KL(p1||p2) + KL(p2||p1) = sum (p1 - p2) * (log p1 - log p2)
    diff = lp1.exp() - lp2.exp()
    return mean(tsum(diff * (lp1 - lp2), dim=-1)) * 0.5


def thor_loss(logits1: Tensor, logits2: Tensor, target: np.ndarray,
              alpha: float = 1.0) -> Tensor:
    """``CE(logits1, target) + CE(logits2, target) + alpha * consistency_loss`` (alpha >= 0;
    the released code's ``consistency_alpha`` default is 1.0)."""
    alpha = check_float("thor_loss", "alpha", alpha, low=0.0)
    _check_logits("thor_loss", logits1, logits2)
    loss = cross_entropy(logits1, target) + cross_entropy(logits2, target)
    if alpha:
        loss = loss + consistency_loss(logits1, logits2) * alpha
    return loss
