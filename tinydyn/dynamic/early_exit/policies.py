"""Exit policies: when does a sample stop?

A policy looks at one layer's exit logits (and the pooled features, for the learned rule) for
the rows still running, and says which rows stop there. Per-sample memory (PABEE's counter and
previous prediction) lives in a ``state`` dict of arrays with one entry per row, so an engine
that gathers rows (compaction) gathers the state with them. The last layer always stops a row;
engines enforce that, so a policy that never fires reproduces the full model (P-C0.2).

    policy          fires at layer i when                 knob, and more knob means
    EntropyPolicy   H(p_i) < S (DeeBERT)                  S: earlier exits
                    H(p_i)/log C <= S, normalised (FastBERT "Speed")
    MaxProbPolicy   max softmax(z_i / T_i) > threshold    threshold: later exits
                    (Right Tool; T_i fitted by calibration)
    PatiencePolicy  t exits in a row agree (PABEE)        patience: later exits
    LearnedPolicy   sigmoid(w.h_i + b) < threshold        threshold: earlier exits
                    (BERxiT's learning-to-exit unit)

Each has ``code`` and ``params()`` for the compiled batch-1 loop in :mod:`.kernels`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from tinydyn._checks import check_float, check_int, fail
from tinydyn.dynamic.early_exit import kernels as K

__all__ = ["EntropyPolicy", "LearnedPolicy", "MaxProbPolicy", "PatiencePolicy",
           "exit_decisions", "normalized_entropy", "stable_entropy", "stable_softmax"]


def _logits(fn: str, z) -> np.ndarray:
    z = np.asarray(z)
    if z.ndim != 2 or z.shape[1] < 2 or z.dtype.kind != "f":
        fail(fn, f"logits must be a float (n, C >= 2) array, got {z.dtype} {z.shape}")
    return z


def stable_softmax(z) -> np.ndarray:
    """Row softmax of (n, C) logits, shifted by the row max (finite for any finite logits)."""
    z = _logits("stable_softmax", z)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def stable_entropy(z) -> np.ndarray:
    """H(softmax(z)) in nats per row of (n, C) logits, through a shifted log-softmax.

    DeeBERT's code evaluates ``log sum e^z - sum z e^z / sum e^z`` unshifted, which overflows
    for logits near 90 in float32; here every exponent is <= 0, so logits of magnitude 1000
    give a finite result (0 for a confident row)."""
    z = _logits("stable_entropy", z)
    shifted = z - z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -(np.exp(log_p) * log_p).sum(axis=1)


def normalized_entropy(z) -> np.ndarray:
    """FastBERT's uncertainty H(p) / log C in [0, 1]: 1 for uniform, 0 for one-hot."""
    z = _logits("normalized_entropy", z)
    return stable_entropy(z) / math.log(z.shape[1])


def _check_threshold(fn, name, value, low, high=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        fail(fn, f"{name} must be a number, got {type(value).__name__} {value!r}", TypeError)
    return check_float(fn, name, value, low=low, high=high)


class _Policy:
    knob = "threshold"
    earlier_when_larger = True  # the direction of P-C0.4
    needs_features = False

    def start(self, n: int) -> dict:
        return {}

    def decide(self, layer: int, logits, features, state: dict) -> np.ndarray:
        raise NotImplementedError

    def params(self, num_layers: int) -> tuple:
        """(threshold, temps (L,), lte_w, lte_b) for :func:`kernels.mlp_exit_batch1`."""
        return float(self.value), np.ones(num_layers), np.zeros(1), 0.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.knob}={self.value!r})"


class EntropyPolicy(_Policy):
    """Exit when the entropy is below ``threshold`` (nats, >= 0; 0 never fires). With
    ``normalized=True`` the test is FastBERT's H/log C <= threshold (0 fires only on an exactly
    one-hot row; >= 1 always fires)."""

    def __init__(self, threshold: float, normalized: bool = False):
        self.value = _check_threshold("EntropyPolicy", "threshold", threshold, 0.0)
        if not isinstance(normalized, bool):
            fail("EntropyPolicy", f"normalized must be a bool, got {normalized!r}", TypeError)
        self.normalized = normalized
        self.code = K.NORM_ENTROPY if normalized else K.ENTROPY

    def decide(self, layer, logits, features, state):
        if self.normalized:
            return normalized_entropy(logits) <= self.value
        return stable_entropy(logits) < self.value


