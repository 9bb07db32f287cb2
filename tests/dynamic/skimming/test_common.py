"""The shared skimming harness: the LSTM baseline's predictor and the comparison."""

import numpy as np
import pytest

import tinydyn as td
from tinydyn.dynamic.skimming.common import LSTMClassifier, compare, lstm_predictor


def test_lstm_predictor_gives_the_model_logits_at_batch_1():
    model = LSTMClassifier(50, 3, embed_dim=8, hidden_size=16, rng=np.random.default_rng(0))
    predict = lstm_predictor(model)
    for length in (1, 7, 40):
        tokens = np.random.default_rng(length).integers(1, 50, size=length)
        with td.no_grad():
            expected = model(td.tensor(tokens[None]))[0].data
        np.testing.assert_allclose(predict(tokens), expected, rtol=1e-5, atol=1e-6)


def test_compare_ratios_against_the_baseline():
    out = compare({"accuracy": 0.9, "time_b1": 1.0, "time_batched": 0.5},
                  {"accuracy": 0.92, "time_b1": 3.0, "time_batched": 2.0},
                  method_flops=25.0, base_flops=100.0)
    assert out["flop_speedup"] == 4.0 and out["speedup"] == 3.0
    assert out["realisation"] == pytest.approx(0.75)
    assert out["flops_fraction"] == 0.25
    assert out["accuracy_gap"] == pytest.approx(0.02)
    assert out["speedup_batched"] == 4.0 and out["realisation_batched"] == 1.0


def test_token_batch_rejects_ids_outside_the_vocabulary():
    from tinydyn.dynamic.skimming.common import token_batch

    with pytest.raises(ValueError, match=r"f: token ids must be in \[0, 5\) \(the vocabulary\), "
                                         r"got values in \[-1, 3\]"):
        token_batch("f", np.array([[1, -1, 3]]), np.array([3]), 5)
    with pytest.raises(ValueError, match=r"f: lengths must be in \[0, T=3\], got values in "
                                         r"\[4, 4\]"):
        token_batch("f", np.array([[1, 2, 3]]), np.array([4]), 5)
    with pytest.raises(TypeError, match=r"f: tokens must be a \(B, T\) integer array"):
        token_batch("f", np.array([[1.0, 2.0]]), np.array([2]), 5)


@pytest.mark.parametrize("name", ["SkimRNNClassifier", "VCRNNClassifier"])
def test_hard_inference_names_itself_when_a_token_is_out_of_range(name):
    import tinydyn.dynamic.skimming as skimming

    model = getattr(skimming, name)(6, 2, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=rf"{name}.infer: token ids must be in \[0, 6\)"):
        model.infer(np.array([[1, 6]]), np.array([2]))
