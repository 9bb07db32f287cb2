"""The course's own exercises: untouched stubs score 0, the library's solution full marks, and
the stored references equal freshly regenerated ones."""

import ast
import importlib
from pathlib import Path

import pytest

from tinydyn.grading import check_references, exercise_folders, grade, list_tests
from tinydyn.grading.layout import solution_module_name

ROOT = Path(__file__).resolve().parents[2] / "exercises"
FOLDERS = exercise_folders(ROOT) if ROOT.is_dir() else []

pytestmark = pytest.mark.skipif(not FOLDERS, reason="no exercises/ folder in this checkout")


@pytest.fixture(scope="module")
def stubs():
    return grade(root=ROOT)


def test_untouched_stubs_are_all_not_attempted(stubs):
    assert {t.status for t in stubs.tests} == {"not_attempted"}
    assert stubs.score == 0 and stubs.max_score > 0


def test_solution_scores_full_marks():
    results = grade(root=ROOT, solution=True)
    failing = [(t.exercise, t.name, t.status, t.message) for t in results.tests
               if t.status != "passed"]
    assert failing == []
    assert results.score == results.max_score > 0


def test_every_exercise_has_graded_tests(stubs):
    assert [e.name for e in stubs.exercises] == [f.name for f in FOLDERS]
    for folder in FOLDERS:
        assert list_tests(folder), f"{folder.name} has no graded tests"


def test_stored_references_match_regenerated_ones():
    assert check_references(ROOT) == []


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.name)
def test_solution_offers_exactly_the_student_functions(folder):
    module = importlib.import_module(solution_module_name(folder.name))
    assert isinstance(module.TITLE, str) and module.LESSON.startswith("lessons/")
    tree = ast.parse((folder / "student.py").read_text())
    student = {node.name for node in tree.body
               if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")}
    offered = {name for name in dir(module.SOLUTION) if not name.startswith("_")}
    assert student <= offered, f"SOLUTION lacks {sorted(student - offered)}"
