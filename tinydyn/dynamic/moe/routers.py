"""Learned token-choice routers: each token picks its experts (spec A.1-A.3).

All three read logits ``z = x @ W`` (S, E) from a linear map of the token and return a
:class:`~tinydyn.dynamic.moe.routing.Routing` listed rank-major (every token's first choice,
then every second choice...), so capacity queues first choices first.

* :class:`NoisyTopKRouter` (Shazeer et al. 2017): ``H = x W_g + eps * softplus(x W_noise)``
  (training only, eps ~ N(0, 1), std floored at 1e-2), gates ``softmax`` over the top-k of H.
  Loss ``loss_coef * (CV²(importance) + CV²(load))``: importance_e = the sum of e's gates,
  load_e = sum over tokens of P(x, e), the smooth probability that e stays in the top k
  when only e's noise is redrawn: ``Phi((clean_e - threshold) / std_e)``, threshold the
  k-th noisy logit excluding e. At evaluation (no noise) the load is the hard count.
  CV² uses the *population* variance (NumPy/TensorFlow convention), and is 0 for one expert.
* :class:`GShardRouter` (Lepikhin et al. 2020): top-2 of ``p = softmax(z)``, gates
  renormalised ``g1, g2 <- g / (g1 + g2)`` *before* capacity masking (Lingvo's legacy path);
  in training with ``random_routing`` the second expert is dispatched only when
  ``u < g2 / 0.5``, u ~ U(0, 1). Loss ``aux_coef * E * sum_e (c_e / S) m_e`` with c_e the
  first-choice counts and m_e the mean router probability.
* :class:`SwitchRouter` (Fedus et al. 2021), generalised to top-k as Flaxformer does: gates are
  the router probabilities of the chosen experts (not renormalised), loss
  ``aux_coef * E * sum_i f_i P_i`` (f_i: fraction of tokens with i among their choices,
  P_i: mean probability), plus ST-MoE's z-loss ``z_loss_coef * mean_s(logsumexp(z_s))²``.
  Optional multiplicative input jitter ``x * U(1 - eps, 1 + eps)`` in training.

Every router has ``batch_prioritized`` (V-MoE): tokens queue by decreasing top-1 probability
instead of position, so overflow drops the least confident tokens. Randomness (noise, jitter,
second-expert sampling) comes from the ``rng`` given to the constructor. Unweighted losses are
in ``routing.info``.
"""

from __future__ import annotations

import math

import numpy as np

from tinydyn._checks import check_float, check_int, fail
from tinydyn.autograd.ops_elementwise import abs as t_abs
from tinydyn.autograd.ops_elementwise import exp, log, relu, where
from tinydyn.autograd.ops_estimators import TakeAlong, topk
from tinydyn.autograd.ops_gelu import erf
from tinydyn.autograd.ops_index import getitem, index_add
from tinydyn.autograd.ops_linalg import matmul
from tinydyn.autograd.ops_nn import softmax
from tinydyn.autograd.ops_reduce import logsumexp, mean, var
from tinydyn.autograd.ops_reduce import sum as t_sum
from tinydyn.autograd.ops_shape import reshape, transpose
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.moe.routing import Router, Routing
from tinydyn.kernels.moe import topk_rows
from tinydyn.nn import init
from tinydyn.nn.module import Parameter

__all__ = ["GShardRouter", "NoisyTopKRouter", "SwitchRouter", "cv_squared",
           "gshard_balance_loss", "router_z_loss", "switch_balance_loss", "token_choice_routing",
           "top_k"]


def cv_squared(v: Tensor, eps: float = 1e-10) -> Tensor:
    """``var(v) / (mean(v)² + eps)`` with the population variance; 0 for a length-1 vector."""
    if v.shape[0] <= 1:
        return Tensor(np.zeros((), dtype=v.dtype))
    return var(v, correction=0) / (mean(v) * mean(v) + eps)