class MaxProbPolicy(_Policy):
    """Exit when the calibrated top probability max softmax(z / T_layer) is strictly above
    ``threshold`` in [0, 1] (>= 1 never fires; below 1/C always fires). ``temperatures``:
    one positive T per layer (default all 1)."""

    earlier_when_larger = False

    def __init__(self, threshold: float, temperatures=None):
        self.value = _check_threshold("MaxProbPolicy", "threshold", threshold, 0.0, 1.0)
        if temperatures is not None:
            temperatures = np.asarray(temperatures, dtype=np.float64)
            if temperatures.ndim != 1 or not np.all(temperatures > 0):
                fail("MaxProbPolicy", f"temperatures must be a 1-D array of positive numbers, "
                     f"got {temperatures!r}")
        self.temperatures = temperatures
        self.code = K.MAX_PROB

    def _temp(self, layer):
        if self.temperatures is None:
            return 1.0
        if layer >= len(self.temperatures):
            fail("MaxProbPolicy", f"layer {layer} has no temperature (only "
                 f"{len(self.temperatures)} given)")
        return self.temperatures[layer]

    def decide(self, layer, logits, features, state):
        return stable_softmax(np.asarray(logits) / self._temp(layer)).max(axis=1) > self.value

    def params(self, num_layers):
        temps = np.ones(num_layers) if self.temperatures is None else self.temperatures
        if len(temps) != num_layers:
            fail("MaxProbPolicy", f"temperatures has {len(temps)} entries for {num_layers} "
                 "layers")
        return self.value, np.ascontiguousarray(temps, dtype=np.float64), np.zeros(1), 0.0


class PatiencePolicy(_Policy):
    """PABEE: exit once ``patience`` (>= 1) consecutive layers repeat the previous layer's
    prediction, i.e. at layer t + 1 at the earliest; patience >= L never fires."""

    knob = "patience"
    earlier_when_larger = False

    def __init__(self, patience: int):
        self.value = check_int("PatiencePolicy", "patience", patience, min_value=1)
        self.code = K.PATIENCE

    def start(self, n):
        return {"prev": np.full(n, -1, dtype=np.int64), "count": np.zeros(n, dtype=np.int64)}

    def decide(self, layer, logits, features, state):
        pred = np.asarray(logits).argmax(axis=1)
        same = (pred == state["prev"]) & (layer > 0)
        state["count"] = np.where(same, state["count"] + 1, 0)
        state["prev"] = pred
        return state["count"] >= self.value


class LearnedPolicy(_Policy):
    """BERxiT: exit when the learning-to-exit unit's "probability of being wrong"
    u = sigmoid(w.h + b) is below ``threshold`` (>= 0; 0 never fires, > 1 always fires).
    ``weight`` (d,) and ``bias`` come from the model's shared ``lte`` layer."""

    needs_features = True

    def __init__(self, threshold: float, weight, bias: float):
        self.value = _check_threshold("LearnedPolicy", "threshold", threshold, 0.0)
        self.weight = np.ascontiguousarray(np.asarray(weight, dtype=np.float64).reshape(-1))
        self.bias = float(bias)
        self.code = K.LEARNED

    @classmethod
    def from_model(cls, model, threshold: float) -> LearnedPolicy:
        return cls(threshold, model.lte.weight.data[0], float(model.lte.bias.data[0]))

    def decide(self, layer, logits, features, state):
        a = np.asarray(features, dtype=np.float64) @ self.weight + self.bias
        return 0.5 * (1.0 + np.tanh(0.5 * a)) < self.value  # sigmoid, no overflow

    def params(self, num_layers):
        return self.value, np.ones(num_layers), self.weight, self.bias


def exit_decisions(logits, policy, features=None) -> tuple[np.ndarray, np.ndarray]:
    """Apply ``policy`` to precomputed per-layer outputs: logits (L, N, C), features (L, N, d)
    (needed by the learned rule). Returns (exit layers (N,) in 1..L, predictions (N,)), the
    prediction being argmax of the exit layer's logits. This is the reference every engine
    must match, and a cheap way to sweep a knob once all layers have been run."""
    fn = "exit_decisions"
    logits = np.asarray(logits)
    if logits.ndim != 3 or logits.shape[0] < 1 or logits.shape[2] < 2:
        fail(fn, f"logits must be (L, N, C >= 2), got shape {logits.shape}")
    if not isinstance(policy, _Policy):
        fail(fn, f"policy must be an exit policy, got {type(policy).__name__}", TypeError)
    if policy.needs_features and features is None:
        fail(fn, f"{type(policy).__name__} needs features (L, N, d), got None")
    depth, n, _ = logits.shape
    exits = np.full(n, depth, dtype=np.int64)
    running = np.ones(n, dtype=bool)
    state = policy.start(n)
    for i in range(depth):
        feats = None if features is None else features[i]
        fires = policy.decide(i, logits[i], feats, state)
        newly = running & fires
        exits[newly] = i + 1
        running &= ~fires
    preds = logits[exits - 1, np.arange(n)].argmax(axis=1)
    return exits, preds
