"""The grader against deliberately broken solutions: each mutant must lose exactly the points of
the tests written to catch its bug, and every other test must still pass."""

import json
import shutil
from pathlib import Path

import pytest

from tinydyn.grading.runner import grade_exercise

HERE = Path(__file__).resolve().parent
EXERCISES = HERE.parents[1] / "exercises"
MUTANTS = json.loads((HERE / "mutants" / "mutants.json").read_text())["mutants"]


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_mutant_loses_exactly_the_intended_points(mutant, tmp_path):
    spec = MUTANTS[mutant]
    folder = tmp_path / spec["exercise"]
    shutil.copytree(EXERCISES / spec["exercise"], folder)
    # Mutants borrow the library's SOLUTION for the functions they do not break: an
    # instructor's relaxation of the import rule lets them (test_integrity_mutants.py checks
    # that it is refused otherwise).
    manifest = json.loads((EXERCISES / "manifest.json").read_text())
    manifest["imports"] = {spec["exercise"]: {"allow": ["tinydyn.grading.exercises"]}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    shutil.copy(HERE / "mutants" / mutant, folder / "student.py")
    result = grade_exercise(folder, timeout=120)
    not_passed = {t.name: t.status for t in result.tests if t.status != "passed"}
    assert not_passed == spec["fails"], f"{mutant}: {spec['bug']}"
    assert result.max_score - result.score == pytest.approx(spec["points_lost"])