def switch_balance_loss(probs: Tensor, experts: np.ndarray) -> Tensor:
    """Switch's ``E * sum_i f_i P_i`` (unweighted): probs (S, E) the full softmax, experts
    (S, k) the chosen experts; f_i = fraction of tokens with i among their choices (no
    gradient), P_i = mean probability. Equals k under uniform probabilities."""
    s, e = probs.shape
    chosen = np.zeros((s, e), dtype=probs.dtype)
    np.put_along_axis(chosen, experts, 1.0, axis=1)
    return t_sum(mean(probs, dim=0) * chosen.mean(axis=0)) * float(e)


def gshard_balance_loss(probs: Tensor, first: np.ndarray) -> Tensor:
    """GShard's ``E * sum_e (c_e / S) m_e`` (unweighted): c_e counts first choices ``first``
    (S,), m_e the mean probability. Equals 1 under uniform probabilities."""
    s, e = probs.shape
    counts = np.bincount(first, minlength=e).astype(probs.dtype)
    return t_sum(mean(probs, dim=0) * (counts / s)) * float(e)


def router_z_loss(logits: Tensor) -> Tensor:
    """ST-MoE's z-loss ``mean_s(logsumexp(z_s))²`` over the tokens, logits (S, E)."""
    return mean(logsumexp(logits, dim=1) ** 2)


def top_k(probs: Tensor, k: int) -> tuple[np.ndarray, Tensor]:
    """``(experts (S, k) int64, values (S, k) Tensor)``: each row's k largest probabilities,
    best first (equal values: lower index first), the values differentiable. The same as
    ``tinydyn.autograd.topk`` on the last axis, with the selection in one Numba pass."""
    experts = topk_rows(probs.data, k)
    return experts, TakeAlong.apply(probs, index=experts, dim=1)


def softplus(z: Tensor) -> Tensor:
    """log(1 + exp(z)), stable for large |z|: relu(z) + log(1 + exp(-|z|))."""
    return relu(z) + log(exp(-t_abs(z)) + 1.0)


def token_choice_routing(values: Tensor, experts: np.ndarray, n_experts: int,
                         aux_loss: Tensor | None, probs: np.ndarray,
                         batch_prioritized: bool = False, keep: np.ndarray | None = None,
                         info: dict | None = None) -> Routing:
    """The Routing of a token-choice router, rank-major.

    values (S, k) Tensor: the gate of each token's r-th choice; experts (S, k) int;
    probs (S, E) NumPy router probabilities; keep (S, k) bool: choices to dispatch at all
    (GShard's sampled second expert). With ``batch_prioritized`` tokens queue by decreasing
    top-1 probability (stable), else by position.
    """
    s, k = experts.shape
    if batch_prioritized:
        order = np.argsort(-probs.max(axis=1), kind="stable").astype(np.int64)
    else:
        order = np.arange(s, dtype=np.int64)
    token = np.tile(order, k)
    rank = np.repeat(np.arange(k, dtype=np.int64), s)
    if keep is not None:
        kept = keep[token, rank]
        token, rank = token[kept], rank[kept]
    flat = reshape(transpose(values, 0, 1), (k * s,)) if k > 1 else reshape(values, (s,))
    index = rank * s + token
    plain = keep is None and not batch_prioritized
    gate = flat if plain else getitem(flat, index)
    return Routing(token=token, expert=experts[token, rank].astype(np.int64), gate=gate,
                   aux_loss=aux_loss, n_tokens=s, n_experts=n_experts, rank=rank,
                   probs=probs, info=info or {})


class _LinearRouter(Router):
    """Shared set-up: the routing matrix ``weight`` (d, E), k, and the common flags."""

    def __init__(self, d_model, n_experts, k, batch_prioritized, rng, dtype, std):
        fn = self.fn
        super().__init__(d_model, n_experts, k)
        self.k = check_int(fn, "k", k, min_value=1)
        if self.k > self.n_experts:
            fail(fn, f"k must be <= n_experts ({self.n_experts}), got k={k}")
        if not isinstance(batch_prioritized, bool):
            fail(fn, f"batch_prioritized must be a bool, got {batch_prioritized!r}", TypeError)
        self.batch_prioritized = batch_prioritized
        self._rng = get_rng(rng, fn)
        self.weight = Parameter(np.zeros((d_model, n_experts), dtype=dtype))
        if std > 0:
            init.normal_(self.weight, 0.0, std, rng=self._rng)


