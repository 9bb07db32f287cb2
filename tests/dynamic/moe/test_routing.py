"""Routing, capacity and queue positions: properties P-A0.1, P-A0.2 and P-A0.4 of spec A.0."""

import numpy as np
import pytest

from tinydyn import Tensor
from tinydyn.dynamic.moe import (
    GShardRouter,
    NoisyTopKRouter,
    Routing,
    SwitchRouter,
    apply_capacity,
    expert_capacity,
    queue_positions,
)

ROUTERS = {
    "noisy_top2": lambda d, e: NoisyTopKRouter(d, e, k=2, rng=np.random.default_rng(0)),
    "gshard": lambda d, e: GShardRouter(d, e, rng=np.random.default_rng(0)),
    "switch": lambda d, e: SwitchRouter(d, e, rng=np.random.default_rng(0)),
    "switch_top2_prioritised": lambda d, e: SwitchRouter(d, e, k=2, batch_prioritized=True,
                                                         rng=np.random.default_rng(0)),
}


def _routing(token, expert, n_tokens, n_experts, rank=None):
    gate = Tensor(np.linspace(0.1, 0.9, len(token)))
    return Routing(np.asarray(token), np.asarray(expert), gate, None, n_tokens, n_experts,
                   rank=None if rank is None else np.asarray(rank))


def test_capacity_rounding_is_documented_and_at_least_one():
    assert expert_capacity(10, 4, 1, 1.0) == 3            # 2.5 -> ceil
    assert expert_capacity(10, 4, 1, 1.0, "floor") == 2
    assert expert_capacity(10, 4, 1, 1.0, "ceil4") == 4
    assert expert_capacity(8, 4, 2, 1.0) == 4             # exact: no rounding up
    assert expert_capacity(1, 64, 1, 0.5) == 1
    assert expert_capacity(2048, 8, 2, 1.25) == 640


def test_queue_positions_are_an_exclusive_cumulative_sum():
    expert = np.array([2, 0, 2, 2, 1, 0])
    onehot = np.eye(3, dtype=np.int64)[expert]
    exclusive = np.cumsum(onehot, axis=0) - onehot
    np.testing.assert_array_equal(queue_positions(expert, 3), exclusive[np.arange(6), expert])


def test_first_choices_queue_before_second_choices():
    # 3 tokens, top-2, rank-major: tokens 0..2 first choices, then second choices
    r = _routing([0, 1, 2, 0, 1, 2], [0, 0, 1, 1, 1, 0], 3, 2, rank=[0, 0, 0, 1, 1, 1])
    kept = apply_capacity(r, 2)
    # expert 0: first choices of tokens 0, 1 fill it, the second choice of token 2 drops;
    # expert 1: token 2's first choice, then token 0's second; token 1's second drops
    assert list(zip(kept.token, kept.expert, kept.slot)) == [(0, 0, 0), (1, 0, 1), (2, 1, 0),
                                                             (0, 1, 1)]
    assert kept.n_dropped == 2 and kept.capacity == 2
    np.testing.assert_allclose(kept.gate.data, r.gate.data[[0, 1, 2, 3]])


@pytest.mark.parametrize("name", sorted(ROUTERS))
@pytest.mark.parametrize("cf", [0.5, 1.0, 1.25])
def test_slots_hold_one_token_and_tokens_at_most_k_slots(name, cf):
    """P-A0.1 and P-A0.4 for every capacity router."""
    router = ROUTERS[name](6, 4)
    x = Tensor(np.random.default_rng(5).standard_normal((24, 6)).astype(np.float32))
    full = router(x)
    c = expert_capacity(24, 4, router.k, cf)
    kept = apply_capacity(full, c)
    pairs = set(zip(kept.expert.tolist(), kept.slot.tolist()))
    assert len(pairs) == kept.n_assignments                      # one token per slot
    assert kept.slot.max() < c
    assert kept.experts_per_token().max() <= router.k            # at most k slots per token
    assert len(set(zip(kept.token.tolist(), kept.expert.tolist()))) == kept.n_assignments
    # P-A0.4: dropped = sum_e max(0, n_e - C) with n_e the (all-rank) demand of expert e
    demand = np.bincount(full.expert, minlength=4)
    assert kept.n_dropped == np.maximum(0, demand - c).sum()
    np.testing.assert_array_equal(kept.load(), np.minimum(demand, c))


