"""The shared row format of `tinydyn bench all`."""

import json
from pathlib import Path

import pytest

from tinydyn.bench.rows import ROW_KEYS, check_rows, make_row, realisation
from tinydyn.bench.skimming_report import table_rows

RESULTS = Path(__file__).resolve().parents[2] / "bench-results"


def _rows():
    return [make_row(family="f", method="base", task="t", accuracy=0.9, baseline=True),
            make_row(family="f", method="m", task="t", accuracy=0.8, flops=10.0)]


def test_make_row_fills_every_key_with_none():
    row = make_row(family="f", method="m", task="t")
    assert tuple(row) == ROW_KEYS
    assert row["flops"] is None and row["baseline"] is False


def test_make_row_rejects_an_unknown_key():
    with pytest.raises(ValueError, match="make_row: unknown keys \\['speed'\\]"):
        make_row(family="f", method="m", task="t", speed=2.0)


def test_realisation_is_speedup_over_flop_speedup_or_none():
    assert realisation(1.5, 3.0) == 0.5
    assert realisation(None, 3.0) is None and realisation(1.5, 0.0) is None


def test_check_rows_accepts_one_baseline_per_task():
    assert check_rows(_rows(), "x") == _rows()


def test_check_rows_names_the_suite_and_the_missing_keys():
    rows = _rows()
    del rows[1]["params"]
    with pytest.raises(ValueError, match="check_rows: x row 1 must have exactly the keys"):
        check_rows(rows, "x")


def test_check_rows_refuses_a_task_without_baseline():
    rows = _rows()
    rows[0]["baseline"] = False
    with pytest.raises(ValueError, match="task 't' has 0 baseline rows"):
        check_rows(rows, "x")


def test_check_rows_refuses_a_nan():
    rows = _rows()
    rows[1]["accuracy"] = float("nan")
    with pytest.raises(ValueError, match="'accuracy' is nan"):
        check_rows(rows, "x")


def test_skimming_rows_from_the_published_results():
    result = json.loads((RESULTS / "skimming.json").read_text())
    rows = check_rows(table_rows(result), "skimming")
    base = [r for r in rows if r["baseline"]]
    assert [r["method"] for r in base] == ["LSTM"]
    n_method_rows = sum(len(m["rows"]) for m in result["methods"].values())
    assert len(rows) == 1 + n_method_rows
    vcrnn = next(r for r in rows if r["method"] == "VCRNN")
    first = result["methods"]["VCRNN"]["rows"][0]
    assert vcrnn["accuracy"] == first["accuracy"]["mean"]
    assert vcrnn["knob"] == f"target_ratio = {first['value']:g}"
    assert vcrnn["n_seeds"] == len(result["seeds"])