class NoisyTopKRouter(_LinearRouter):
    """Shazeer's noisy top-k gating; ``weight`` (W_g) and ``noise_weight`` start at zero."""

    fn = "NoisyTopKRouter"

    def __init__(self, d_model: int, n_experts: int, k: int = 2, loss_coef: float = 1e-2,
                 noise_epsilon: float = 1e-2, batch_prioritized: bool = False, rng=None,
                 dtype=np.float32):
        super().__init__(d_model, n_experts, k, batch_prioritized, rng, dtype, std=0.0)
        self.loss_coef = check_float(self.fn, "loss_coef", loss_coef, low=0.0)
        self.noise_epsilon = check_float(self.fn, "noise_epsilon", noise_epsilon, low=0.0,
                                         low_open=True)
        self.noise_weight = Parameter(np.zeros((d_model, n_experts), dtype=dtype))

    def flops(self, n_tokens: int) -> int:
        """At inference (no noise): the logits (2 S d E), a softmax over the top k (5 S k)."""
        s = check_int(self.fn, "n_tokens", n_tokens, min_value=0)
        return 2 * s * self.d_model * self.n_experts + 5 * s * self.k

    def forward(self, x: Tensor, token_ids=None) -> Routing:
        self.check_input(x, token_ids)
        s, e, k = x.shape[0], self.n_experts, self.k
        clean = matmul(x, self.weight)
        noisy = self.training
        if noisy:
            std = softplus(matmul(x, self.noise_weight)) + self.noise_epsilon
            eps = self._rng.standard_normal((s, e)).astype(x.dtype)
            logits = clean + std * eps
        else:
            logits = clean
        top = topk(logits, min(k + 1, e), dim=1)
        experts = top.indices.data[:, :k]
        gates = softmax(top.values[:, :k], dim=1)
        probs = np.zeros((s, e), dtype=x.dtype)
        np.put_along_axis(probs, experts, gates.data, axis=1)
        routing = token_choice_routing(gates, experts, e, None, probs, self.batch_prioritized)
        importance = index_add(Tensor(np.zeros(e, dtype=x.dtype)), 0, routing.expert,
                               routing.gate)
        if noisy and k < e:
            load = t_sum(self._load_probability(clean, logits, top.values, std), dim=0)
        else:
            load = Tensor(np.bincount(routing.expert, minlength=e).astype(x.dtype))
        cv_imp, cv_load = cv_squared(importance), cv_squared(load)
        routing.aux_loss = (cv_imp + cv_load) * self.loss_coef
        routing.info.update(cv2_importance=float(cv_imp.data), cv2_load=float(cv_load.data),
                            load_estimate=load.data.copy())
        return routing

    def _load_probability(self, clean, noisy, top_values, std) -> Tensor:
        """P(x, e) (S, E): Phi((clean_e - threshold_e) / std_e), where the threshold is the
        (k+1)-th noisy logit if e is in the top k now, else the k-th."""
        k = self.k
        threshold_if_in = top_values[:, k:k + 1]
        threshold_if_out = top_values[:, k - 1:k]
        is_in = noisy.data > threshold_if_in.data
        inv = 1.0 / math.sqrt(2.0)
        prob_in = (erf((clean - threshold_if_in) / std * inv) + 1.0) * 0.5
        prob_out = (erf((clean - threshold_if_out) / std * inv) + 1.0) * 0.5
        return where(is_in, prob_in, prob_out)


