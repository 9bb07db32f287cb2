"""Shortcuts instead of the exercise (import the solution, call the library's method or kernel,
reach them through importlib or __import__, read references.npz): every test not_allowed, 0
points, the message naming the line. Untouched stubs and the library's solution are covered by
test_real_exercises.py."""

import json
import shutil
from pathlib import Path

import pytest

from tinydyn.grading.runner import grade_exercise

HERE = Path(__file__).resolve().parent
EXERCISES = HERE.parents[1] / "exercises"
SPEC = json.loads((HERE / "mutants" / "integrity" / "integrity.json").read_text())["mutants"]


def grade_mutant(mutant, tmp_path):
    spec = SPEC[mutant]
    folder = tmp_path / spec["exercise"]
    shutil.copytree(EXERCISES / spec["exercise"], folder)
    shutil.copy(EXERCISES / "manifest.json", tmp_path / "manifest.json")
    shutil.copy(HERE / "mutants" / "integrity" / mutant, folder / "student.py")
    return spec, grade_exercise(folder, timeout=120)


@pytest.mark.parametrize("mutant", sorted(SPEC))
def test_shortcut_scores_zero_with_not_allowed_naming_the_line(mutant, tmp_path):
    spec, result = grade_mutant(mutant, tmp_path)
    assert result.tests and {t.status for t in result.tests} == {"not_allowed"}, \
        [(t.name, t.status, t.message) for t in result.tests]
    assert result.score == 0 and result.max_score > 0
    for test in result.tests:
        assert f"student.py line {spec['line']}: {spec['reason']}" in test.message


def test_instructor_relaxing_the_rule_lets_the_library_method_through(tmp_path):
    spec, _ = SPEC["ex03_library_method.py"], None
    folder = tmp_path / spec["exercise"]
    shutil.copytree(EXERCISES / spec["exercise"], folder)
    manifest = json.loads((EXERCISES / "manifest.json").read_text())
    manifest["imports"] = {spec["exercise"]: {"allow": ["tinydyn"]}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    shutil.copy(HERE / "mutants" / "integrity" / "ex03_library_method.py", folder / "student.py")
    result = grade_exercise(folder, timeout=120)
    assert {t.status for t in result.tests} == {"passed"}
    assert result.score == result.max_score
