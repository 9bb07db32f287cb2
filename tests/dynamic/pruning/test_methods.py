"""The properties of spec sections 5-6: keep-all equals the plain encoder exactly, hard
inference equals the masked computation, counts never grow, [CLS] and padding are never
pruned, LTP's scores sum to 1, and the relaxed forward passes gradients."""

import numpy as np
import pytest

import tinydyn
from tinydyn import Tensor
from tinydyn.autograd.grad_check import grad_check
from tinydyn.dynamic.pruning import (
    EncoderClassifier,
    LTPClassifier,
    PowerBertClassifier,
    TranskimmerClassifier,
    encoder_layer,
    hard_forward,
    ltp_scores,
)

from .conftest import make, pruning_models


def _array(grad):
    return np.asarray(getattr(grad, "data", grad))


def _plain(model, tokens, lengths):
    base = make(EncoderClassifier)
    base.load_state_dict({k: v for k, v in model.state_dict().items()
                          if k in base.state_dict()})
    base.eval()
    return base(tokens, lengths).data


def _keep_all(name):
    if name == "ltp":
        return make(LTPClassifier).set_thresholds([0.0, -1.0]).set_stage("hard")
    if name == "transkimmer":
        model = make(TranskimmerClassifier)
        for p in model.predictors:
            p.fc2.bias.data[:] = [-1e3, 1e3]
        return model
    return make(PowerBertClassifier, keep_ratios=[1.0, 1.0])


@pytest.mark.parametrize("name", ["ltp", "transkimmer", "power_bert"])
def test_keeping_every_token_is_the_plain_encoder_exactly(name, batch):
    tokens, lengths = batch
    model = _keep_all(name)
    plain = _plain(model, tokens, lengths)
    model.train()  # training forward (Gumbel noise for Transkimmer, hard LTP stage)
    tinydyn.manual_seed(0)
    np.testing.assert_array_equal(model(tokens, lengths).logits.data, plain)
    model.eval()
    np.testing.assert_array_equal(model(tokens, lengths).logits.data, plain)
    for compaction in ("repack", "masked"):
        result = hard_forward(model, tokens, lengths, compaction)
        np.testing.assert_array_equal(result.logits, plain)
        np.testing.assert_array_equal(result.counts, np.repeat(lengths[:, None] + 1, 3, 1))


