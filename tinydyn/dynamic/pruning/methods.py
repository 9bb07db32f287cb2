"""Three ways to decide which tokens leave: LTP, Transkimmer and PoWER-BERT (the baseline).

* **LTP** (Kim et al., KDD 2022): a token whose importance score s (attention received,
  :func:`~tinydyn.dynamic.pruning.models.ltp_scores`) falls below the layer's learned
  threshold theta leaves. Stage "soft": mask M = sigmoid((s - theta) / T) multiplies the
  token's state and weights it as a key (log M added to its scores), and thresholds learn with
  the L1 penalty on the masks. Stage "hard" (and eval mode): M = [s >= theta], fine-tune.
* **Transkimmer** (Guan et al., ACL 2022): before each layer a predictor (LayerNorm, Linear,
  GELU, Linear to 2 logits: skim, keep) decides per token; training samples the decision with
  straight-through Gumbel-softmax, eval takes the larger logit. A skimmed token's state is
  frozen and carried to the output.
* **PoWER-BERT** (Goyal et al., ICML 2020): the same score as LTP, but a fixed budget, keeping
  the ceil(r_d * length) best-scored tokens at decision d: the simple, non-adaptive baseline.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_float, check_int, fail
from tinydyn.autograd.ops_estimators import gumbel_softmax
from tinydyn.autograd.ops_gelu import erf_array
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.pruning.fast import charge
from tinydyn.dynamic.pruning.models import PruningClassifier, ltp_scores, ltp_scores_array
from tinydyn.kernels.layer_norm import layer_norm_forward
from tinydyn.nn import functional as F
from tinydyn.nn.layers import LayerNorm, Linear
from tinydyn.nn.module import Module, ModuleList, Parameter

__all__ = ["LTPClassifier", "PowerBertClassifier", "SkimPredictor", "TranskimmerClassifier",
           "ltp_hard_keep", "ltp_soft_mask"]


def _force(m: np.ndarray, prunable: np.ndarray) -> np.ndarray:
    """Hard decisions: 1 wherever the token is not prunable ([CLS], padding, already out)."""
    return np.where(prunable, m, 1).astype(m.dtype)


def _const(m: np.ndarray, dtype) -> Tensor:
    return Tensor(m.astype(dtype, copy=False))


def ltp_soft_mask(scores: Tensor, threshold, temperature: float, prunable: np.ndarray) -> Tensor:
    """LTP's training mask M = sigmoid((s - theta) / T) (B, T), exactly 1 where ``prunable``
    is False ([CLS], padding, tokens already out)."""
    m = F.sigmoid((scores - threshold) / temperature)
    return m * Tensor(prunable.astype(m.dtype)) + Tensor((~prunable).astype(m.dtype))


def ltp_hard_keep(scores: np.ndarray, threshold: float, prunable: np.ndarray) -> np.ndarray:
    """LTP's inference decision (B, T) bool: keep where s >= theta, and every token that is
    not ``prunable`` ([CLS], padding: those are never counted as pruned)."""
    return np.where(prunable, np.asarray(scores) >= threshold, True)


class LTPClassifier(PruningClassifier):
    """Learned Token Pruning on :class:`EncoderClassifier`: per-decision thresholds (L - 1,),
    ``temperature`` T of the soft mask, ``stage`` "soft" (training stage 1) or "hard"."""

    def __init__(self, vocab_size: int, num_classes: int, *, temperature: float = 2e-3,
                 **kwargs):
        super().__init__(vocab_size, num_classes, **kwargs)
        self.temperature = check_float("LTPClassifier", "temperature", temperature, low=0.0,
                                       low_open=True)
        dtype = self.embedding.weight.dtype
        self.thresholds = Parameter(np.zeros(self.num_decisions, dtype=dtype))
        self.stage = "soft"

    def set_stage(self, stage: str) -> LTPClassifier:
        """"soft" (learn thresholds with soft masks) or "hard" (binarised masks, fixed
        thresholds: their gradient is switched off)."""
        if stage not in ("soft", "hard"):
            fail("LTPClassifier.set_stage", f"stage must be 'soft' or 'hard', got {stage!r}")
        self.stage = stage
        self.thresholds.requires_grad = stage == "soft"
        return self

    def set_thresholds(self, values) -> LTPClassifier:
        """Set theta from a sequence of num_layers - 1 numbers."""
        array = np.asarray(values, dtype=np.float64)
        if array.shape != (self.num_decisions,):
            fail("LTPClassifier.set_thresholds", f"thresholds must have shape "
                 f"({self.num_decisions},) (one per decision, num_layers - 1), got {array.shape}")
        if not np.isfinite(array).all():
            fail("LTPClassifier.set_thresholds", "thresholds must be finite")
        self.thresholds.data[...] = array
        return self

    def hard_decisions(self) -> bool:
        return self.stage == "hard" or not self.training

    def decide(self, d, x, probs, pad, keep, prunable, lengths):
        weight = (~pad).astype(probs.dtype)
        if keep is not None:  # pruned queries stop voting (softly, in stage 1)
            weight = keep * Tensor(weight) if not self.hard_decisions() else weight * keep.data
        s = ltp_scores(probs, weight)
        if self.hard_decisions():
            charge(s.data.size, "LTP threshold")
            keep = ltp_hard_keep(s.data, self.thresholds.data[d], prunable)
            return _const(keep, probs.dtype)
        return ltp_soft_mask(s, self.thresholds[d], self.temperature, prunable)

    def decide_arrays(self, d, x, probs, pad, prunable, lengths):
        s = ltp_scores_array(probs, ~pad)
        charge(s.size, "LTP threshold")
        return ltp_hard_keep(s, self.thresholds.data[d], prunable)

    def gate_before(self, x, m):
        # LTP multiplies the layer's output by the mask (a pruned token's state goes to 0)
        return x * m.reshape(m.shape + (1,))


class SkimPredictor(Module):
    """Transkimmer's per-layer predictor: (B, T, D) -> (B, T, 2) logits [skim, keep]."""

    def __init__(self, d_model: int, hidden: int = 16, keep_bias: float = 2.0, rng=None,
                 dtype=np.float32):
        super().__init__()
        rng = get_rng(rng, "SkimPredictor")
        self.norm = LayerNorm(d_model, dtype=dtype)
        self.fc1 = Linear(d_model, check_int("SkimPredictor", "hidden", hidden, min_value=1),
                          rng=rng, dtype=dtype)
        self.fc2 = Linear(hidden, 2, rng=rng, dtype=dtype)
        # start by keeping (the model begins as the trained full encoder)
        self.fc2.bias.data[:] = np.array([0.0, keep_bias], dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(self.norm(x))))


