"""THOR: random experts in training, the documented inference rule, the consistency loss."""

import numpy as np
import pytest

from tinydyn import Tensor, grad_check
from tinydyn.dynamic.moe.thor import ThorRouter, consistency_loss, thor_loss


def _x(s, d=4):
    return Tensor(np.zeros((s, d), dtype=np.float32))


def _logits(n=5, k=4, seed=0):
    return Tensor(np.random.default_rng(seed).standard_normal((n, k)), requires_grad=True)


def test_training_picks_one_expert_for_the_whole_batch_by_default():
    router = ThorRouter(4, 4, rng=np.random.default_rng(0))
    seen = []
    for _ in range(400):
        expert = router(_x(6)).expert
        assert (expert == expert[0]).all()
        seen.append(expert[0])
    freq = np.bincount(seen, minlength=4) / 400
    np.testing.assert_allclose(freq, 0.25, atol=0.06)  # each expert about 1/E of the passes


def test_per_token_training_draws_each_token_independently():
    router = ThorRouter(4, 4, train_level="token", rng=np.random.default_rng(0))
    expert = router(_x(4000)).expert
    np.testing.assert_allclose(np.bincount(expert, minlength=4) / 4000, 0.25, atol=0.03)
    assert len(set(expert[:20].tolist())) > 1


def test_inference_is_a_random_expert_per_token_reproducible_from_the_seed():
    router = ThorRouter(4, 4, inference_seed=3, rng=np.random.default_rng(0))
    router.eval()
    a, b = router(_x(50)).expert, router(_x(50)).expert
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, np.random.default_rng(3).integers(0, 4, size=50))
    other = ThorRouter(4, 4, inference_seed=4)
    other.eval()
    assert (other(_x(50)).expert != a).any()


def test_inference_per_sequence_shares_one_expert_per_sequence():
    router = ThorRouter(4, 8, inference_level="sequence", sequence_length=5)
    router.eval()
    expert = router(_x(20)).expert.reshape(4, 5)
    assert (expert == expert[:, :1]).all()
    np.testing.assert_array_equal(expert[:, 0],
                                  np.random.default_rng(0).integers(0, 8, size=4))


def test_gates_are_one_and_there_are_no_parameters():
    router = ThorRouter(4, 2)
    routing = router(_x(3))
    np.testing.assert_array_equal(routing.gate.data, np.ones(3))
    assert routing.aux_loss is None and list(router.parameters()) == []


def test_consistency_loss_is_a_symmetric_kl():
    a, b = _logits(seed=0), _logits(seed=1)
    p, q = (np.exp(t.data) / np.exp(t.data).sum(1, keepdims=True) for t in (a, b))
    kl = lambda u, v: (u * (np.log(u) - np.log(v))).sum(1)  # noqa: E731
    expected = np.mean(0.5 * (kl(p, q) + kl(q, p)))
    assert float(consistency_loss(a, b).data) == pytest.approx(expected, rel=1e-12)
    assert float(consistency_loss(b, a).data) == pytest.approx(expected, rel=1e-12)
    assert expected > 0
    assert float(consistency_loss(a, Tensor(a.data + 3.0)).data) == pytest.approx(0, abs=1e-12)


def test_consistency_and_thor_loss_gradients():
    a, b = _logits(seed=2), _logits(seed=3)
    assert grad_check(consistency_loss, a, b)
    target = np.array([0, 1, 2, 3, 0])
    assert grad_check(lambda u, v: thor_loss(u, v, target, alpha=0.7), a, b)


def test_thor_loss_with_alpha_zero_is_two_cross_entropies():
    a, b = _logits(seed=4), _logits(seed=5)
    target = np.array([1, 1, 0, 3, 2])
    with_alpha = float(thor_loss(a, b, target, alpha=2.0).data)
    without = float(thor_loss(a, b, target, alpha=0.0).data)
    assert with_alpha == pytest.approx(without + 2.0 * float(consistency_loss(a, b).data))


def test_bad_input_raises():
    with pytest.raises(ValueError, match="ThorRouter: train_level must be one of"):
        ThorRouter(4, 2, train_level="layer")
    with pytest.raises(ValueError, match="ThorRouter: sequence_length must be given"):
        ThorRouter(4, 2, inference_level="sequence")
    router = ThorRouter(4, 2, inference_level="sequence", sequence_length=4)
    router.eval()
    with pytest.raises(ValueError, match="ThorRouter: the number of tokens \\(6\\) must be a "
                                         "multiple of sequence_length"):
        router(_x(6))
    with pytest.raises(ValueError, match=r"ThorRouter: x must have shape \(S, 4\)"):
        router(_x(4, d=3))
    with pytest.raises(ValueError, match="consistency_loss: logits1 and logits2 must have"):
        consistency_loss(_logits(3), _logits(4))
    with pytest.raises(ValueError, match="thor_loss: alpha must be >= 0"):
        thor_loss(_logits(), _logits(), np.zeros(5, dtype=np.int64), alpha=-1.0)


def test_with_one_expert_two_passes_agree_and_the_consistency_term_is_zero():
    from tinydyn.dynamic.moe import MoELayer
    layer = MoELayer(ThorRouter(4, 1, rng=np.random.default_rng(0)), 4, 3, 1,
                     rng=np.random.default_rng(0), dtype=np.float64)
    x = Tensor(np.random.default_rng(1).standard_normal((6, 4)))
    a, b = layer(x), layer(x)
    np.testing.assert_array_equal(a.data, b.data)
    assert float(consistency_loss(a, b).data) == pytest.approx(0.0, abs=1e-15)
