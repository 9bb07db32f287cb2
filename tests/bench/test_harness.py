import json

from tinydyn.bench.harness import Row, Skip, Workload, format_table, run_workloads, write_results
from tinydyn.measure.timing import Timing


def _t(seconds):
    return Timing(seconds, seconds, seconds, 1, 1)


def test_ratio_is_tinydyn_over_baseline_and_verdict_uses_target():
    row = Row("w", "torch", _t(1.0), _t(4.0), target=1.0)
    assert row.ratio == 0.25 and row.verdict == "met"
    slow = Row("w", "torch", _t(3.0), _t(1.0), target=1.5)
    assert slow.verdict == "MISSED"


def test_run_workloads_reports_skips_with_their_reason():
    def setup():
        raise Skip("no torch here")

    rows = run_workloads([Workload("needs torch", setup)], repeats=1, log=lambda *a: None)
    assert rows[0].skipped == "no torch here" and rows[0].verdict == "skipped"


def test_run_workloads_times_every_baseline():
    w = Workload("noop", lambda: {"tinydyn": lambda: None, "a": lambda: None, "b": lambda: None},
                 {"a": 10.0})
    rows = run_workloads([w], repeats=2, log=lambda *a: None)
    assert [r.baseline for r in rows] == ["a", "b"]
    assert rows[0].target == 10.0 and rows[1].target is None


def test_write_results_writes_markdown_and_json(tmp_path):
    rows = [Row("w", "torch", _t(1e-3), _t(2e-3), target=1.0)]
    md, js = write_results(rows, tmp_path, "engine")
    assert "| w | 1 ms" in md.read_text()
    record = json.loads(js.read_text())["rows"][0]
    assert record["ratio"] == 0.5 and record["verdict"] == "met"


def test_format_table_has_one_line_per_row_plus_header():
    rows = [Row("w", "x", _t(1.0), _t(1.0), None), Row("v", "-", None, None, None, "why")]
    assert len(format_table(rows).splitlines()) == 4


def test_format_table_says_once_what_each_target_stands_for():
    rows = [Row("w", "a", _t(1.0), _t(1.0), 1.0, note="no slower than PyTorch"),
            Row("w", "b", _t(1.0), _t(1.0), 1.0, note="no slower than PyTorch")]
    lines = format_table(rows).splitlines()
    assert lines[-2:] == ["Targets:", "- w: no slower than PyTorch"]


def test_run_workloads_passes_the_workload_note_to_its_rows():
    w = Workload("noop", lambda: {"tinydyn": lambda: None, "a": lambda: None}, {"a": 1.0},
                 note="as fast as a")
    rows = run_workloads([w], repeats=1, log=lambda *a: None)
    assert rows[0].note == "as fast as a"


def test_bench_engine_names_targets_without_issue_numbers():
    from tinydyn.bench import engine, models

    for w in engine.workloads() + models.workloads():
        assert w.note and "issue" not in w.note.lower()
    assert "issue" not in (engine.__doc__ + models.__doc__).lower()
