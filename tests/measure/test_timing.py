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


def test_time_fns_samples_candidates_in_turn():
    calls = []
    timings = time_fns({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                       repeats=3, warmup=0, min_sample_s=0.0)
    assert set(timings) == {"a", "b"}
    assert all(t.repeats == 3 and t.number == 1 for t in timings.values())
    # first the loop-size probes (one call each), then a, b alternating sample by sample
    assert calls == ["a", "b", "a", "b", "a", "b", "a", "b"]


def test_time_fns_names_a_candidate_that_is_not_callable():
    with pytest.raises(TypeError, match=r"time_fns: fns\['b'\] must be callable, got int"):
        time_fns({"a": lambda: None, "b": 3})
