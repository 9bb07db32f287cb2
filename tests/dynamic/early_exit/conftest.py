import numpy as np
import pytest

from tinydyn.dynamic.early_exit import MultiExitMLP


@pytest.fixture(scope="module")
def mlp64():
    """An untrained float64 multi-exit MLP (8 blocks) whose exits disagree a lot."""
    return MultiExitMLP(12, 4, width=16, depth=8, rng=np.random.default_rng(0), dtype=np.float64)


@pytest.fixture(scope="module")
def stack(mlp64):
    """Inputs and every exit's logits (L, N, C) and features (L, N, d)."""
    x = 3.0 * np.random.default_rng(1).standard_normal((60, 12))
    logits = np.stack([z.data for z in mlp64(x)])
    feats = np.stack([h.data for h in mlp64.hidden(x)])
    return x, logits, feats
