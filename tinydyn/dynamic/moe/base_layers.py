"""BASE layers (Lewis et al., 2021): a balanced assignment of tokens to experts in training.

Each expert ``e`` has a centroid ``w_e`` (d,); the affinity of token t is ``s[t, e] = h_t . w_e``.

* Training: the assignment maximising ``sum_t s[t, a_t]`` with exactly S/E tokens per expert,
  found by the auction algorithm (:func:`tinydyn.kernels.auction.balanced_assignment`). It is
  computed without gradients; nothing is dropped and no balancing loss is needed.
* Inference: ``a_t = argmax_e s[t, e]`` (greedy, not balanced: a batch of one token has to be
  routed too).

The gate is ``sigmoid(h_t . w_{a_t})``: the layer computes ``h + sigmoid(...) * f_{a_t}(h)`` with
the host's residual, and the gate is what trains the centroids.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_float, check_int, fail
from tinydyn.autograd.ops_elementwise import sigmoid
from tinydyn.autograd.ops_index import getitem
from tinydyn.autograd.ops_reduce import sum as tsum
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.moe.routing import Router, Routing
from tinydyn.kernels.auction import balanced_assignment
from tinydyn.nn.module import Parameter

__all__ = ["BaseRouter", "orthogonal_centroids"]


def orthogonal_centroids(n_experts: int, d_model: int, gain: float = 0.1, rng=None,
                         dtype=np.float32) -> np.ndarray:
    """(E, d): rows orthogonal (when E <= d; columns when E > d), scaled by ``gain``, as
    fairseq initialises BASE centroids (QR of a Gaussian matrix, signs fixed by R's diagonal)."""
    rng = get_rng(rng, "orthogonal_centroids")
    big, small = max(n_experts, d_model), min(n_experts, d_model)
    q, r = np.linalg.qr(rng.standard_normal((big, small)))
    q = q * np.sign(np.diag(r))  # the QR's sign convention must not bias the draw
    w = q if n_experts >= d_model else q.T
    return (gain * w).astype(dtype)


class BaseRouter(Router):
    """Centroids ``weight`` (E, d); one assignment per token, in token order.

    Args:
        d_model, n_experts: widths. In training, S must be divisible by E.
        eps: the auction's final bid increment (None: its default, within 1e-4 of the score
            range of the optimum).
        gain: scale of the orthogonal initial centroids (fairseq: 0.1).
    """

    fn = "BaseRouter"

    def __init__(self, d_model: int, n_experts: int, eps: float | None = None,
                 gain: float = 0.1, rng=None, dtype=np.float32):
        super().__init__(d_model, n_experts, k=1)
        if eps is not None:
            eps = check_float(self.fn, "eps", eps, low=0.0, low_open=True)
        self.eps = eps
        gain = check_float(self.fn, "gain", gain, low=0.0, low_open=True)
        self.weight = Parameter(orthogonal_centroids(n_experts, d_model, gain, rng, dtype))
        self.last_n_bids = 0

    def affinities(self, x: Tensor) -> np.ndarray:
        """(S, E) float64 ``x . w_e``, outside the autograd graph."""
        return x.data.astype(np.float64) @ self.weight.data.T.astype(np.float64)

    def assign(self, scores: np.ndarray) -> np.ndarray:
        """int64 (S,): balanced assignment in training, row-wise argmax in eval."""
        n = scores.shape[0]
        if not self.training:
            return np.argmax(scores, axis=1).astype(np.int64)
        if n % self.n_experts:
            fail(self.fn, f"in training the number of tokens S must be divisible by "
                 f"n_experts={self.n_experts} (each expert takes exactly S/E), got S={n}")
        result = balanced_assignment(scores, eps=self.eps)
        self.last_n_bids = result.n_bids
        return result.expert

    def flops(self, n_tokens: int) -> int:
        """FLOPs of routing S tokens: the affinities (2 S d E, computed in NumPy outside the
        autograd graph, so the FLOP counter does not see them) and the gate (a d-long product
        and sum per token, then the sigmoid: 2 S d + S). The auction's bids are comparisons."""
        s = check_int(self.fn, "n_tokens", n_tokens, min_value=0)
        return 2 * s * self.d_model * self.n_experts + 2 * s * self.d_model + s

    def forward(self, x: Tensor, token_ids: np.ndarray | None = None) -> Routing:
        self.check_input(x, token_ids)
        n = x.shape[0]
        scores = self.affinities(x)
        expert = self.assign(scores)
        # gate sigmoid(h_t . w_{a_t}): a row-wise dot of the token with its expert's centroid
        chosen = getitem(self.weight, expert)  # (S, d)
        gate = sigmoid(tsum(x * chosen, dim=-1))
        return Routing(token=np.arange(n, dtype=np.int64), expert=expert, gate=gate,
                       aux_loss=None, n_tokens=n, n_experts=self.n_experts,
                       rank=np.zeros(n, dtype=np.int64), probs=None,
                       info={"balanced": self.training, "affinities": scores})

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, n_experts={self.n_experts}, eps={self.eps}"
