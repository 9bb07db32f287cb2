"""`tinydyn bench all`: collecting every suite's rows into one table (the suites themselves are
tested in their own files; here they are stood in for by small modules)."""

import json
import sys
import types

import pytest

from tinydyn.bench import EXPERIMENTS
from tinydyn.bench import all as bench_all
from tinydyn.bench.rows import make_row


@pytest.fixture
def fake_suites(monkeypatch):
    """Two stand-in suites: 'good' turns its JSON into rows, 'norows' has no table_rows."""
    good = types.ModuleType("fake_good")
    good.table_rows = lambda result: [
        make_row(family="fam", method="base", task="t", accuracy=result["base"], flops=100.0,
                 baseline=True),
        make_row(family="fam", method="fast", task="t", accuracy=result["fast"], flops=40.0,
                 accuracy_std=0.01)]
    monkeypatch.setitem(sys.modules, "fake_good", good)
    monkeypatch.setitem(sys.modules, "fake_norows", types.ModuleType("fake_norows"))
    monkeypatch.setitem(EXPERIMENTS, "good", "fake_good")
    monkeypatch.setitem(EXPERIMENTS, "norows", "fake_norows")
    return ["good", "norows"]


def test_method_suites_leave_out_all_itself():
    suites = bench_all.method_suites()
    assert "all" not in suites and "skimming" in suites


def test_collect_reads_rows_and_says_why_a_suite_gave_none(tmp_path, fake_suites):
    (tmp_path / "good.json").write_text(json.dumps({"base": 0.9, "fast": 0.85}))
    (tmp_path / "norows.json").write_text("{}")
    rows, status = bench_all.collect(tmp_path, [*fake_suites, "skimming"])
    assert [r["method"] for r in rows] == ["base", "fast"]
    assert status["good"] == "ok"
    assert "has no table_rows" in status["norows"]
    assert status["skimming"].startswith("no skimming.json")


def test_collect_reports_rows_that_break_the_format(tmp_path, fake_suites):
    (tmp_path / "good.json").write_text(json.dumps({"base": float("nan"), "fast": 0.8}))
    _, status = bench_all.collect(tmp_path, ["good"])
    assert status["good"].startswith("unreadable good.json: ValueError")


def test_from_results_writes_the_table_and_a_plot_per_family(tmp_path, fake_suites):
    (tmp_path / "good.json").write_text(json.dumps({"base": 0.9, "fast": 0.85}))
    result = bench_all.run_all(tmp_path, suites=["good"], from_results=True, log=lambda *a: None)
    table = (tmp_path / "all.md").read_text()
    assert "| fam | t | **base** | - | 90.0 |" in table
    assert "| fam | t | fast | - | 85.0 ± 1.0 | 40 |" in table
    assert json.loads((tmp_path / "all.json").read_text())["status"] == {"good": "ok"}
    assert [p.endswith("all_fam.png") for p in result["plots"]] == [True]
