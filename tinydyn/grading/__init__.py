"""Grading exercises: a pytest plugin (fixtures ``impl``, ``refs``, ``check``; markers
``exercise`` and ``points``), a runner that grades each exercise in a subprocess with a hard
time limit, reports (a table and Gradescope-compatible JSON) and stored reference outputs.

The library's solutions and reference generators live in ``tinydyn.grading.exercises``.
"""

from tinydyn.grading.references import check_references, regenerate
from tinydyn.grading.report import ExerciseResult, Results, TestResult, format_results, write_json
from tinydyn.grading.runner import exercise_folders, grade, list_tests

__all__ = ["ExerciseResult", "Results", "TestResult", "check_references", "exercise_folders",
           "format_results", "grade", "list_tests", "regenerate", "write_json"]
