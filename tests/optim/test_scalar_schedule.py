"""ScalarSchedule: linear, exponential, constant and exp_decay values; counter; checkpoints."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinydyn.optim import ScalarSchedule, exp_decay

FAST = settings(derandomize=True, deadline=None, max_examples=25)


@pytest.mark.parametrize("step, expected", [(0, 1.0), (1, 0.75), (2, 0.5), (4, 0.0), (9, 0.0)])
def test_linear_values_and_clamping(step, expected):
    assert ScalarSchedule(1.0, 0.0, steps=4)(step) == pytest.approx(expected)


@pytest.mark.parametrize("step, expected", [(0, 8.0), (1, 4.0), (2, 2.0), (3, 1.0), (100, 1.0)])
def test_exponential_halves_at_equal_ratios(step, expected):
    assert ScalarSchedule(8.0, 1.0, steps=3, kind="exponential")(step) == pytest.approx(expected)


def test_exponential_can_grow():
    sched = ScalarSchedule(0.01, 1.0, steps=2, kind="exponential")
    assert sched(1) == pytest.approx(0.1)


@FAST
@given(start=st.floats(0.01, 10.0), end=st.floats(0.01, 10.0), steps=st.integers(1, 50),
       step=st.integers(0, 60))
def test_exponential_is_linear_in_log_space(start, end, steps, step):
    exp_value = ScalarSchedule(start, end, steps, kind="exponential")(step)
    log_linear = ScalarSchedule(math.log(start), math.log(end), steps)(step)
    assert math.log(exp_value) == pytest.approx(log_linear, abs=1e-9)


def test_zero_steps_jumps_to_end():
    assert ScalarSchedule(1.0, 0.2, steps=0)(0) == 0.2


def test_constant_ignores_the_step():
    sched = ScalarSchedule(0.3, kind="constant")
    assert [sched(t) for t in (0, 5, 10**6)] == [0.3, 0.3, 0.3]


def test_exp_decay_follows_skim_rnn_temperature():
    tau = exp_decay(1.0, rate=1e-4, floor=0.5)
    assert tau(0) == 1.0
    assert tau(1000) == pytest.approx(math.exp(-0.1))
    assert tau(10_000) == 0.5  # exp(-1) = 0.37 is below the floor


def test_exp_decay_classmethod_equals_function():
    a = ScalarSchedule.exp_decay(2.0, 0.01, 0.1)
    b = exp_decay(2.0, 0.01, 0.1)
    assert [a(t) for t in range(0, 500, 50)] == [b(t) for t in range(0, 500, 50)]


def test_counter_steps_and_reports_value():
    sched = ScalarSchedule(1.0, 0.0, steps=4)
    assert sched.value == 1.0
    assert [sched.step() for _ in range(5)] == [0.75, 0.5, 0.25, 0.0, 0.0]
    assert sched.last_step == 5


def test_accepts_numpy_integer_steps():
    assert ScalarSchedule(1.0, 0.0, steps=4)(np.int64(2)) == pytest.approx(0.5)


@pytest.mark.parametrize("sched", [
    ScalarSchedule(2.0, 0.5, 10, kind="exponential"),
    ScalarSchedule(0.1, kind="constant"),
    exp_decay(1.0, 1e-3, 0.2),
])
def test_state_dict_round_trip(sched):
    for _ in range(3):
        sched.step()
    other = ScalarSchedule(9.0, 9.0, 1)
    other.load_state_dict(sched.state_dict())
    assert other.last_step == 3 and other.kind == sched.kind
    assert [other(t) for t in range(0, 20, 4)] == [sched(t) for t in range(0, 20, 4)]


def test_state_dict_leaves_out_unused_parameters():
    assert ScalarSchedule(0.1, kind="constant").state_dict() == {
        "kind": "constant", "start": 0.1, "last_step": 0}


def test_load_state_dict_rejects_an_invalid_state():
    state = ScalarSchedule(2.0, 0.5, 10, kind="exponential").state_dict()
    state["end"] = -1.0
    sched = ScalarSchedule(1.0, 0.0, 4)
    with pytest.raises(ValueError, match="start and end must be > 0"):
        sched.load_state_dict(state)
    assert sched.kind == "linear" and sched.end == 0.0


def test_exponential_rejects_non_positive_values():
    with pytest.raises(ValueError, match="ScalarSchedule: kind='exponential' interpolates "
                                         "geometrically, so start and end must be > 0, got "
                                         "start=1.0, end=0.0"):
        ScalarSchedule(1.0, 0.0, 10, kind="exponential")


def test_rejects_unknown_kind():
    with pytest.raises(ValueError, match="ScalarSchedule: kind must be one of .*, got 'cosine'"):
        ScalarSchedule(1.0, 0.0, 10, kind="cosine")


def test_linear_needs_end_and_steps():
    with pytest.raises(ValueError, match="ScalarSchedule: kind='linear' needs end and steps, got "
                                         "end=0.0, steps=None"):
        ScalarSchedule(1.0, 0.0)


def test_rejects_negative_step():
    with pytest.raises(ValueError, match="ScalarSchedule: step must be >= 0, got -1"):
        ScalarSchedule(1.0, 0.0, 4)(-1)


def test_rejects_float_step():
    with pytest.raises(TypeError, match="ScalarSchedule: step must be an int, got float 1.5"):
        ScalarSchedule(1.0, 0.0, 4)(1.5)


def test_exp_decay_rejects_negative_rate():
    with pytest.raises(ValueError, match="ScalarSchedule: rate must be >= 0, got -0.1"):
        exp_decay(1.0, -0.1)


def test_rate_is_only_for_exp_decay():
    with pytest.raises(ValueError, match="ScalarSchedule: rate and floor apply to "
                                         "kind='exp_decay' only, got kind='linear'"):
        ScalarSchedule(1.0, 0.0, 4, rate=0.1)
