"""Small float64 models and ragged batches shared by the pruning tests."""

import numpy as np
import pytest

from tinydyn.dynamic.pruning import (
    EncoderClassifier,
    LTPClassifier,
    PowerBertClassifier,
    TranskimmerClassifier,
)

VOCAB, CLASSES = 20, 3
SIZE = {"d_model": 8, "nhead": 2, "num_layers": 3, "dim_feedforward": 16,
        "dtype": np.float64}


def make(cls, seed=1, **options):
    return cls(VOCAB, CLASSES, **SIZE, rng=np.random.default_rng(seed), **options)


@pytest.fixture
def batch():
    """tokens (4, 12) with real lengths 12, 7, 9, 3 (padding after them is 0)."""
    rng = np.random.default_rng(0)
    lengths = np.array([12, 7, 9, 3])
    tokens = rng.integers(1, VOCAB, (4, 12))
    tokens[np.arange(12)[None, :] >= lengths[:, None]] = 0
    return tokens, lengths


def pruning_models():
    """Each method set to prune something on `batch` (names for parametrize ids)."""
    ltp = make(LTPClassifier).set_thresholds([0.09, 0.12])
    tk = make(TranskimmerClassifier)
    for p in tk.predictors:  # a predictor that skims about half the tokens
        p.fc2.bias.data[:] = [0.0, 0.0]
        p.fc2.weight.data *= 20
    pb = make(PowerBertClassifier, keep_ratios=[0.6, 0.3])
    return {"ltp": ltp, "transkimmer": tk, "power_bert": pb}


__all__ = ["CLASSES", "EncoderClassifier", "SIZE", "VOCAB", "make", "pruning_models"]
