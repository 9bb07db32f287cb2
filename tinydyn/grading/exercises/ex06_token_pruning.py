"""Exercise 06 (token pruning): LTP's importance score and masks; hard pruning of one layer with
compaction of a padded batch.

The student writes the pieces of lesson 06 that decide which tokens leave a Transformer layer
and how a padded batch loses them:

* ``importance_scores(probs, query_weight)``: attention received, averaged over heads and
  (weighted) queries — :func:`~tinydyn.dynamic.pruning.models.ltp_scores`;
* ``soft_mask(scores, threshold, temperature, prunable)``: the training mask —
  :func:`~tinydyn.dynamic.pruning.methods.ltp_soft_mask`;
* ``hard_keep(scores, threshold, prunable)``: the inference decision —
  :func:`~tinydyn.dynamic.pruning.methods.ltp_hard_keep`;
* ``prune_layer(hidden, keep)``: the repacking of the hard path —
  :func:`~tinydyn.dynamic.pruning.inference.compact_rows` and the gather the hard inference
  applies with it.
"""

from __future__ import annotations

import numpy as np

from tinydyn.autograd.tensor import Tensor
from tinydyn.dynamic.pruning.inference import compact_rows
from tinydyn.dynamic.pruning.methods import ltp_hard_keep, ltp_soft_mask
from tinydyn.dynamic.pruning.models import ltp_scores

TITLE = "Token pruning: LTP's importance score, soft and hard masks, compaction of a batch"
LESSON = "lessons/06_token_pruning.py"
PREREQUISITES = ("01", "03")
# What student.py may import (see tinydyn.grading.integrity); nothing from tinydyn.
ALLOWED_IMPORTS = ("numpy", "math")

MARGIN = 1e-6  # every stored hard decision sits at least this far from its threshold


def _scores(probs, query_weight):
    probs = np.asarray(probs, np.float64)
    return ltp_scores(Tensor(probs), np.asarray(query_weight, np.float64)).data.copy()


def _soft(scores, threshold, temperature, prunable):
    return ltp_soft_mask(Tensor(np.asarray(scores, np.float64)), float(threshold),
                         float(temperature), np.asarray(prunable, bool)).data.copy()


def _hard(scores, threshold, prunable):
    return ltp_hard_keep(np.asarray(scores, np.float64), float(threshold),
                         np.asarray(prunable, bool))


def _prune(hidden, keep):
    hidden, keep = np.asarray(hidden, np.float64), np.asarray(keep, bool)
    rows, valid = compact_rows(keep)
    packed = np.take_along_axis(hidden, rows[:, :, None], axis=1) * valid[:, :, None]
    return packed, valid, np.where(valid, rows, -1).astype(np.int64)


class SOLUTION:
    """The functions of ``exercises/06_token_pruning/student.py``, implemented with the library."""

    importance_scores = staticmethod(_scores)
    soft_mask = staticmethod(_soft)
    hard_keep = staticmethod(_hard)
    prune_layer = staticmethod(_prune)


def _attention(rng, B, H, T, pad):
    """Softmax attention rows over the real keys (padding keys get weight 0)."""
    logits = rng.normal(0.0, 2.0, size=(B, H, T, T))
    logits = np.where(pad[:, None, None, :], -np.inf, logits)
    logits -= logits.max(axis=-1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=-1, keepdims=True)


def make_references(seed: int) -> dict:
    """Inputs and the library's outputs (float64 scores and masks, bool and int64 plans)."""
    rng = np.random.default_rng(seed)
    B, H, T = 4, 2, 9
    lengths = np.array([9, 6, 8, 4])  # [CLS] included
    pad = np.arange(T)[None, :] >= lengths[:, None]
    probs = _attention(rng, B, H, T, pad)
    pruned = (rng.random((B, T)) < 0.3) & ~pad
    pruned[:, 0] = False
    w_hard = (~pad & ~pruned).astype(np.float64)
    w_soft = np.where(pad, 0.0, rng.uniform(0.05, 1.0, size=(B, T)))
    out = {"probs": probs, "w_hard": w_hard, "w_soft": w_soft,
           "scores_hard": _scores(probs, w_hard), "scores_soft": _scores(probs, w_soft)}
    # masks: on the scores of all real queries; theta halfway between two middle scores
    scores = _scores(probs, (~pad).astype(np.float64))
    prunable = ~pad
    prunable[:, 0] = False
    values = np.sort(scores[prunable])
    middle = len(values) // 2
    theta = 0.5 * (values[middle - 1] + values[middle])
    gap = np.abs(scores[prunable] - theta).min()
    if gap <= MARGIN:
        raise AssertionError(f"make_references: a score sits {gap:.2e} from theta, a tie")
    # steep enough that exp(-(s - theta) / T) overflows float64 (e^1000) for the lowest score
    steep = float((theta - scores[prunable]).max()) / 1000.0
    out.update(mask_scores=scores, theta=np.array(theta), prunable=prunable,
               temp_mid=np.array(0.02), temp_steep=np.array(steep),
               soft_mid=_soft(scores, theta, 0.02, prunable),
               soft_steep=_soft(scores, theta, steep, prunable),
               hard=_hard(scores, theta, prunable))
    # compaction: a padded batch with different kept counts
    D = 3
    hidden = rng.normal(size=(B, T, D))
    keep = (rng.random((B, T)) < 0.5) & ~pad
    keep[:, 0] = True
    packed, valid, index = _prune(hidden, keep)
    out.update(batch_hidden=hidden, batch_keep=keep, batch_packed=packed, batch_valid=valid,
               batch_index=index)
    edge_hidden = rng.normal(size=(2, 5, D))
    edge_keep = np.array([[True, False, False, False, False], [True] * 5])
    packed, _, index = _prune(edge_hidden, edge_keep)
    out.update(edge_hidden=edge_hidden, edge_keep=edge_keep, edge_packed=packed,
               edge_index=index)
    return out
