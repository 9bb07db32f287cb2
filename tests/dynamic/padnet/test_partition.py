"""IMP and the other partitions: P-D.5 (the schedule and the achieved ratio), P-D.6 (SNIP as a
special case, normalisation), the saliency against finite differences, ties, floors, errors."""

import numpy as np
import pytest

from tinydyn import Tensor
from tinydyn.autograd import ops_conv
from tinydyn.autograd.ops_nn import cross_entropy
from tinydyn.dynamic.padnet import (
    PadDynamicConv2d,
    density_schedule,
    imp,
    magnitude_partition,
    mask_saliency,
    normalise,
    pad_dyconv_net,
    pad_layers,
    random_partition,
    select_masks,
    snip_scores,
)

F64 = np.float64


def _net(seed=0, dtype=F64):
    return pad_dyconv_net(1, 4, width=3, rng=np.random.default_rng(seed), dtype=dtype)


def _batches(n=2, size=8, seed=0, dtype=F64):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((size, 1, 6, 6)).astype(dtype), rng.integers(0, 4, size))
            for _ in range(n)]


def _loss(model, batch):
    return cross_entropy(model(Tensor(batch[0])), batch[1])


def test_the_exponential_schedule_shrinks_by_the_same_factor_each_round():
    d = density_schedule(0.3, 5)
    np.testing.assert_allclose(d, 0.3 ** (np.arange(1, 6) / 5))
    np.testing.assert_allclose(d[1:] / d[:-1], 0.3 ** 0.2)
    np.testing.assert_allclose(density_schedule(0.3, 4, "linear"), [0.825, 0.65, 0.475, 0.3])
    assert density_schedule(1.0, 3).tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("kappa,iterations", [(0.1, 4), (0.3, 5), (0.7, 2), (0.5, 1)])
def test_after_each_round_the_dynamic_fraction_is_kappa_to_the_t_over_T(kappa, iterations):
    net = _net()
    log = imp(net, _loss, _batches(), kappa, iterations)
    total = sum(layer.mask.size for layer in pad_layers(net))
    expected = [np.floor(d * total + 0.5) / total for d in density_schedule(kappa, iterations)]
    np.testing.assert_allclose(log["achieved"], expected, atol=1e-12)
    np.testing.assert_allclose(log["density"], density_schedule(kappa, iterations))
    assert len(log["layer_ratios"]) == iterations and len(log["layer_ratios"][0]) == 2
    dynamic = sum(layer.mask.sum() for layer in pad_layers(net))
    assert dynamic == np.floor(kappa * total + 0.5)


def test_the_saliency_is_the_derivative_of_the_loss_in_the_relaxed_mask():
    net = _net(1)
    layers = pad_layers(net)
    layers[0].set_mask((np.arange(layers[0].mask.size) % 3 == 0).reshape(layers[0].mask_shape))
    batches = _batches(2, 6, seed=3)
    grads = mask_saliency(net, _loss, batches)
    net.eval()
    eps = 1e-6
    for li, layer in enumerate(layers):
        for j in (0, 5, layer.mask.size - 1):
            values = []
            for sign in (1, -1):
                m = layer.mask.copy()
                m.ravel()[j] += sign * eps
                layer.mask = m      # a real-valued mask, only for the check
                values.append(sum(float(_loss(net, b).data) for b in batches))
                m.ravel()[j] -= sign * eps
                layer.mask = m
            numeric = (values[0] - values[1]) / (2 * eps)
            assert grads[li].ravel()[j] == pytest.approx(numeric, rel=1e-5, abs=1e-9)


def test_scoring_leaves_the_model_as_it_was():
    net = _net()
    net.train()
    mask_saliency(net, _loss, _batches())
    assert net.training
    assert all(p.grad is None or not np.any(p.grad.data) for p in net.parameters())
    assert all(layer._relaxed is None for layer in pad_layers(net))


def test_eval_and_train_mode_scores_differ_because_of_batch_norm():
    net = _net(2)
    eval_scores = mask_saliency(net, _loss, _batches())
    train_scores = mask_saliency(net, _loss, _batches(), train_mode=True)
    assert not np.allclose(eval_scores[0], train_scores[0])


