"""The printed table and the Gradescope-compatible JSON."""

import json

import pytest

from tinydyn.grading.gradescope import validate
from tinydyn.grading.report import (
    ExerciseResult,
    Results,
    TestResult,
    format_results,
    to_gradescope,
    trim,
    write_json,
)


@pytest.fixture
def results():
    ex = ExerciseResult("01_autograd", tests=[
        TestResult("01_autograd", "test_a.py::test_softmax", "passed", 2.0, 2.0),
        TestResult("01_autograd", "test_a.py::test_layer_norm", "failed", 0.0, 3.0,
                   "grad: 1 of 4 values differ"),
        TestResult("01_autograd", "test_a.py::test_order", "not_attempted", 0.0, 1.0,
                   "exercise 01 (autograd): implement topo_order — see lesson 01"),
    ])
    hung = ExerciseResult("02_kernels", timed_out=True, tests=[
        TestResult("02_kernels", "test_b.py::test_kernel", "timeout", 0.0, 4.0, "timed out")])
    return Results([ex, hung], seed=3, timeout=5.0)


def test_table_lists_each_test_with_status_and_points(results):
    text = format_results(results)
    assert "exercise 01_autograd" in text
    assert "test_a.py::test_layer_norm  failed         0 / 3" in text
    assert "test_a.py::test_order       not attempted  0 / 1" in text
    assert "exercise 02_kernels  (killed at the time limit)" in text
    assert "TOTAL 2 / 10 points" in text


def test_failure_messages_follow_the_tables(results):
    text = format_results(results)
    assert text.index("--- 01_autograd :: test_a.py::test_layer_norm (failed)") > \
        text.index("TOTAL")
    assert "grad: 1 of 4 values differ" in text
    assert "--- 01_autograd: not attempted: exercise 01 (autograd): implement topo_order" in text


def test_header_says_what_was_graded_against_what(results):
    assert format_results(results).startswith(
        "tinydyn grade — student code, references recomputed at seed 3")


def test_gradescope_json_has_score_max_score_and_tests(results):
    data = to_gradescope(results)
    assert (data["score"], data["max_score"]) == (2.0, 10.0)
    first, second = data["tests"][:2]
    assert first == {**first, "name": "01_autograd::test_a.py::test_softmax", "score": 2.0,
                     "max_score": 2.0, "status": "passed"}
    assert second["status"] == "failed" and second["extra_data"]["outcome"] == "failed"
    assert second["output"] == "grad: 1 of 4 values differ"
    assert data["tests"][3]["extra_data"]["outcome"] == "timeout"
    assert data["tests"][3]["status"] == "failed"


def test_gradescope_json_follows_the_specification(results):
    assert validate(to_gradescope(results, output="graded at seed 3")) == []


def test_gradescope_json_records_seed_platform_versions_and_jit(results, monkeypatch):
    monkeypatch.setenv("NUMBA_DISABLE_JIT", "1")
    data = to_gradescope(results)["extra_data"]
    assert data["seed"] == 3 and data["platform"]
    assert set(data["versions"]) == {"python", "numpy", "numba", "tinydyn"}
    assert data["jit"] is False
    monkeypatch.setenv("NUMBA_DISABLE_JIT", "0")
    assert to_gradescope(results)["extra_data"]["jit"] is True


def test_write_json_writes_a_complete_file(results, tmp_path):
    path = write_json(results, tmp_path / "out" / "results.json")
    assert json.loads(path.read_text())["max_score"] == 10.0
    assert not list(tmp_path.rglob("*.tmp"))


def test_trim_keeps_the_tail_of_long_output():
    text = "\n".join(f"line {i}" for i in range(500))
    kept = trim(text, max_lines=3, keep="tail")
    assert kept.splitlines() == ["... (497 earlier lines)", "line 497", "line 498", "line 499"]
