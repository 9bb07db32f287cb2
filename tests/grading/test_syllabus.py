"""The instructors' syllabus: made from the lessons, the exercises' declarations, the graded
tests and the measured lesson times, never typed by hand."""

import json
from pathlib import Path

from tinydyn.grading.syllabus import syllabus_rows, syllabus_table

from .conftest import TESTS, TOTAL

REPO = Path(__file__).resolve().parents[2]


def course(tmp_path, solutions):
    """A root with lessons 01 and 02, a graded exercise 01_fake, and lesson 01's time."""
    package, _ = solutions
    (tmp_path / "lessons").mkdir()
    (tmp_path / "lessons" / "01_fake.py").write_text("# %% [markdown]\n# # Lesson 01 — Fakes\n")
    (tmp_path / "lessons" / "02_more.py").write_text("# %% [markdown]\n# ## no title\n")
    folder = tmp_path / "exercises" / "01_fake"
    folder.mkdir(parents=True)
    (folder / "test_01_fake.py").write_text(TESTS.format(nn="01"))
    notebooks = tmp_path / "built"
    notebooks.mkdir()
    (notebooks / "01_fake.hash.json").write_text(json.dumps({"seconds": 42.4}))
    return syllabus_rows(tmp_path, notebooks, package)


def test_rows_come_from_the_declarations_tests_and_measured_time(tmp_path, solutions):
    first, second = course(tmp_path, solutions)
    assert first["lesson"] == "Fakes" and first["asks"] == "a fake exercise"
    assert first["points"] == TOTAL and first["tests"] == 5
    assert first["seconds"] == 42.4 and first["imports"] == ("numpy", "numba", "os")
    assert second["lesson"] == "02_more" and second["points"] is None
    assert second["seconds"] is None


def test_table_has_one_line_per_lesson_and_the_total(tmp_path, solutions):
    text = syllabus_table(course(tmp_path, solutions))
    assert f"| 01 | Fakes | — | 42 s | a fake exercise | {TOTAL:g} (5 tests) | `numpy`, " in text
    assert "| 02 | 02_more | — | not run yet | — | — | — |" in text
    assert text.rstrip().endswith(f"| | **total** | | | | **{TOTAL:g}** | |")


def test_real_course_declares_prerequisites_of_earlier_lessons_only():
    for row in syllabus_rows(REPO):
        assert all(p < row["number"] for p in row["prerequisites"]), row
        if row["asks"] is not None:
            assert row["points"] > 0 and row["imports"]
