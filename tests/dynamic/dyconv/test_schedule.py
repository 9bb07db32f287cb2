"""The temperature schedule (P-B1.8) and the helpers that set it on a model."""

import numpy as np
import pytest

from tinydyn.dynamic.dyconv import DynamicConv2d, set_temperature, temperature_schedule
from tinydyn.nn.containers import Sequential


def test_schedule_starts_at_tau0_ends_at_one_and_is_linear_between():
    sched = temperature_schedule(100)
    assert sched(0) == 30.0
    assert sched(100) == 1.0 and sched(1000) == 1.0
    steps = np.arange(0, 101, 10)
    values = np.array([sched(int(s)) for s in steps])
    np.testing.assert_allclose(np.diff(values), -2.9, rtol=1e-12)


def test_schedule_matches_the_reference_code_formula():
    sched = temperature_schedule(37, start=30.0)
    for it in range(0, 60, 7):
        expected = 1 + max(0.0, (30.0 - 1) * (37 - it) / 37)
        assert sched(it) == pytest.approx(expected, rel=1e-12)


def test_schedule_refuses_a_non_positive_end():
    with pytest.raises(ValueError, match="temperature_schedule: end must be > 0"):
        temperature_schedule(10, end=0.0)


def test_set_temperature_reaches_every_dynamic_layer():
    model = Sequential(DynamicConv2d(1, 2, 3), DynamicConv2d(2, 2, 3))
    assert set_temperature(model, 7.5) == 2
    assert all(m.temperature == 7.5 for m in model)
