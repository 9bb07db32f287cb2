"""The lesson runner: one kernel per lesson, clear failures, a cache keyed on lesson + library."""

from __future__ import annotations

import hashlib
import json
import re
import textwrap

import pytest

for _module in ("jupytext", "nbclient", "nbformat", "ipykernel"):
    pytest.importorskip(_module, reason=f"{_module} missing: pip install -e '.[course]'")

import nbformat  # noqa: E402

from tinydyn.course import lessons as lessons_mod  # noqa: E402
from tinydyn.course.lessons import (  # noqa: E402
    LessonError,
    find_lessons,
    h1_count,
    library_hash,
    run_lesson,
    run_lessons,
    strip_ansi,
)
from tinydyn.course.paths import CoursePaths  # noqa: E402


@pytest.fixture(scope="module")
def executed(make_root, lesson_sources):
    """The tiny lesson run once through run_lessons, with the slow-lesson threshold at 0 s so
    the warning shows. Returns (paths, results, log lines)."""
    paths = CoursePaths(make_root({"01_quokka.py": lesson_sources["tiny"]}))
    lines = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(lessons_mod, "SLOW_LESSON_SECONDS", 0.0)
        results = run_lessons(paths, log=lines.append)
    return paths, results, lines


def _outputs(notebook):
    nb = nbformat.read(str(notebook), as_version=4)
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]


def test_run_writes_an_executed_notebook_with_printed_output(executed):
    paths, results, _ = executed
    assert [r.notebook for r in results] == [paths.notebooks / "01_quokka.ipynb"]
    texts = "".join(o.get("text", "") for o in _outputs(results[0].notebook))
    assert "answer 42" in texts


def test_run_uses_the_repository_root_as_working_folder(executed):
    paths, results, _ = executed
    texts = "".join(o.get("text", "") for o in _outputs(results[0].notebook))
    assert f"cwd {paths.root}" in texts


def test_run_keeps_matplotlib_figures_as_png_outputs(executed):
    _, results, _ = executed
    assert any("image/png" in o.get("data", {}) for o in _outputs(results[0].notebook))


