"""The build check: a lesson whose run contradicts its own claim fails the lesson build.

A lesson states a measured comparison through ``tinydyn.course.notebook.claim`` (or an
``assert``) in the cell that shows the numbers. When a run contradicts it, the cell raises,
``run_lessons`` fails naming the lesson, the cell and the claim, and the ``tinydyn lessons run``
and ``tinydyn course`` commands exit non-zero.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

for _module in ("jupytext", "nbclient", "nbformat", "ipykernel"):
    pytest.importorskip(_module, reason=f"{_module} missing: pip install -e '.[course]'")

from tinydyn.course.lessons import LessonError, run_lessons  # noqa: E402
from tinydyn.course.paths import CoursePaths  # noqa: E402

# The "measurements" are fixed numbers so that the run contradicts the sentence every time:
# the twin takes longer than np.add.at, but the lesson claims it is faster.
CONTRADICTED_CLAIM = textwrap.dedent('''\
    # %% [markdown]
    # # A lesson whose prose outruns its output

    # %%
    from tinydyn.course.notebook import claim

    t_add_at, t_twin = 9.23e-3, 12.8e-3

    # %%
    claim(t_twin < t_add_at, "the sort-based twin is {r:.1f}x faster than np.add.at",
          r=t_add_at / t_twin)
''')

CONTRADICTED_ASSERT = textwrap.dedent('''\
    # %% [markdown]
    # # A lesson guarded by a bare assert

    # %%
    t_cached, t_warm = 9.33e-3, 159e-6

    # %%
    assert t_cached < 2 * t_warm, "a cached load is almost as fast as a warm call"
''')

HELD_CLAIM = CONTRADICTED_CLAIM.replace("t_twin < t_add_at", "t_twin > t_add_at").replace(
    "faster", "slower")

TINYDYN = Path(sys.executable).with_name("tinydyn")


def _fail_message(make_root, name, source) -> tuple[CoursePaths, str]:
    paths = CoursePaths(make_root({name: source}))
    with pytest.raises(LessonError) as info:
        run_lessons(paths, log=lambda *a: None)
    return paths, str(info.value)


def test_contradicted_claim_fails_naming_lesson_cell_and_claim(make_root):
    paths, message = _fail_message(make_root, "02_claims.py", CONTRADICTED_CLAIM)
    assert "lesson 02_claims.py, cell 3 of 3 (line 9) failed" in message
    assert ("AssertionError: claim contradicted by this run: the sort-based twin is 0.7x "
            "faster than np.add.at") in message
    assert not (paths.notebooks / "02_claims.ipynb").exists()


def test_contradicted_assert_fails_naming_lesson_cell_and_claim(make_root):
    _, message = _fail_message(make_root, "02_asserts.py", CONTRADICTED_ASSERT)
    assert "lesson 02_asserts.py, cell 3 of 3 (line 7) failed" in message
    assert "AssertionError: a cached load is almost as fast as a warm call" in message


def test_claim_that_holds_prints_its_sentence_once_in_the_built_lesson(make_root):
    import nbformat

    paths = CoursePaths(make_root({"02_claims.py": HELD_CLAIM}))
    notebook = run_lessons(paths, log=lambda *a: None)[0].notebook
    last_cell = nbformat.read(str(notebook), 4).cells[-1]
    # printed, and not echoed a second time as the value of the cell's last expression
    assert [(o.output_type, o.get("text")) for o in last_cell.outputs] == [
        ("stream", "the sort-based twin is 0.7x slower than np.add.at\n")]


@pytest.mark.skipif(not TINYDYN.is_file(), reason="the tinydyn console script is not installed")
@pytest.mark.parametrize("command", [["lessons", "run"], ["course", "--build-only"]])
def test_commands_exit_non_zero_on_a_contradicted_claim(make_root, command):
    root = make_root({"02_claims.py": CONTRADICTED_CLAIM})
    done = subprocess.run([str(TINYDYN), *command, "--root", str(root)], capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "lesson 02_claims.py, cell 3 of 3 (line 9) failed" in done.stderr
    assert "claim contradicted by this run: the sort-based twin" in done.stderr
