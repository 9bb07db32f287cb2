"""Exercise 10 (early exit): the entropy and patience exit rules, and one compaction step.

The student writes the pieces of lesson 10 that decide where each sample stops and how a batch
shrinks when some of its samples have stopped:

* ``entropy_exit(logits, threshold)``: DeeBERT's rule over a stack of per-layer logits;
* ``patience_exit(logits, patience)``: PABEE's rule over the same stack;
* ``compaction_step(fires, ids, hidden, mask, counts)``: which rows continue, with their
  hidden states, attention masks and patience counters gathered into a smaller batch.

The references come from the library: :func:`~tinydyn.dynamic.early_exit.exit_decisions` with
:class:`~tinydyn.dynamic.early_exit.EntropyPolicy` / ``PatiencePolicy``, and the gather the
compaction engine applies to its state (:func:`tinydyn.dynamic.early_exit.engines._take`).
"""

from __future__ import annotations

import math

import numpy as np

from tinydyn.dynamic.early_exit.engines import _take
from tinydyn.dynamic.early_exit.policies import (
    EntropyPolicy,
    PatiencePolicy,
    exit_decisions,
    stable_entropy,
)

TITLE = "Early exit: entropy and patience exit rules, and one compaction step"
LESSON = "lessons/10_early_exit.py"
PREREQUISITES = ("01", "09")
ALLOWED_IMPORTS = ("numpy", "math")

L, N, C = 6, 40, 4  # layers, samples, classes of the graded stacks


def _entropy_exit(logits, threshold):
    exits, preds = exit_decisions(np.asarray(logits, np.float64), EntropyPolicy(float(threshold)))
    return exits, preds


def _patience_exit(logits, patience):
    exits, preds = exit_decisions(np.asarray(logits, np.float64), PatiencePolicy(int(patience)))
    return exits, preds


def _compaction_step(fires, ids, hidden, mask, counts):
    keep = ~np.asarray(fires, bool)
    state = _take({"ids": np.asarray(ids), "hidden": np.asarray(hidden),
                   "mask": np.asarray(mask), "counts": np.asarray(counts)}, keep)
    return (state["ids"], state["hidden"], state["mask"], state["counts"],
            np.asarray(ids)[~keep])


class SOLUTION:
    """The functions of ``exercises/10_early_exit/student.py``, implemented with the library."""

    entropy_exit = staticmethod(_entropy_exit)
    patience_exit = staticmethod(_patience_exit)
    compaction_step = staticmethod(_compaction_step)


def _stack(rng):
    """(L, N, C) logits that grow more confident with depth, so exits spread over layers."""
    base = rng.normal(0.0, 1.0, size=(N, C))
    scale = np.linspace(0.3, 3.0, L)[:, None, None]
    return scale * (base + 0.6 * rng.normal(0.0, 1.0, size=(L, N, C)))


def _clear_threshold(entropies, low, high, rng):
    """A threshold in [low, high] at least 1e-6 away from every entropy (no ties)."""
    for _ in range(1000):
        t = rng.uniform(low, high)
        if np.abs(entropies - t).min() > 1e-6:
            return t
    raise RuntimeError("no threshold clear of the entropies")


def make_references(seed: int) -> dict:
    """Inputs and the library's outputs (int64 layers and ids, float64 arrays)."""
    rng = np.random.default_rng(seed)
    out = {}
    z = _stack(rng)
    ent = stable_entropy(z.reshape(-1, C))
    for name, (low, high) in (("mid", (0.3, 0.9)), ("high", (0.9, 1.3))):
        t = _clear_threshold(ent, low, high, rng)
        exits, preds = _entropy_exit(z, t)
        out.update({f"entropy_{name}_threshold": np.array(t), f"entropy_{name}_exits": exits,
                    f"entropy_{name}_preds": preds})
    # logits near +-1000 (a per-sample offset, which softmax ignores): exp overflows unshifted
    big = _stack(rng) + rng.choice([-1000.0, 1000.0], size=(1, N, 1))
    t = _clear_threshold(stable_entropy(big.reshape(-1, C)), 0.3, 0.9, rng)
    exits, preds = _entropy_exit(big, t)
    out.update(entropy_big_logits=big, entropy_big_threshold=np.array(t),
               entropy_big_exits=exits, entropy_big_preds=preds)
    out["logits"] = z
    # patience: the same kind of stack, with argmax ties impossible (continuous logits)
    zp = _stack(rng)
    out["patience_logits"] = zp
    for p in (1, 2, 3, L - 1, L):
        exits, preds = _patience_exit(zp, p)
        out[f"patience_{p}_exits"], out[f"patience_{p}_preds"] = exits, preds
    # one compaction step on a batch of 9 rows with padding masks and counters
    B, T, D = 9, 5, 3
    fires = rng.random(B) < 0.4
    fires[0], fires[1] = True, False  # at least one of each
    ids = np.sort(rng.choice(50, size=B, replace=False)).astype(np.int64)
    hidden = rng.normal(size=(B, T, D))
    lengths = rng.integers(1, T + 1, size=B)
    mask = np.arange(T)[None] >= lengths[:, None]
    counts = rng.integers(0, 3, size=B).astype(np.int64)
    kept_ids, kept_h, kept_m, kept_c, done = _compaction_step(fires, ids, hidden, mask, counts)
    out.update(comp_fires=fires, comp_ids=ids, comp_hidden=hidden, comp_mask=mask,
               comp_counts=counts, comp_kept_ids=kept_ids, comp_kept_hidden=kept_h,
               comp_kept_mask=kept_m, comp_kept_counts=kept_c, comp_done=done)
    out["log_c"] = np.array(math.log(C))
    return out
