import pytest

from tinydyn.measure.timing import Timing, format_seconds, time_fn, time_fns


def test_time_fn_reports_median_between_quartiles():
    t = time_fn(lambda: sum(range(100)), repeats=5, warmup=1)
    assert t.q25 <= t.median <= t.q75
    assert t.repeats == 5 and t.number >= 1


def test_time_fn_grows_the_inner_loop_for_fast_functions():
    t = time_fn(lambda: None, repeats=3, min_sample_s=1e-3)
    assert t.number > 1


def test_time_fn_calls_warmup_before_sampling():
    calls = []
    time_fn(lambda: calls.append(1), repeats=2, warmup=3, min_sample_s=0.0)
    assert len(calls) >= 3 + 2


def test_time_fn_rejects_non_callable():
    with pytest.raises(TypeError, match="time_fn: fn must be callable, got int"):
        time_fn(3)


def test_time_fn_rejects_zero_repeats():
    with pytest.raises(ValueError, match="time_fn: repeats must be >= 1, got 0"):
        time_fn(lambda: None, repeats=0)


@pytest.mark.parametrize("seconds, text", [
    (31.2e-6, "31.2 µs"), (0.0164, "16.4 ms"), (1.2, "1.2 s"), (250e-9, "250 ns"),
])
def test_format_seconds_picks_a_readable_unit(seconds, text):
    assert format_seconds(seconds) == text


def test_timing_spread_is_relative_interquartile_range():
    t = Timing(median=2.0, q25=1.9, q75=2.1, repeats=5, number=1)
    assert t.spread == pytest.approx(0.1)


class FakeMachine:
    """A clock and candidates whose cost is known: each call advances the clock by its cost,
    plus ``penalty`` when the previous call was another candidate's (threads it left
    spinning, a cold cache). A fair harness reports each candidate's own cost."""

    def __init__(self, penalty: float):
        self.now, self.last, self.penalty, self.calls = 0.0, None, penalty, []

    def clock(self) -> float:
        return self.now

    def candidate(self, name: str, cost: float):
        def call():
            self.now += cost + (self.penalty if self.last not in (None, name) else 0.0)
            self.last = name
            self.calls.append(name)
        return call


def test_time_fns_runs_candidates_in_alternating_warm_blocks():
    m = FakeMachine(penalty=0.0)
    time_fns({"a": m.candidate("a", 1.0), "b": m.candidate("b", 1.0)}, repeats=4, block=2,
             warmup=0, min_sample_s=0.0, clock=m.clock)
    probes, rounds = m.calls[:2], m.calls[2:]
    assert probes == ["a", "b"]  # one loop-size probe each
    # round 1: a's warm-up + 2 samples, then b's; round 2 in reverse order
    assert rounds == ["a"] * 3 + ["b"] * 3 + ["b"] * 3 + ["a"] * 3


def test_time_fns_is_not_fooled_by_what_the_other_candidate_leaves_behind():
    m = FakeMachine(penalty=5.0)
    timings = time_fns({"a": m.candidate("a", 1.0), "b": m.candidate("b", 3.0)}, repeats=9,
                       block=3, warmup=1, min_sample_s=0.0, clock=m.clock)
    assert timings["a"].median == pytest.approx(1.0)
    assert timings["b"].median == pytest.approx(3.0)


def test_time_fns_times_a_candidate_the_same_alone_and_beside_another():
    alone = FakeMachine(penalty=5.0)
    t_alone = time_fns({"a": alone.candidate("a", 2.0)}, repeats=6, block=3, min_sample_s=0.0,
                       clock=alone.clock)["a"]
    pair = FakeMachine(penalty=5.0)
    t_pair = time_fns({"a": pair.candidate("a", 2.0), "b": pair.candidate("b", 7.0)},
                      repeats=6, block=3, min_sample_s=0.0, clock=pair.clock)["a"]
    assert t_pair.median == pytest.approx(t_alone.median)
    assert t_pair.q75 == pytest.approx(t_alone.q75)


def test_time_fns_gives_one_function_under_two_names_the_same_time():
    # a real clock: the same work timed as "a" and "b" must come out within 10%. The work is
    # single-threaded Python, so another process on the machine slows both blocks alike.
    def work():
        return sum(range(20_000))

    # A heavily loaded machine can still skew one measurement, so three attempts are allowed;
    # a harness biased by order or position would miss on every one.
    ratios = []
    for _ in range(3):
        t = time_fns({"a": work, "b": work}, repeats=30, block=3)
        ratios.append(t["a"].median / t["b"].median)
        if 1 / 1.1 < ratios[-1] < 1.1:
            break
    assert 1 / 1.1 < ratios[-1] < 1.1, ratios


def test_time_fns_rejects_an_empty_block():
    with pytest.raises(ValueError, match="time_fns: block must be >= 1, got 0"):
        time_fns({"a": lambda: None}, block=0)


def test_time_fns_names_a_candidate_that_is_not_callable():
    with pytest.raises(TypeError, match=r"time_fns: fns\['b'\] must be callable, got int"):
        time_fns({"a": lambda: None, "b": 3})


def test_timing_from_samples_takes_median_and_quartiles():
    from tinydyn.measure.timing import Timing

    timing = Timing.from_samples([4.0, 1.0, 3.0, 2.0, 5.0], number=10)
    assert (timing.median, timing.q25, timing.q75) == (3.0, 2.0, 4.0)
    assert timing.repeats == 5 and timing.number == 10
    assert timing.samples == (4.0, 1.0, 3.0, 2.0, 5.0)