def test_run_names_the_standard_kernel_in_the_saved_notebook(executed):
    _, results, _ = executed
    nb = nbformat.read(str(results[0].notebook), as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_run_shares_a_numba_cache_folder_in_the_build(executed):
    paths, _, _ = executed
    assert paths.numba_cache.is_dir()
    assert paths.numba_cache.is_relative_to(paths.build)


def test_run_logs_each_lesson_with_its_time(executed):
    _, _, lines = executed
    assert re.search(r"01_quokka\.py\s+executed in\s+\d+\.\d s", lines[0])


def test_run_warns_about_a_lesson_over_the_time_limit(executed):
    _, _, lines = executed
    assert any(line.strip().startswith("warning: 01_quokka.py took") for line in lines)


def test_run_stores_the_cache_key_next_to_the_notebook(executed):
    paths, _, _ = executed
    key = json.loads((paths.notebooks / "01_quokka.hash.json").read_text())
    lesson = (paths.lessons / "01_quokka.py").read_bytes()
    assert key["lesson_sha256"] == hashlib.sha256(lesson).hexdigest()
    # not compared with library_hash() now: other work may edit tinydyn/ during the test run
    assert re.fullmatch(r"[0-9a-f]{64}", key["library_sha256"])


def test_second_run_of_an_unchanged_lesson_is_a_cache_hit(make_root):
    paths = CoursePaths(make_root({"01_a.py": "# %%\nprint('a')\n"}))
    first = run_lessons(paths, log=lambda *a: None)[0]
    mtime = first.notebook.stat().st_mtime_ns
    lines = []
    second = run_lessons(paths, log=lines.append)[0]
    assert second.cached and not first.cached
    assert second.notebook.stat().st_mtime_ns == mtime
    assert any("01_a.py" in line and "cached" in line for line in lines)


def test_changing_the_lesson_invalidates_the_cache(make_root):
    root = make_root({"01_a.py": "# %%\nprint('first')\n"})
    paths = CoursePaths(root)
    run_lessons(paths, log=lambda *a: None)
    (root / "lessons" / "01_a.py").write_text("# %%\nprint('second')\n")
    result = run_lessons(paths, log=lambda *a: None)[0]
    assert not result.cached
    assert "second" in "".join(o.get("text", "") for o in _outputs(result.notebook))


def test_changing_the_library_invalidates_the_cache(make_root, tmp_path):
    library = tmp_path / "fake_library"
    (library / "sub").mkdir(parents=True)
    (library / "sub" / "ops.py").write_text("X = 1\n")
    paths = CoursePaths(make_root({"01_a.py": "# %%\nprint('a')\n"}), library=library)
    run_lessons(paths, log=lambda *a: None)
    (library / "sub" / "ops.py").write_text("X = 2\n")
    assert not run_lessons(paths, log=lambda *a: None)[0].cached


def test_force_re_executes_an_unchanged_lesson(make_root):
    paths = CoursePaths(make_root({"01_a.py": "# %%\nprint('a')\n"}))
    run_lessons(paths, log=lambda *a: None)
    assert not run_lessons(paths, force=True, log=lambda *a: None)[0].cached


def test_failing_cell_names_lesson_cell_and_traceback(make_root, lesson_sources):
    paths = CoursePaths(make_root({"02_bad.py": lesson_sources["failing"]}))
    with pytest.raises(LessonError) as info:
        run_lessons(paths, log=lambda *a: None)
    message = str(info.value)
    assert "lesson 02_bad.py, cell 3 of 3 (line 7) failed" in message
    assert "ZeroDivisionError" in message and "divide(x)" in message
    assert "\x1b[" not in message


def test_failing_lesson_leaves_no_notebook_and_other_lessons_still_run(make_root,
                                                                       lesson_sources):
    paths = CoursePaths(make_root({"01_good.py": "# %%\nprint('ok')\n",
                                   "02_bad.py": lesson_sources["failing"]}))
    with pytest.raises(LessonError, match=r"1 of 2 lessons failed"):
        run_lessons(paths, log=lambda *a: None)
    assert (paths.notebooks / "01_good.ipynb").is_file()
    assert not (paths.notebooks / "02_bad.ipynb").exists()


def test_cell_over_the_timeout_fails_with_the_limit(make_root):
    lesson = "# %%\nx = 1\n\n# %%\nimport time\ntime.sleep(30)\n"
    paths = CoursePaths(make_root({"01_slow.py": lesson}))
    with pytest.raises(LessonError, match=r"lesson 01_slow\.py, cell 2 of 2 .*timed out after 2 s"):
        run_lesson(paths.lessons / "01_slow.py", paths, timeout=2)


def test_run_lesson_rejects_a_non_positive_timeout(make_root):
    paths = CoursePaths(make_root({"01_a.py": "# %%\n1\n"}))
    with pytest.raises(ValueError, match=r"run_lesson: timeout must be a positive number"):
        run_lesson(paths.lessons / "01_a.py", paths, timeout=0)


def test_find_lessons_sorts_by_number_and_ignores_other_files(tmp_path):
    for name in ("02_b.py", "01_a.py", "helper.py", "1_short.py", "03_c.txt"):
        (tmp_path / name).write_text("")
    assert [p.name for p in find_lessons(tmp_path)] == ["01_a.py", "02_b.py"]


def test_find_lessons_selects_by_number_in_any_spelling(tmp_path):
    for name in ("01_a.py", "02_b.py", "03_c.py"):
        (tmp_path / name).write_text("")
    assert [p.name for p in find_lessons(tmp_path, ["3", 1, "01"])] == ["03_c.py", "01_a.py"]


def test_find_lessons_names_a_missing_number_and_what_exists(tmp_path):
    (tmp_path / "01_a.py").write_text("")
    with pytest.raises(ValueError, match=r"find_lessons: no lesson numbered 07 in .* \(have: 01\)"):
        find_lessons(tmp_path, ["07"])


def test_find_lessons_rejects_a_malformed_number(tmp_path):
    with pytest.raises(ValueError, match=r"find_lessons: lesson number must be one or two digits"):
        find_lessons(tmp_path, ["first"])


def test_library_hash_changes_with_a_file_name_or_content(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    before = library_hash(tmp_path)
    (tmp_path / "a.py").write_text("x = 2\n")
    changed = library_hash(tmp_path)
    (tmp_path / "a.py").rename(tmp_path / "b.py")
    assert len({before, changed, library_hash(tmp_path)}) == 3


def test_strip_ansi_removes_colour_codes():
    assert strip_ansi("\x1b[0;31mZeroDivisionError\x1b[0m: boom") == "ZeroDivisionError: boom"


def test_describe_cell_omits_the_line_when_cells_and_markers_disagree(tmp_path):
    lesson = tmp_path / "01_a.py"
    lesson.write_text(textwrap.dedent("""\
        x = 1

        # %%
        y = 2
    """))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1"),
                                         nbformat.v4.new_code_cell("y = 2")])
    assert lessons_mod._describe_cell(lesson, nb, 1) == "lesson 01_a.py, cell 2 of 2"


def test_h1_count_sees_markdown_titles_only(tmp_path):
    lesson = tmp_path / "01_a.py"
    lesson.write_text("# %% [markdown]\n# # Title\n# ## Section\n\n# %%\n# # not a title\nx = 1\n")
    assert h1_count(lesson) == 1


def test_run_warns_about_a_lesson_without_exactly_one_h1(make_root):
    paths = CoursePaths(make_root({"01_a.py": "# %%\nprint('a')\n"}))
    lines = []
    run_lessons(paths, log=lines.append)
    assert any("01_a.py has 0 H1 titles" in line for line in lines)