class GShardRouter(_LinearRouter):
    """GShard top-2 gating with the sampled second expert; see the module docstring."""

    fn = "GShardRouter"

    def __init__(self, d_model: int, n_experts: int, aux_coef: float = 1e-2,
                 random_routing: bool = True, second_threshold: float = 0.5,
                 batch_prioritized: bool = False, rng=None, dtype=np.float32):
        if n_experts < 2:
            fail(self.fn, f"n_experts must be >= 2 for top-2 routing, got {n_experts}")
        super().__init__(d_model, n_experts, 2, batch_prioritized, rng, dtype,
                         std=math.sqrt(0.1 / d_model))
        self.aux_coef = check_float(self.fn, "aux_coef", aux_coef, low=0.0)
        self.random_routing = bool(random_routing)
        self.second_threshold = check_float(self.fn, "second_threshold", second_threshold,
                                            low=0.0, low_open=True)

    def flops(self, n_tokens: int) -> int:
        """The logits, the softmax, and renormalising the two gates (a sum and a division)."""
        return super().flops(n_tokens) + 4 * n_tokens

    def forward(self, x: Tensor, token_ids=None) -> Routing:
        self.check_input(x, token_ids)
        s, e = x.shape[0], self.n_experts
        probs = softmax(matmul(x, self.weight), dim=1)
        experts, values = top_k(probs, 2)
        gates = values / t_sum(values, dim=1, keepdim=True)
        keep = None
        if self.training and self.random_routing:
            u = self._rng.random(s)
            keep = np.ones((s, 2), dtype=bool)
            keep[:, 1] = u < gates.data[:, 1] / self.second_threshold
        balance = gshard_balance_loss(probs, experts[:, 0])
        routing = token_choice_routing(gates, experts, e, balance * self.aux_coef,
                                       probs.data.copy(), self.batch_prioritized, keep,
                                       info={"balance_loss": float(balance.data)})
        return routing


class SwitchRouter(_LinearRouter):
    """Switch Transformer routing (top-1 by default, top-k as Flaxformer), with ST-MoE's
    z-loss; see the module docstring."""

    fn = "SwitchRouter"

    def __init__(self, d_model: int, n_experts: int, k: int = 1, aux_coef: float = 1e-2,
                 z_loss_coef: float = 0.0, jitter: float = 0.0,
                 normalize_gates: bool = False, batch_prioritized: bool = False,
                 init_std: float | None = None, rng=None, dtype=np.float32):
        # Switch's small init: normal with std sqrt(0.1 / d) (0 = all-zero router weights)
        std = math.sqrt(0.1 / d_model) if init_std is None else check_float(
            self.fn, "init_std", init_std, low=0.0)
        super().__init__(d_model, n_experts, k, batch_prioritized, rng, dtype, std=std)
        fn = self.fn
        self.aux_coef = check_float(fn, "aux_coef", aux_coef, low=0.0)
        self.z_loss_coef = check_float(fn, "z_loss_coef", z_loss_coef, low=0.0)
        self.jitter = check_float(fn, "jitter", jitter, low=0.0, high=1.0)
        self.normalize_gates = bool(normalize_gates)

    def forward(self, x: Tensor, token_ids=None) -> Routing:
        self.check_input(x, token_ids)
        e, k = self.n_experts, self.k
        if self.training and self.jitter > 0:
            noise = self._rng.uniform(1 - self.jitter, 1 + self.jitter, x.shape)
            x = x * noise.astype(x.dtype)
        logits = matmul(x, self.weight)
        probs = softmax(logits, dim=1)
        experts, gates = top_k(probs, k)
        if self.normalize_gates and k > 1:
            gates = gates / t_sum(gates, dim=1, keepdim=True)
        balance = switch_balance_loss(probs, experts)
        aux = balance * self.aux_coef
        info = {"balance_loss": float(balance.data)}
        if self.z_loss_coef > 0:  # (computed only when used: a logsumexp over (S, E))
            z_loss = router_z_loss(logits)
            aux = aux + z_loss * self.z_loss_coef
            info["z_loss"] = float(z_loss.data)
        return token_choice_routing(gates, experts, e, aux, probs.data.copy(),
                                    self.batch_prioritized, info=info)
