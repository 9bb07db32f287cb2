"""Hash layers: fixed tables from token id to expert (spec A.6)."""

import numpy as np
import pytest

from tinydyn import Tensor
from tinydyn.dynamic.moe.hashing import (
    HashRouter,
    balanced_hash,
    hash_loads,
    random_hash,
    token_frequencies,
)


def _x(s, d=4, seed=0):
    return Tensor(np.random.default_rng(seed).standard_normal((s, d)).astype(np.float32))


def test_routing_depends_only_on_the_token_id():
    router = HashRouter.random(4, 3, vocab_size=10, rng=np.random.default_rng(0))
    ids = np.array([3, 7, 3, 1, 7, 3])
    a = router(_x(6, seed=0), ids)
    b = router(_x(6, seed=1), ids)  # other hidden states: same experts
    np.testing.assert_array_equal(a.expert, b.expert)
    np.testing.assert_array_equal(a.expert, router.table[ids])
    # same id, same expert, at any position and in any batch
    c = router(_x(2), np.array([7, 3]))
    assert list(c.expert) == [a.expert[1], a.expert[0]]
    np.testing.assert_array_equal(a.gate.data, np.ones(6))
    assert list(router.parameters()) == []


def test_random_hash_is_seeded_and_uses_every_expert_on_a_large_vocabulary():
    a = random_hash(1000, 8, rng=np.random.default_rng(4))
    np.testing.assert_array_equal(a, random_hash(1000, 8, rng=np.random.default_rng(4)))
    assert set(a.tolist()) == set(range(8))


@pytest.mark.parametrize("seed", range(5))
def test_balanced_hash_spread_is_at_most_the_largest_frequency(seed):
    rng = np.random.default_rng(seed)
    # Zipf-like frequencies, as in text: a few very frequent ids
    freqs = np.floor(1000 / np.arange(1, 65) ** rng.uniform(0.5, 1.2)).astype(np.int64)
    table = balanced_hash(freqs, 8)
    loads = hash_loads(table, freqs, 8)
    assert loads.sum() == freqs.sum()
    assert loads.max() - loads.min() <= freqs.max()
    random_loads = hash_loads(random_hash(64, 8, rng=rng), freqs, 8)
    assert loads.std() <= random_loads.std()


def test_balanced_hash_is_balanced_on_the_training_distribution():
    rng = np.random.default_rng(0)
    probs = 1 / np.arange(1, 65) ** 0.5  # the top id holds 7% of the mass, under 1/E
    train = rng.choice(64, size=20000, p=probs / probs.sum())
    freqs = token_frequencies(train, 64)
    router = HashRouter.balanced(4, 8, freqs)
    routing = router(_x(train.size), train)
    load = routing.load()
    assert load.sum() == train.size
    # the spread is bounded by the most frequent token's count (and is small relative to it)
    assert load.max() - load.min() <= freqs.max()
    assert routing.load_cv() < 0.1
    random_cv = [HashRouter.random(4, 8, 64, rng=np.random.default_rng(s))(_x(train.size), train)
                 .load_cv() for s in range(3)]
    assert min(random_cv) > 2 * routing.load_cv()


def test_balanced_hash_by_hand():
    # frequencies 5, 4, 3, 3: 5 -> e0, 4 -> e1, 3 -> e1 (4 < 5), 3 -> e0 (5 < 7)
    np.testing.assert_array_equal(balanced_hash(np.array([3, 5, 3, 4]), 2), [1, 0, 0, 1])


def test_one_expert_takes_every_token():
    router = HashRouter(4, 1, np.zeros(5, dtype=np.int64))
    np.testing.assert_array_equal(router(_x(3), np.array([0, 4, 2])).expert, [0, 0, 0])


def test_bad_input_raises():
    router = HashRouter.random(4, 3, vocab_size=10, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="HashRouter: token_ids must be given"):
        router(_x(3))
    with pytest.raises(ValueError, match=r"HashRouter: token_ids must lie in \[0, 10\)"):
        router(_x(2), np.array([1, 10]))
    with pytest.raises(ValueError, match=r"HashRouter: token_ids must have shape \(2,\)"):
        router(_x(2), np.array([1, 2, 3]))
    with pytest.raises(ValueError, match=r"HashRouter: x must have shape \(S, 4\)"):
        router(_x(2, d=5), np.array([1, 2]))
    with pytest.raises(ValueError, match=r"HashRouter: table values must lie in \[0, 3\)"):
        HashRouter(4, 3, np.array([0, 3]))
    with pytest.raises(ValueError, match="balanced_hash: frequencies must be finite non-neg"):
        balanced_hash(np.array([1.0, -2.0]), 2)
    with pytest.raises(TypeError, match="token_frequencies: token_ids must be an integer"):
        token_frequencies(np.array([0.5]), 3)
    with pytest.raises(ValueError, match="random_hash: n_experts must be >= 1"):
        random_hash(5, 0)


def test_with_one_expert_the_layer_is_the_dense_ffn():
    from tinydyn.dynamic.moe import MoELayer
    router = HashRouter(4, 1, np.zeros(6, dtype=np.int64))
    layer = MoELayer(router, 4, 3, 1, rng=np.random.default_rng(0), dtype=np.float64)
    x = Tensor(np.random.default_rng(1).standard_normal((5, 4)))
    y = layer(x, token_ids=np.array([0, 5, 2, 2, 1])).data
    h = np.maximum(x.data @ layer.w1.data[0] + layer.b1.data[0], 0)
    np.testing.assert_allclose(y, h @ layer.w2.data[0] + layer.b2.data[0], rtol=1e-12)