@pytest.mark.parametrize("name", sorted(ROUTERS))
def test_combine_weights_are_dispatch_times_gate(name):
    """P-A0.2: W_comb = D ⊙ gate, zero wherever D is zero."""
    router = ROUTERS[name](6, 4)
    x = Tensor(np.random.default_rng(2).standard_normal((16, 6)).astype(np.float32))
    kept = apply_capacity(router(x), expert_capacity(16, 4, router.k, 1.0))
    dispatch, combine = kept.dense_masks()
    assert dispatch.shape == (16, 4, kept.capacity)
    assert set(np.unique(dispatch)) <= {0.0, 1.0}
    assert (dispatch.sum(axis=0) <= 1).all()                     # a slot holds <= 1 token
    assert not combine[dispatch == 0].any()
    np.testing.assert_array_equal(combine[dispatch == 1] != 0, True)
    gates = np.zeros((16, 4))
    gates[kept.token, kept.expert] = kept.gate.data
    np.testing.assert_allclose(combine, dispatch * gates[:, :, None], rtol=1e-6)


def test_second_choice_placed_only_after_all_first_choices_of_that_expert():
    """P-A2.3 for GShard, checked on the kept assignments."""
    router = GShardRouter(5, 3, random_routing=False, rng=np.random.default_rng(1))
    x = Tensor(np.random.default_rng(4).standard_normal((30, 5)).astype(np.float32))
    full = router(x)
    kept = apply_capacity(full, 8)
    for e in range(3):
        second_kept = ((kept.expert == e) & (kept.rank == 1)).any()
        first_total = ((full.expert == e) & (full.rank == 0)).sum()
        first_kept = ((kept.expert == e) & (kept.rank == 0)).sum()
        if second_kept:
            assert first_kept == first_total


def test_derived_views():
    r = _routing([0, 1, 1, 3], [2, 0, 2, 2], 5, 3)
    np.testing.assert_array_equal(r.load(), [1, 0, 3])
    np.testing.assert_array_equal(r.experts_per_token(), [1, 2, 0, 1, 0])
    np.testing.assert_array_equal(r.dropped_tokens(), [False, False, True, False, True])
    order, offsets = r.sorted_by_expert()
    np.testing.assert_array_equal(order, [1, 0, 2, 3])
    np.testing.assert_array_equal(offsets, [0, 1, 1, 4])
    assert r.load_cv() == pytest.approx(np.std([1, 0, 3]) / np.mean([1, 0, 3]))


def test_bad_routings_and_capacities_raise_naming_the_argument():
    with pytest.raises(ValueError, match="Routing: token values must lie in"):
        _routing([0, 5], [0, 0], 3, 2)
    with pytest.raises(ValueError, match="Routing: expert values"):
        _routing([0, 1], [0, 2], 3, 2)
    with pytest.raises(ValueError, match="gate must have shape"):
        Routing(np.array([0]), np.array([0]), Tensor(np.ones(2)), None, 1, 1)
    with pytest.raises(TypeError, match="token must be a 1-D integer ndarray"):
        Routing(np.array([0.0]), np.array([0]), Tensor(np.ones(1)), None, 1, 1)
    with pytest.raises(ValueError, match="expert_capacity: capacity_factor must be > 0"):
        expert_capacity(8, 2, 1, 0.0)
    with pytest.raises(ValueError, match="expert_capacity: rounding must be one of"):
        expert_capacity(8, 2, 1, 1.0, "round")
    with pytest.raises(ValueError, match="apply_capacity: capacity must be >= 1"):
        apply_capacity(_routing([0], [0], 1, 1), 0)
