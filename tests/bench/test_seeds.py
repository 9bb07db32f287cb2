"""The seeds loop every experiment suite shares: run, match rows, aggregate, format."""

import numpy as np
import pytest

from tinydyn.bench.seeds import (
    aggregate_rows,
    error_bars,
    failure_rate,
    format_spread,
    run_seeds,
    spread,
)


def _rows(seed):
    return [{"method": "A", "value": 0.5, "accuracy": 0.9 + 0.01 * seed, "time": None},
            {"method": "A", "value": 1.0, "accuracy": 0.5 + seed, "time": 2.0 * seed}]


def test_run_seeds_calls_the_experiment_once_per_seed_in_order():
    calls = []
    runs = run_seeds(lambda s: calls.append(s) or [s], seeds=(2, 0, 5))
    assert calls == [2, 0, 5] and runs == {2: [2], 0: [0], 5: [5]}


@pytest.mark.parametrize("seeds", [(), (0, 0), (-1,), (1.5,)])
def test_run_seeds_rejects_bad_seed_lists(seeds):
    with pytest.raises((ValueError, TypeError), match="run_seeds.*seeds"):
        run_seeds(lambda s: [], seeds)


def test_spread_gives_mean_sample_std_range_and_values():
    s = spread([1.0, 2.0, 6.0])
    assert s["mean"] == 3.0 and s["min"] == 1.0 and s["max"] == 6.0
    np.testing.assert_allclose(s["std"], np.std([1, 2, 6], ddof=1))
    assert s["values"] == [1.0, 2.0, 6.0]


def test_spread_of_one_value_has_zero_std():
    assert spread([4.0])["std"] == 0.0


def test_aggregate_matches_rows_by_key_and_averages_numbers():
    rows = aggregate_rows(run_seeds(_rows, (0, 1, 2)))
    assert [(r["method"], r["value"]) for r in rows] == [("A", 0.5), ("A", 1.0)]
    np.testing.assert_allclose(rows[0]["accuracy"]["values"], [0.90, 0.91, 0.92])
    np.testing.assert_allclose(rows[1]["accuracy"]["mean"], 1.5)
    assert rows[0]["seeds"] == [0, 1, 2]


def test_aggregate_keeps_a_field_that_is_none_on_every_seed_as_none():
    rows = aggregate_rows(run_seeds(_rows, (0, 1)))
    assert rows[0]["time"] is None and rows[1]["time"]["values"] == [0.0, 2.0]


def test_aggregate_rejects_a_seed_with_different_rows():
    runs = {0: _rows(0), 1: _rows(1)[:1]}
    with pytest.raises(ValueError, match="aggregate_rows.*same rows on every seed"):
        aggregate_rows(runs)


def test_aggregate_rejects_text_fields_that_differ_between_seeds():
    runs = {0: [{"method": "A", "value": 1, "status": "ok"}],
            1: [{"method": "A", "value": 1, "status": "failed"}]}
    with pytest.raises(ValueError, match="aggregate_rows.*'status'.*differs"):
        aggregate_rows(runs)


def test_aggregate_keeps_list_fields_per_seed():
    runs = {0: [{"method": "A", "value": 1, "curve": [1, 2]}],
            1: [{"method": "A", "value": 1, "curve": [3]}]}
    assert aggregate_rows(runs)[0]["curve_per_seed"] == [[1, 2], [3]]


def test_failure_rate_counts_seeds_at_or_below_the_threshold():
    assert failure_rate(spread([0.5, 0.55, 0.95]), 0.55) == {"failed": 2, "of": 3,
                                                             "rate": 2 / 3}


def test_format_spread_mean_and_std_or_range():
    s = spread([0.94, 0.96])
    assert format_spread(s, scale=100) == "95.0 ± 1.4"
    assert format_spread(s, scale=100, style="range") == "95.0 (94.0–96.0)"
    assert format_spread(0.5, scale=100) == "50.0" and format_spread(None) == "-"


def test_format_spread_of_one_seed_shows_no_spread():
    assert format_spread(spread([0.5]), scale=100) == "50.0"


def test_error_bars_span_from_min_to_max():
    means, yerr = error_bars([spread([1.0, 3.0]), spread([2.0, 2.0, 5.0])])
    np.testing.assert_allclose(means, [2.0, 3.0])
    np.testing.assert_allclose(yerr, [[1.0, 1.0], [1.0, 2.0]])
