"""The lesson helpers: pinned threads, guarded claims, generated sentences, tables, curves."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from tinydyn.course.notebook import (
    claim,
    pin_threads,
    plot_bars,
    plot_curve,
    say,
    show_table,
    time_table,
)
from tinydyn.measure import Timing


def test_claim_prints_and_returns_a_sentence_that_holds(capsys):
    text = claim(2.0 < 3.0, "the kernel is {ratio:.1f}x faster", ratio=1.5)
    assert text == "the kernel is 1.5x faster"
    assert capsys.readouterr().out == "the kernel is 1.5x faster\n"


def test_claim_contradicted_raises_with_the_sentence_and_prints_nothing(capsys):
    with pytest.raises(AssertionError, match=r"claim contradicted by this run: "
                                             r"the twin is faster than np\.add\.at"):
        claim(9.2 < 3.1, "the twin is faster than np.add.at")
    assert capsys.readouterr().out == ""


def test_claim_accepts_a_numpy_bool():
    assert claim(np.float64(1.0) < np.float64(2.0), "ok") == "ok"


def test_claim_rejects_a_condition_that_is_not_a_bool():
    with pytest.raises(TypeError, match=r"claim: condition must be a bool .* got ndarray"):
        claim(np.array([True, False]), "all rows agree")


def test_claim_names_a_missing_value():
    with pytest.raises(ValueError, match=r"claim: cannot format .*ratio"):
        claim(True, "{ratio}")


def test_say_formats_prints_and_returns(capsys):
    assert say("{n} of {total} read", n=3, total=40) == "3 of 40 read"
    assert capsys.readouterr().out == "3 of 40 read\n"


def test_say_rejects_a_template_that_is_not_a_str():
    with pytest.raises(TypeError, match=r"say: template must be a str, got int"):
        say(3)


def test_show_table_aligns_text_columns_left_and_number_columns_right():
    text = show_table([["lstm", 0.9571, 12_000], ["skim", 0.93, 800]], ["model", "acc", "flops"])
    assert text.splitlines() == ["model     acc   flops",
                                 "-----  ------  ------",
                                 "lstm   0.9571  12,000",
                                 "skim     0.93     800"]


def test_show_table_aligns_as_asked():
    text = show_table([["a", "1 ms"], ["bb", "10 ms"]], ["x", "t"], align="lr")
    assert text.splitlines()[2:] == ["a    1 ms", "bb  10 ms"]


def test_show_table_rejects_a_malformed_align():
    with pytest.raises(ValueError, match=r"show_table: align must be one letter"):
        show_table([["a", "b"]], ["x", "y"], align="lc")


def test_show_table_names_a_row_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"show_table: row 1 has 1 cells, expected 2"):
        show_table([[1, 2], [3]], ["a", "b"])


def _fake_clock_candidates(costs):
    """Candidates whose each call advances a fake clock by its cost in seconds."""
    now = [0.0]

    def make(cost):
        def fn():
            now[0] += cost
        return fn

    return {name: make(cost) for name, cost in costs.items()}, (lambda: now[0])


def test_time_table_reports_speed_up_over_the_reference(capsys):
    fns, clock = _fake_clock_candidates({"slow": 4e-3, "fast": 1e-3})
    timings = time_table(fns, reference="slow", repeats=4, block=2, clock=clock)
    assert set(timings) == {"slow", "fast"} and isinstance(timings["fast"], Timing)
    assert timings["slow"].median == pytest.approx(4e-3)
    rows = capsys.readouterr().out.splitlines()
    assert "speed-up over slow" in rows[0]
    assert rows[2].split()[:3] == ["slow", "4", "ms"] and rows[2].endswith("1.00x")
    assert rows[3].split()[:3] == ["fast", "1", "ms"] and rows[3].endswith("4.00x")


def test_time_table_defaults_the_reference_to_the_first_candidate(capsys):
    fns, clock = _fake_clock_candidates({"a": 1e-3, "b": 2e-3})
    time_table(fns, repeats=2, block=1, clock=clock)
    assert "speed-up over a" in capsys.readouterr().out


def test_time_table_rejects_an_unknown_reference():
    with pytest.raises(ValueError, match=r"time_table: reference 'c' is not a candidate"):
        time_table({"a": lambda: None}, reference="c")


def test_pin_threads_limits_numba_and_blas_and_says_so(capsys):
    from threadpoolctl import threadpool_info, threadpool_limits

    before = numba.get_num_threads()
    with threadpool_limits():  # restores the BLAS limits on exit
        try:
            pin_threads(1)
            blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
            assert numba.get_num_threads() == 1
            assert all(n == 1 for n in blas)
        finally:
            numba.set_num_threads(before)
    assert capsys.readouterr().out.startswith("threads pinned: BLAS (")


def test_pin_threads_rejects_more_threads_than_numba_has():
    with pytest.raises(ValueError, match=r"pin_threads: n must be <= \d+"):
        pin_threads(numba.config.NUMBA_NUM_THREADS + 1)


def test_plot_curve_draws_one_labelled_line_per_curve():
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = plot_curve({"train": [3.0, 2.0, 1.5], "valid": ([1, 3], [2.5, 1.8])}, ylabel="loss")
    try:
        assert [line.get_label() for line in ax.get_lines()] == ["train", "valid"]
        assert list(ax.get_lines()[1].get_xdata()) == [1, 3]
        assert ax.get_legend() is not None and ax.get_ylabel() == "loss"
    finally:
        plt.close(ax.figure)


def test_plot_curve_names_a_curve_with_mismatched_x_and_y():
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match=r"plot_curve: curve 'a' must be"):
        plot_curve({"a": ([1, 2, 3], [1.0, 2.0])})


def test_plot_bars_draws_one_labelled_bar_per_value_in_order():
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = plot_bars({"numba": 30.0, "twin": 1.5}, log_x=True, fmt="{:.1f}x", line_at=1)
    try:
        assert [p.get_width() for p in ax.patches] == [30.0, 1.5]
        assert [t.get_text() for t in ax.texts] == [" 30.0x", " 1.5x"]
        assert [t.get_text() for t in ax.get_yticklabels()] == ["numba", "twin"]
        assert ax.get_xscale() == "log" and len(ax.get_lines()) == 1
    finally:
        plt.close(ax.figure)


def test_plot_bars_rejects_a_non_positive_value_on_a_log_axis():
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match=r"plot_bars: log_x needs positive values"):
        plot_bars({"a": 0.0}, log_x=True)