def test_pad_saliency_reduces_to_snip_with_one_kernel_zero_static_and_unit_scale():
    rng = np.random.default_rng(4)
    layer = PadDynamicConv2d(2, 3, 3, num_kernels=1, padding=1, rng=rng, dtype=F64)
    layer.static_weight.data[...] = 0.0
    x, y = rng.standard_normal((6, 2, 5, 5)), rng.integers(0, 3, 6)

    def loss(model, batch):
        return cross_entropy(model(Tensor(batch[0])).mean(dim=(2, 3)), batch[1])

    pad_scores = normalise(mask_saliency(layer, loss, [(x, y)]))[0]
    # SNIP on the plain convolution with that one kernel
    w = Tensor(layer.weight.data[0].copy(), requires_grad=True)
    out = ops_conv.conv2d(Tensor(x), w, Tensor(layer.bias.data[0]), 1, 1, 1)
    cross_entropy(out.mean(dim=(2, 3)), y).backward()
    snip = snip_scores(w.data, w.grad.data)
    np.testing.assert_allclose(pad_scores, snip, rtol=1e-9, atol=1e-15)
    for kappa in (0.2, 0.5):
        np.testing.assert_array_equal(select_masks([pad_scores], kappa)[0],
                                      select_masks([snip], kappa)[0])


def test_normalising_the_scores_does_not_change_the_mask():
    rng = np.random.default_rng(5)
    scores = [rng.random((3, 4)), 7.0 * rng.random((5,))]
    for kappa in (0.1, 0.45, 0.9):
        for a, b in zip(select_masks(scores, kappa), select_masks(normalise(scores), kappa)):
            np.testing.assert_array_equal(a, b)


def test_ties_are_broken_by_position_deterministically():
    scores = [np.zeros(5), np.array([0.0, 1.0, 0.0])]
    masks = select_masks(scores, 0.5)          # 4 of 8: the 1.0, then the first three zeros
    assert masks[0].tolist() == [1, 1, 1, 0, 0] and masks[1].tolist() == [0, 1, 0]
    again = select_masks(scores, 0.5)
    assert all((a == b).all() for a, b in zip(masks, again))


def test_a_global_threshold_can_starve_a_layer_and_the_floor_prevents_it():
    scores = [np.full(10, 1e-6), np.linspace(1.0, 2.0, 10)]
    masks = select_masks(scores, 0.3)
    assert masks[0].sum() == 0 and masks[1].sum() == 6
    masks = select_masks(scores, 0.3, floor=0.2)
    assert masks[0].sum() == 2 and masks[1].sum() == 4
    local = select_masks(scores, 0.3, scope="layer")
    assert masks[0].sum() + masks[1].sum() == 6 and local[0].sum() == local[1].sum() == 3


def test_an_entry_made_static_can_come_back_in_a_later_round():
    # the recomputation is from scratch: a round-t mask need not be a subset of round t-1's
    net = _net(3)
    layers = pad_layers(net)
    for layer in layers:
        layer.set_mask(np.zeros(layer.mask_shape))
    grads = mask_saliency(net, _loss, _batches())
    assert any(np.any(g != 0) for g in grads)   # static entries still have a saliency


def test_random_and_magnitude_partitions_hit_the_same_fraction():
    net = _net()
    total = sum(layer.mask.size for layer in pad_layers(net))
    random_partition(net, 0.3, np.random.default_rng(0))
    assert sum(layer.mask.sum() for layer in pad_layers(net)) == np.floor(0.3 * total + 0.5)
    magnitude_partition(net, 0.3)
    kept = [np.abs(layer.weight.data).sum(0)[layer.mask == 1].min() for layer in pad_layers(net)]
    dropped = [np.abs(layer.weight.data).sum(0)[layer.mask == 0].max()
               for layer in pad_layers(net)]
    assert min(kept) >= max(dropped)


@pytest.mark.parametrize("kappa", [0.0, -0.1, 1.5, float("nan")])
def test_kappa_outside_zero_one_is_rejected(kappa):
    with pytest.raises(ValueError, match="kappa"):
        imp(_net(), _loss, _batches(), kappa)


def test_bad_iterations_empty_scoring_set_and_bad_floor_are_rejected():
    with pytest.raises(ValueError, match="iterations"):
        imp(_net(), _loss, _batches(), 0.3, iterations=0)
    with pytest.raises(ValueError, match="scoring set"):
        imp(_net(), _loss, [], 0.3)
    with pytest.raises(ValueError, match="floor"):
        imp(_net(), _loss, _batches(), 0.3, floor=0.4)
    with pytest.raises(ValueError, match="scope"):
        imp(_net(), _loss, _batches(), 0.3, scope="channel")
    with pytest.raises(TypeError, match="kappa"):
        imp(_net(), _loss, _batches(), "0.3")
    with pytest.raises(ValueError, match="no PAD layer"):
        random_partition(_plain(), 0.5, np.random.default_rng(0))


def _plain():
    from tinydyn.nn.layers import Linear
    return Linear(2, 2)
