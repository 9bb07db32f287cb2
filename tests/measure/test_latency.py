"""The two-term latency model and measured speed-ups."""

import numpy as np
import pytest

import tinydyn as td
from tinydyn.measure.latency import LatencyModel, count_ops, fit_latency, measured_speedups


def test_fit_recovers_the_coefficients_of_exact_data():
    steps = np.array([10, 20, 40, 80, 10, 40.0])
    flops = np.array([1e5, 4e5, 1e6, 2e6, 3e6, 1e4])
    seconds = 2e-6 * steps + 1e-9 * flops
    model = fit_latency(steps, flops, seconds)
    assert model.per_step_s == pytest.approx(2e-6, rel=1e-9)
    assert model.per_flop_s == pytest.approx(1e-9, rel=1e-9)


def test_fit_minimises_relative_error():
    # a least-squares fit in seconds would follow the 0.9 ms point and miss the 1.1 µs one by
    # 18%; in relative error both are missed by about 10%
    steps, flops = np.array([1.0, 1000.0]), np.array([0.0, 0.0])
    seconds = np.array([1.1e-6, 0.9e-3])
    model = fit_latency(steps, flops, seconds)
    relative = np.abs(model.predict(steps, flops) / seconds - 1)
    assert relative.max() < 0.12


def test_fit_keeps_coefficients_non_negative():
    # time falls faster than the FLOPs as steps grow: an unconstrained fit gives the steps a
    # negative price; the constrained one sets it to 0 and lets the FLOPs explain alone
    steps = np.array([1.0, 2.0, 3.0])
    flops = np.array([3e6, 2e6, 1e6])
    model = fit_latency(steps, flops, 1e-9 * flops - np.array([0.0, 1e-6, 2e-6]))
    assert model.per_step_s == 0.0
    assert model.per_flop_s == pytest.approx(1e-9, rel=0.01)


def test_predicted_speedup_and_fixed_share():
    model = LatencyModel(per_step_s=1e-6, per_flop_s=1e-9)
    # baseline 100 steps + 1e6 FLOPs = 1.1 ms; method 100 steps + 1e5 FLOPs = 0.2 ms
    assert model.speedup(100, 1e6, 100, 1e5)[0] == pytest.approx(5.5)
    assert model.fixed_share(100, 1e5)[0] == pytest.approx(0.5)


def test_measured_speedups_use_medians():
    out = measured_speedups([3.0, 1.0, 2.0, 100.0, 2.0], [1.0, 0.5, 1.0], 1e6, 2.5e5)
    assert out == {"speedup": 2.0, "flop_speedup": 4.0, "realisation": 0.5}


@pytest.mark.parametrize("call, message", [
    (lambda: fit_latency([1.0], [1.0], [1.0]), "fit_latency: needs at least 2 measurements"),
    (lambda: fit_latency([1, 2], [1, 2, 3], [1, 1]), "fit_latency: flops must have 2 entries"),
    (lambda: fit_latency([1, 2], [1, 2], [1, 0]), "fit_latency: seconds must be positive"),
    (lambda: fit_latency([1, -2], [1, 2], [1, 1]), "fit_latency: steps must be non-negative"),
    (lambda: measured_speedups([1.0], [1.0], 0, 1), "measured_speedups: base_flops must be "
                                                    "a positive number"),
])
def test_bad_input_names_the_function_and_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_count_ops_counts_every_op_of_one_call():
    x = td.tensor(np.ones((2, 3)))
    assert count_ops(lambda: (x * 2 + 1).sum()) == 3
    assert count_ops(lambda: None) == 0
