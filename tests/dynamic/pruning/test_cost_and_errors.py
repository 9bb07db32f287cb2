"""The cost model against the op-level FLOP counter, and bad input named clearly."""

import numpy as np
import pytest

from tinydyn.dynamic.pruning import (
    EncoderClassifier,
    LTPClassifier,
    PowerBertClassifier,
    full_cost,
    hard_forward,
    pruning_cost,
)
from tinydyn.measure.flops import FlopCounter, count_flops

from .conftest import make, pruning_models


@pytest.mark.parametrize("name", ["ltp", "transkimmer", "power_bert"])
def test_cost_model_equals_the_flop_counter_on_the_hard_path(name, batch):
    tokens, lengths = batch
    model = pruning_models()[name].eval()
    pruned_somewhere = False
    for b in range(len(tokens)):
        one = tokens[b:b + 1, :lengths[b]]
        with FlopCounter() as fc:
            result = hard_forward(model, one, lengths[b:b + 1])
        cost = pruning_cost(model, result.counts[0])
        assert fc.total == cost["total"]
        assert fc.by_op["Linear"] > 0
        pruned_somewhere |= bool(result.counts[0, -1] < lengths[b] + 1)
    assert pruned_somewhere


def test_full_cost_equals_the_counter_on_the_plain_encoder(batch):
    tokens, lengths = batch
    model = make(EncoderClassifier).eval()
    assert count_flops(model, tokens[:1], lengths[:1]) == full_cost(model, int(lengths[0]))


def test_pruning_cost_with_nothing_pruned_adds_only_the_decisions():
    model = make(LTPClassifier)
    cost = pruning_cost(model, np.array([10, 10, 10]))
    assert cost["total"] == full_cost(model, 9) + sum(cost["decisions"])
    assert cost["decisions"] == [2 * 2 * 100 + 20] * 2


def test_hard_forward_rejects_bad_input(batch):
    tokens, lengths = batch
    model = pruning_models()["ltp"]
    model.train()
    with pytest.raises(ValueError, match="hard_forward: model is in training mode"):
        hard_forward(model, tokens, lengths)
    model.eval()
    with pytest.raises(ValueError, match="hard_forward: compaction must be one of"):
        hard_forward(model, tokens, lengths, "sorted")
    bad = tokens.copy()
    bad[0, 0] = 20
    with pytest.raises(ValueError, match=r"hard_forward: tokens must be ids in \[0, 20\)"):
        hard_forward(model, bad, lengths)
    with pytest.raises(ValueError, match=r"hard_forward: lengths must be in \[1, T\]"):
        hard_forward(model, tokens, lengths + 1)
    with pytest.raises(TypeError, match="hard_forward: model must be a PruningClassifier"):
        hard_forward(make(EncoderClassifier).eval(), tokens, lengths)


def test_models_reject_bad_knobs(batch):
    tokens, lengths = batch
    with pytest.raises(ValueError, match=r"set_thresholds: thresholds must have shape \(2,\)"):
        make(LTPClassifier).set_thresholds([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="set_stage: stage must be 'soft' or 'hard'"):
        make(LTPClassifier).set_stage("medium")
    with pytest.raises(ValueError, match=r"keep_ratios must have shape \(2,\)"):
        make(PowerBertClassifier, keep_ratios=[0.5])
    with pytest.raises(ValueError, match=r"keep_ratios must be in \(0, 1\]"):
        make(PowerBertClassifier, keep_ratios=[0.5, 0.0])
    with pytest.raises(ValueError, match=r"LTPClassifier.forward: tokens must be ids"):
        make(LTPClassifier)(tokens + 30, lengths)
    with pytest.raises(ValueError, match="pruning_cost: counts must be >= 1 and non-increasing"):
        pruning_cost(make(LTPClassifier), np.array([5, 6, 2]))
    with pytest.raises(ValueError, match="pruning_cost: counts must be 3 integers"):
        pruning_cost(make(LTPClassifier), np.array([5, 2]))
