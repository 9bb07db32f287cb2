"""The generated page content: lesson titles, the exercise table, benchmark sections."""

from __future__ import annotations

from tinydyn.course.pages import (
    benchmarks_section,
    exercise_rows,
    exercises_table,
    lesson_title,
    lessons_table,
)


def test_lesson_title_reads_the_first_h1_of_a_script(tmp_path):
    lesson = tmp_path / "01_x.py"
    lesson.write_text("# %% [markdown]\n# ## not this\n# # Autograd from scratch\n")
    assert lesson_title(lesson) == "Autograd from scratch"


def test_lesson_title_falls_back_to_the_file_stem(tmp_path):
    lesson = tmp_path / "01_x.py"
    lesson.write_text("# %%\nprint(1)\n")
    assert lesson_title(lesson) == "01_x"


def test_exercise_rows_read_the_title_from_the_library(tmp_path):
    test_dir = tmp_path / "exercises" / "05_thing"
    test_dir.mkdir(parents=True)
    (test_dir / "test_05_thing.py").write_text(
        "import pytest\npytestmark = pytest.mark.exercise('05')\n\n"
        "@pytest.mark.points(3)\ndef test_a():\n    pass\n")
    library = tmp_path / "lib"
    (library / "grading" / "exercises").mkdir(parents=True)
    (library / "grading" / "exercises" / "ex05_thing.py").write_text('TITLE = "Do the thing"\n')
    assert exercise_rows(tmp_path, library) == [
        {"id": "05", "folder": "05_thing", "tests": 1, "points": 3.0, "title": "Do the thing"}]


def test_exercise_rows_default_to_one_point_and_the_folder_topic(tmp_path):
    test_dir = tmp_path / "exercises" / "06_two_words"
    test_dir.mkdir(parents=True)
    (test_dir / "test_06.py").write_text("def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    assert exercise_rows(tmp_path, tmp_path / "lib") == [
        {"id": "06", "folder": "06_two_words", "tests": 2, "points": 2.0, "title": "two words"}]


def test_exercises_table_links_the_lesson_and_totals_points():
    rows = [{"id": "01", "folder": "01_a", "tests": 3, "points": 5.0, "title": "A"},
            {"id": "02", "folder": "02_b", "tests": 1, "points": 2.5, "title": "B"}]
    table = exercises_table(rows, {"01_autograd"})
    assert "| 01 | `exercises/01_a/` | A | [lesson 01](course/01_autograd.ipynb) | 3 | 5 |" in table
    assert "| 02 | `exercises/02_b/` | B | — | 1 | 2.5 |" in table
    assert "| | | **total** | | 4 | **7.5** |" in table


def test_lessons_table_links_each_notebook_and_its_exercise(tmp_path):
    nb = tmp_path / "01_autograd.ipynb"
    nb.write_text('{"cells": [{"cell_type": "markdown", "source": ["# Autograd"]}]}')
    table = lessons_table([nb], {"01": {"folder": "01_autograd", "points": 10.0}})
    assert "| 01 | [Autograd](01_autograd.ipynb) | [01_autograd](../exercises.md) (10 points) |" \
        in table


def test_benchmarks_section_demotes_headings_and_relinks_files(tmp_path):
    bench, docs = tmp_path / "bench", tmp_path / "docs"
    bench.mkdir()
    docs.mkdir()
    (bench / "moe.md").write_text("# MoE\n\n![front](front.png) and [raw](moe.json)\n")
    (bench / "front.png").write_bytes(b"png")
    (bench / "moe.json").write_text("{}")
    text = benchmarks_section(bench, docs)
    assert text.startswith("## moe\n\n## MoE\n")
    assert "![front](bench-results/front.png) and [raw](bench-results/moe.json)" in text
    assert (docs / "bench-results" / "front.png").read_bytes() == b"png"
