"""The runner grades fake exercises in subprocesses: statuses, points, timeouts and crashes."""

import pytest

from tinydyn.grading import grade

from .conftest import POINTS, TOTAL


def by_exercise(results) -> dict:
    return {ex.name: ex for ex in results.exercises}


def statuses(exercise) -> dict:
    return {t.name.split("::")[1]: t.status for t in exercise.tests}


@pytest.fixture(scope="module")
def graded(make_root, grade_env):
    root = make_root({"01": "stub", "02": "correct", "03": "wrong", "04": "crash",
                      "05": "raises", "06": "syntax_error", "07": "recurses"})
    return by_exercise(grade(root=root, timeout=60.0, **grade_env))


def test_stub_scores_zero_with_every_test_not_attempted(graded):
    ex = graded["01_fake"]
    assert ex.score == 0 and ex.max_score == TOTAL
    assert {t.status for t in ex.tests} == {"not_attempted"}


def test_not_attempted_message_names_the_exercise_and_the_function(graded):
    messages = {t.message for t in graded["01_fake"].tests}
    assert "exercise 01 (fake): implement row_argmax — see lesson 01" in messages


def test_correct_student_gets_full_marks(graded):
    ex = graded["02_fake"]
    assert ex.score == ex.max_score == TOTAL
    assert len(ex.tests) == 5  # the parametrized test counts once per case


def test_wrong_student_loses_exactly_the_points_of_the_test_that_catches_it(graded):
    ex = graded["03_fake"]
    assert ex.score == TOTAL - POINTS["test_row_argmax"]
    assert [t.name for t in ex.tests if t.status != "passed"] == \
        ["test_03_fake.py::test_row_argmax"]
    assert statuses(ex)["test_row_argmax"] == "failed"


def test_failure_message_shows_index_values_tolerance_and_seed(graded):
    (failed,) = [t for t in graded["03_fake"].tests if t.status == "failed"]
    assert "row_argmax: 3 of 3 values differ (exact equality)" in failed.message
    assert "first differing index (0,): expected" in failed.message
    assert "received" in failed.message
    assert "seed 0" in failed.message and "shape (3,)" in failed.message


def test_crash_is_an_error_that_keeps_the_tests_passed_before_it(graded):
    ex = graded["04_fake"]
    assert statuses(ex) == {"test_double": "passed", "test_double_keeps_shape": "passed",
                            "test_row_argmax": "error", "test_double_scaled": "error"}
    assert ex.score == 3 and ex.max_score == TOTAL


def test_crash_message_names_the_exit_code_and_shows_the_output_tail(graded):
    crashed = [t for t in graded["04_fake"].tests if t.name.endswith("test_row_argmax")][0]
    assert "exited with code 3 while running this test" in crashed.message
    assert "about to crash" in crashed.message


def test_exception_in_student_code_is_an_error_showing_only_student_frames(graded):
    ex = graded["05_fake"]
    assert statuses(ex)["test_double"] == "error"
    assert statuses(ex)["test_row_argmax"] == "passed"
    message = ex.tests[0].message
    assert 'File "05_fake/student.py", line 6, in helper' in message
    assert "ValueError: cannot reshape array of size 12" in message
    assert "plugin.py" not in message and "site-packages" not in message


def test_runaway_recursion_is_shown_as_one_repeated_frame_and_the_error(graded):
    message = graded["07_fake"].tests[0].message
    assert 'File "07_fake/student.py", line 6, in double' in message
    assert "[the frame above repeated" in message
    assert message.splitlines()[-1].startswith("RecursionError: maximum recursion depth exceeded")
    assert len(message.splitlines()) < 12


def test_student_that_cannot_be_imported_is_an_error_on_every_test(graded):
    ex = graded["06_fake"]
    assert {t.status for t in ex.tests} == {"error"} and ex.score == 0
    assert "SyntaxError" in ex.tests[0].message


def test_hanging_student_times_out_and_the_next_exercise_is_still_graded(make_root, grade_env):
    root = make_root({"01": "hang", "02": "correct"})
    ex = by_exercise(grade(root=root, timeout=5.0, **grade_env))
    hung = ex["01_fake"]
    assert hung.timed_out
    assert statuses(hung) == {"test_double": "passed", "test_double_keeps_shape": "passed",
                              "test_row_argmax": "timeout", "test_double_scaled": "timeout"}
    assert hung.score == 3 and hung.max_score == TOTAL
    assert "still running when the exercise hit its 5 s wall-clock limit" in hung.tests[2].message
    assert ex["02_fake"].score == TOTAL


def test_reading_the_stored_references_is_not_allowed(make_root, grade_env):
    ex = grade(root=make_root({"01": "hardcoded"}), timeout=60.0, **grade_env).exercises[0]
    assert {t.status for t in ex.tests} == {"not_allowed"} and ex.score == 0
    assert "student.py line 2: imports pathlib" in ex.tests[0].message


def test_seed_recomputes_references_so_a_hardcoded_answer_fails(make_root, grade_env):
    # with the import checks switched off, only the fresh seed stands between it and the points
    root = make_root({"01": "hardcoded"}, imports={"01_fake": {"allow": "any"}})
    assert grade(root=root, timeout=60.0, **grade_env).score == TOTAL
    reseeded = grade(root=root, seed=1, timeout=60.0, **grade_env)
    assert reseeded.seed == 1
    assert reseeded.score == POINTS["test_double_keeps_shape"]


def test_solution_flag_grades_the_library_solution_not_the_student(make_root, grade_env):
    root = make_root({"01": "stub"})
    results = grade(root=root, solution=True, timeout=60.0, **grade_env)
    assert results.solution and results.score == TOTAL
