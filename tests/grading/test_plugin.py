"""The plugin: comparison messages, the static test listing, pytest run directly on exercises."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tinydyn
from tinydyn.grading.layout import solution_module_name
from tinydyn.grading.report import Check
from tinydyn.grading.runner import StaticTest, list_tests


@pytest.fixture
def check():
    return Check("01_fake", "seed 7 (recomputed; rerun with --seed 7)")


def failure(fn, *args, **kwargs) -> str:
    with pytest.raises(AssertionError) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_allclose_passes_within_tolerance(check):
    check.allclose(np.array([1.0, 2.0 + 1e-9]), np.array([1.0, 2.0]), "out")


def test_allclose_message_has_first_index_values_tolerance_seed_and_shape(check):
    expected = np.zeros((2, 3))
    received = expected.copy()
    received[1, 2] = 0.5
    message = failure(check.allclose, received, expected, "out", rtol=1e-5, atol=1e-7)
    assert message.startswith("out: 1 of 6 values differ (rtol=1e-05, atol=1e-07)")
    assert "first differing index (1, 2): expected 0.0, received 0.5" in message
    assert "exercise 01_fake, seed 7" in message
    assert "expected shape (2, 3) float64, received shape (2, 3) float64" in message


def test_allclose_reports_the_largest_difference(check):
    message = failure(check.allclose, np.array([1.1, 5.0]), np.array([1.0, 1.0]), "y")
    assert "largest difference at (1,): expected 1.0, received 5.0 (|difference| 4.0)" in message


def test_allclose_reports_a_shape_mismatch_before_values(check):
    message = failure(check.allclose, np.zeros((3, 2)), np.zeros((2, 3)), "out")
    assert "out: shape mismatch: expected (2, 3), received (3, 2)" in message


def test_allclose_treats_nan_in_the_same_place_as_equal(check):
    check.allclose(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]), "out")


def test_allclose_flags_nan_where_a_number_was_expected(check):
    message = failure(check.allclose, np.array([np.nan]), np.array([1.0]), "out")
    assert "first differing index (0,): expected 1.0, received nan" in message


def test_none_is_reported_as_a_missing_return(check):
    message = failure(check.allclose, None, np.zeros(3), "grad")
    assert "grad: expected an array of shape (3,), received None" in message


def test_non_numeric_result_is_reported_with_its_type(check):
    message = failure(check.equal, "abc", np.zeros(()), "idx")
    assert "idx: expected a numeric array of shape (), received str" in message


def test_equal_is_exact_and_names_the_first_wrong_index(check):
    check.equal(np.array([2, 0, 1]), np.array([2, 0, 1]), "idx")
    message = failure(check.equal, np.array([2, 1, 1]), np.array([2, 0, 1]), "idx")
    assert "idx: 1 of 3 values differ (exact equality)" in message
    assert "first differing index (1,): expected 0, received 1" in message


def test_a_tinydyn_tensor_is_compared_by_its_data(check):
    check.allclose(tinydyn.tensor(np.ones(2)), np.ones(2), "out")


def test_solution_module_name_follows_the_folder_name():
    assert solution_module_name("01_autograd") == "tinydyn.grading.exercises.ex01_autograd"
    with pytest.raises(ValueError, match="exercise folder 'autograd' is not named NN_topic"):
        solution_module_name("autograd")


def test_list_tests_reads_points_and_parametrize_cases_from_source(tmp_path):
    (tmp_path / "test_x.py").write_text(
        "import pytest\n"
        "pytestmark = [pytest.mark.exercise('01')]\n"
        "@pytest.mark.points(2.5)\n"
        "def test_a(impl): pass\n"
        "@pytest.mark.points(1)\n"
        "@pytest.mark.parametrize('n', [1, 2, 3])\n"
        "def test_b(n): pass\n"
        "def test_c(): pass\n"
        "class TestGroup:\n"
        "    @pytest.mark.points(4)\n"
        "    def test_d(self): pass\n"
        "def helper(): pass\n")
    assert list_tests(tmp_path) == [StaticTest("test_x.py::test_a", 2.5, 1),
                                     StaticTest("test_x.py::test_b", 1.0, 3),
                                     StaticTest("test_x.py::test_c", 1.0, 1),
                                     StaticTest("test_x.py::TestGroup::test_d", 4.0, 1)]


def test_list_tests_ignores_modules_without_an_exercise_marker(tmp_path):
    (tmp_path / "test_helpers.py").write_text("def test_a(): pass\n")
    (tmp_path / "test_broken.py").write_text("def test_a(:\n")
    assert list_tests(tmp_path) == []


def test_pytest_on_two_exercises_grades_each_own_student_file(make_root, solutions, tmp_path):
    # Two folders, two files both named student.py, one process: neither may shadow the other.
    package, base = solutions
    root = make_root({"01": "correct", "02": "stub"})
    results = tmp_path / "results.json"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(root), "-p", "tinydyn.grading.plugin",
         "-p", "no:cacheprovider", "--solutions-package", package, "--results", str(results),
         "-q", "-rs", "--rootdir", str(root)],
        capture_output=True, text=True, cwd=root, timeout=120,
        env={**os.environ, "PYTHONPATH": str(base)})
    data = json.loads(results.read_text())
    outcome = {(t["exercise"], t["status"]) for t in data["tests"]}
    assert outcome == {("01_fake", "passed"), ("02_fake", "not_attempted")}
    assert data["finished"] and data["running"] is None
    assert "5 passed, 5 skipped" in run.stdout  # stubs read as skipped, not a wall of red
    assert "not attempted: exercise 02 (fake): implement double" in run.stdout
    assert "tinydyn grading" in run.stdout and "TOTAL 7 / 14 points" in run.stdout
