"""time_paired: a method's paths and the LSTM's timed together (no wall-clock asserts)."""

import numpy as np
import pytest

from tinydyn.dynamic.skimming.common import LSTMClassifier
from tinydyn.dynamic.skimming.timing import batch1_runner, time_paired


@pytest.fixture(scope="module")
def lstm():
    return LSTMClassifier(20, 2, 4, 8, rng=np.random.default_rng(0))


SEQUENCES = [np.arange(1, 6), np.arange(2, 12)]


def test_batch1_runner_calls_predict_once_per_sequence():
    seen = []
    batch1_runner(seen.append, SEQUENCES)()
    assert [len(s) for s in seen] == [5, 10]


def test_every_path_of_every_candidate_and_of_the_lstm_is_timed(lstm):
    calls = {"b1": 0, "batched": 0}

    def count(name):
        def fn():
            calls[name] += 1
        return fn

    out = time_paired(lstm, {"m": {"time_b1": count("b1"), "time_batched": count("batched")}},
                      SEQUENCES, repeats=3, block=1)
    assert set(out) == {"LSTM", "m"}
    assert set(out["LSTM"]) == {"time_b1", "time_batched"}
    assert set(out["m"]) == {"time_b1", "time_batched"}
    assert all(v > 0 for paths in out.values() for v in paths.values())
    # 3 samples in blocks of 1: each block starts with a warm-up call, so >= 6 calls each
    assert calls["b1"] >= 6 and calls["batched"] >= 6


def test_a_candidate_may_not_take_the_baselines_name(lstm):
    with pytest.raises(ValueError, match="time_paired.*'LSTM'"):
        time_paired(lstm, {"LSTM": {"time_b1": lambda: None}}, SEQUENCES)


def test_a_candidate_without_paths_is_rejected(lstm):
    with pytest.raises(TypeError, match=r"time_paired.*candidates\['m'\]"):
        time_paired(lstm, {"m": {}}, SEQUENCES)