class TranskimmerClassifier(PruningClassifier):
    """Transkimmer on :class:`EncoderClassifier`: ``num_layers - 1`` predictors (before layers
    1..L-1), Gumbel temperature ``tau``; a skimmed token's state is carried unchanged."""

    def __init__(self, vocab_size: int, num_classes: int, *, predictor_hidden: int = 16,
                 tau: float = 1.0, keep_bias: float = 2.0, **kwargs):
        rng = get_rng(kwargs.pop("rng", None), "TranskimmerClassifier")
        super().__init__(vocab_size, num_classes, rng=rng, **kwargs)
        self.tau = check_float("TranskimmerClassifier", "tau", tau, low=0.0, low_open=True)
        dtype = self.embedding.weight.dtype
        self.predictor_hidden = predictor_hidden
        self.predictors = ModuleList(SkimPredictor(self.d_model, predictor_hidden, keep_bias,
                                                   rng=rng, dtype=dtype)
                                     for _ in range(self.num_decisions))

    def hard_decisions(self) -> bool:
        return not self.training

    def decide(self, d, x, probs, pad, keep, prunable, lengths):
        logits = self.predictors[d](x)
        if self.hard_decisions():
            charge(logits.data.shape[0] * logits.data.shape[1], "Transkimmer decision")
            hard = logits.data[..., 1] > logits.data[..., 0]
            return _const(_force(hard, prunable), x.dtype)
        m = gumbel_softmax(logits, self.tau, hard=True)[:, :, 1]  # exactly 0/1, ST gradient
        return m * Tensor(prunable.astype(m.dtype)) + Tensor((~prunable).astype(m.dtype))

    def decide_arrays(self, d, x, probs, pad, prunable, lengths):
        p = self.predictors[d]
        B, T, D = x.shape
        h = layer_norm_forward(x.reshape(B * T, D), p.norm.weight.data, p.norm.bias.data,
                               p.norm.eps)[0]
        h = h @ p.fc1.weight.data.T + p.fc1.bias.data
        h = 0.5 * h * (1.0 + erf_array(h / np.sqrt(2.0)))  # the exact GELU
        logits = h @ p.fc2.weight.data.T + p.fc2.bias.data
        P = self.predictor_hidden
        charge(B * T * (8 * D + 2 * D * P + P + 8 * P + 2 * P * 2 + 2 + 1),
               "Transkimmer decision")
        return np.where(prunable, (logits[:, 1] > logits[:, 0]).reshape(B, T), True)

    def carry(self, new, old, keep, m):
        if keep is None:
            return new
        k = keep.reshape(keep.shape + (1,))
        return new * k + old * (1.0 - k)


class PowerBertClassifier(PruningClassifier):
    """PoWER-BERT's fixed budget: ``keep_ratios`` (L - 1,) in (0, 1], the share of each
    sequence's real tokens ([CLS] excluded, at least 1) kept after each decision."""

    def __init__(self, vocab_size: int, num_classes: int, *, keep_ratios=None, **kwargs):
        super().__init__(vocab_size, num_classes, **kwargs)
        self.set_keep_ratios([1.0] * self.num_decisions if keep_ratios is None else keep_ratios)

    def set_keep_ratios(self, ratios) -> PowerBertClassifier:
        array = np.asarray(ratios, dtype=np.float64)
        if array.shape != (self.num_decisions,):
            fail("PowerBertClassifier", f"keep_ratios must have shape ({self.num_decisions},) "
                 f"(one per decision, num_layers - 1), got {array.shape}")
        if not ((array > 0) & (array <= 1)).all():
            fail("PowerBertClassifier", f"keep_ratios must be in (0, 1], got {array.tolist()}")
        self.keep_ratios = array
        return self

    def hard_decisions(self) -> bool:
        return True

    def decide_arrays(self, d, x, probs, pad, prunable, lengths):
        return self._select(d, ltp_scores_array(probs, ~pad), prunable, lengths) > 0.5

    def decide(self, d, x, probs, pad, keep, prunable, lengths):
        weight = (~pad).astype(probs.dtype)
        if keep is not None:
            weight = weight * keep.data
        s = ltp_scores(probs, weight).data
        return _const(self._select(d, s, prunable, lengths), probs.dtype)

    def _select(self, d, s, prunable, lengths) -> np.ndarray:
        """Keep the ceil(r_d * length) best-scored prunable tokens (0/1 array)."""
        budget = np.maximum(1, np.ceil(self.keep_ratios[d] * lengths - 1e-9)).astype(np.int64)
        # rank the prunable tokens by score (stable: ties go to the earlier position)
        order = np.argsort(np.where(prunable, -s, np.inf), axis=1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(order.shape[1])[None, :], axis=1)
        m = rank < budget[:, None]
        charge(s.size, "PoWER-BERT selection")
        return _force(m, prunable)