@pytest.mark.parametrize("name", ["ltp", "transkimmer", "power_bert"])
def test_hard_inference_equals_the_masked_computation(name, batch):
    tokens, lengths = batch
    model = pruning_models()[name].eval()
    masked = hard_forward(model, tokens, lengths, "masked")
    assert (masked.counts[:, -1] < lengths + 1).any(), "the test model must prune something"
    relaxed = model(tokens, lengths)  # the training-time loop, decisions exact in eval mode
    for compaction in ("repack", "loop"):
        result = hard_forward(model, tokens, lengths, compaction)
        np.testing.assert_allclose(result.logits, masked.logits, rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(result.counts, masked.counts)
        for l in range(3):
            for a, b in zip(result.positions[l], masked.positions[l]):
                np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(result.hidden, masked.hidden, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(relaxed.logits.data, masked.logits, rtol=1e-10, atol=1e-12)
    # the training loop's keep values are the same decisions
    for d, keep in enumerate(relaxed.keep):
        for b in range(len(tokens)):
            kept = np.flatnonzero(keep[b, :lengths[b] + 1] > 0.5)
            np.testing.assert_array_equal(kept, masked.positions[d + 1][b])


@pytest.mark.parametrize("name", ["ltp", "transkimmer", "power_bert"])
def test_counts_never_grow_and_cls_and_padding_are_never_pruned(name, batch):
    tokens, lengths = batch
    result = hard_forward(pruning_models()[name].eval(), tokens, lengths)
    assert (np.diff(result.counts, axis=1) <= 0).all()
    for b, length in enumerate(lengths):
        np.testing.assert_array_equal(result.positions[0][b], np.arange(length + 1))
        for l in range(3):
            pos = result.positions[l][b]
            assert pos[0] == 0  # [CLS] is in every layer, first
            assert pos.max() <= length  # padding is never a token of any layer
            assert set(pos) <= set(result.positions[l - 1][b] if l else pos)
        assert (result.hidden[b, length + 1:] == 0).all()


def test_ltp_scores_sum_to_one_over_the_kept_tokens():
    rng = np.random.default_rng(3)
    layer = make(LTPClassifier).encoder.layers[0].eval()
    x = Tensor(rng.standard_normal((2, 7, 8)))
    pad = np.zeros((2, 7), bool)
    pad[1, 5:] = True
    pruned = pad.copy()
    pruned[0, [2, 4]] = True
    pruned[1, 3] = True
    _, probs = encoder_layer(layer, x, pruned)
    s = ltp_scores(probs, (~pruned).astype(float)).data
    np.testing.assert_allclose(s.sum(axis=1), 1.0, rtol=1e-12)
    assert (s[pruned] == 0).all()
    # each token's score is the attention it receives, averaged by hand
    a = probs.data[0]
    queries = np.flatnonzero(~pruned[0])
    np.testing.assert_allclose(s[0], a[:, queries, :].mean(axis=(0, 1)), rtol=1e-12)


def test_ltp_scores_sum_to_one_per_layer_on_the_hard_path(batch):
    tokens, lengths = batch
    model = pruning_models()["ltp"].eval()
    seen = []
    original = model.decide

    def spy(d, x, probs, pad, keep, prunable, lens):
        seen.append(ltp_scores(probs, (~pad).astype(float)).data.sum(axis=1))
        return original(d, x, probs, pad, keep, prunable, lens)

    model.decide = spy
    hard_forward(model, tokens, lengths)
    assert len(seen) == 2
    np.testing.assert_allclose(np.concatenate(seen), 1.0, rtol=1e-12)


def test_transkimmer_carries_a_skimmed_token_state_to_the_output(batch):
    tokens, lengths = batch
    model = pruning_models()["transkimmer"].eval()
    result = hard_forward(model, tokens, lengths)
    first = make(EncoderClassifier)
    first.load_state_dict({k: v for k, v in model.state_dict().items()
                           if k in first.state_dict()})
    _, pad, x, _ = first.embed("t", tokens, lengths)
    after_layer0, _ = encoder_layer(first.encoder.layers[0], x, pad)
    b = int(np.argmax(lengths))
    skimmed = np.setdiff1d(result.positions[0][b], result.positions[1][b])
    assert skimmed.size > 0
    np.testing.assert_allclose(result.hidden[b, skimmed], after_layer0.data[b, skimmed],
                               rtol=1e-10, atol=1e-12)


def test_soft_ltp_passes_gradients_to_thresholds_and_weights(batch):
    tokens, lengths = batch
    model = make(LTPClassifier, temperature=0.05).set_thresholds([0.1, 0.15])
    model.train()

    def loss(theta, w):  # theta and w are the model's own parameters, perturbed in place
        out = model(tokens, lengths)
        return out.logits.sum() + out.penalty

    assert grad_check(loss, model.thresholds, model.head.weight, atol=1e-6, rtol=1e-4)
    out = model(tokens, lengths)
    out.penalty.backward()
    assert np.abs(_array(model.thresholds.grad)).min() > 0  # the penalty reaches each theta


def test_transkimmer_trains_its_predictors_through_the_skim_loss(batch):
    tokens, lengths = batch
    model = pruning_models()["transkimmer"]
    model.train()
    tinydyn.manual_seed(0)
    out = model(tokens, lengths)
    (out.logits.sum() + out.penalty).backward()
    for p in model.predictors:
        assert p.fc2.weight.grad is not None and np.abs(_array(p.fc2.weight.grad)).sum() > 0
