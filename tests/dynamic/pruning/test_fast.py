"""The raw-array inference path equals the autograd one and charges the same FLOPs."""

import numpy as np
import pytest

from tinydyn.dynamic.pruning import EncoderClassifier, hard_forward, pruning_cost
from tinydyn.dynamic.pruning.fast import fast_layer
from tinydyn.dynamic.pruning.inference import fast_forward
from tinydyn.measure.flops import FlopCounter, count_flops

from .conftest import make, pruning_models


def test_fast_forward_is_the_plain_encoder(batch):
    tokens, lengths = batch
    model = make(EncoderClassifier).eval()
    np.testing.assert_allclose(fast_forward(model, tokens, lengths),
                               model(tokens, lengths).data, rtol=1e-10, atol=1e-12)
    assert count_flops(fast_forward, model, tokens[:1], lengths[:1]) == count_flops(
        model, tokens[:1], lengths[:1])


@pytest.mark.parametrize("name", ["ltp", "transkimmer", "power_bert"])
@pytest.mark.parametrize("compaction", ["repack", "loop", "masked"])
def test_fast_hard_path_equals_the_autograd_one(name, compaction, batch):
    tokens, lengths = batch
    model = pruning_models()[name].eval()
    ref = hard_forward(model, tokens, lengths, compaction)
    out = hard_forward(model, tokens, lengths, compaction, fast=True)
    np.testing.assert_array_equal(out.counts, ref.counts)
    np.testing.assert_allclose(out.logits, ref.logits, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out.hidden, ref.hidden, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["ltp", "transkimmer", "power_bert"])
def test_fast_hard_path_charges_what_the_cost_model_says(name, batch):
    tokens, lengths = batch
    model = pruning_models()[name].eval()
    b = int(np.argmax(lengths))
    with FlopCounter() as fc:
        result = hard_forward(model, tokens[b:b + 1], lengths[b:b + 1], fast=True)
    assert fc.total == pruning_cost(model, result.counts[0])["total"]


def test_fast_paths_reject_what_they_do_not_run(batch):
    tokens, lengths = batch
    model = make(EncoderClassifier)
    with pytest.raises(ValueError, match="fast_forward: model is in training mode"):
        fast_forward(model, tokens, lengths)
    with pytest.raises(ValueError, match="fast_layer: layer must be a post-norm ReLU"):
        fast_layer(model.encoder.layers[0], np.zeros((1, 3, 8)), np.zeros((1, 3), bool))
    with pytest.raises(TypeError, match="hard_forward: fast must be a bool"):
        hard_forward(pruning_models()["ltp"].eval(), tokens, lengths, fast=1)
