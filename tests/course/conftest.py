"""Shared fixtures for the course tests: small throwaway course roots and a built site."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# A lesson exercising what the site must show: a title with a rare word (for the search test),
# inline and display maths, printed output, and a matplotlib figure.
TINY_LESSON = textwrap.dedent('''\
    # ---
    # jupyter:
    #   jupytext:
    #     formats: py:percent
    #   kernelspec:
    #     display_name: Python 3
    #     language: python
    #     name: python3
    # ---

    # %% [markdown]
    # # Quokkagrad: a tiny lesson
    #
    # The derivative of $y = x^2$ is
    # $$\\frac{dy}{dx} = 2x.$$

    # %%
    import os

    import matplotlib.pyplot as plt
    import numpy as np

    print("answer", 6 * 7)
    print("cwd", os.getcwd())

    # %% [markdown]
    # ## A plot

    # %%
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot(np.arange(5) ** 2)
    plt.show()
''')

FAILING_LESSON = textwrap.dedent('''\
    # %% [markdown]
    # # A lesson that fails

    # %%
    x = 1

    # %%
    def divide(a):
        return a / 0

    divide(x)
''')


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "browser: drives headless Chromium against the built site (deselect with "
                   "-m 'not browser')")


FAKE_EXERCISE_TEST = textwrap.dedent('''\
    import pytest

    pytestmark = pytest.mark.exercise("03")


    @pytest.mark.points(2)
    @pytest.mark.parametrize("case", ["a", "b", "c"])
    def test_cases(case):
        pass


    @pytest.mark.points(4)
    def test_single():
        pass


    def test_default_point():
        pass


    def helper():
        pass
''')


def create_root(root: Path, lessons=None) -> Path:
    """A course root at ``root`` with the repository's mkdocs.yml and docs/ and ``lessons``
    ({file name: source})."""
    (root / "lessons").mkdir(parents=True)
    shutil.copy(REPO / "mkdocs.yml", root / "mkdocs.yml")
    shutil.copytree(REPO / "docs", root / "docs")
    for file_name, source in (lessons or {}).items():
        (root / "lessons" / file_name).write_text(source)
    return root


@pytest.fixture(scope="session")
def make_root(tmp_path_factory):
    """make_root({"01_x.py": source}) -> a fresh course root in its own temporary folder."""
    return lambda lessons=None: create_root(tmp_path_factory.mktemp("course") / "root", lessons)


@pytest.fixture(scope="session")
def lesson_sources():
    """{"tiny": a lesson with maths, output and a plot; "failing": one whose cell 3 raises}."""
    return {"tiny": TINY_LESSON, "failing": FAILING_LESSON}


@pytest.fixture(scope="session")
def tiny_site(tmp_path_factory):
    """A site built once from a root with the tiny lesson, one fake exercise (3 parametrized
    tests of 2 points, one of 4, one default of 1: 5 tests, 11 points) and a benchmark result
    with an image. Returns (CoursePaths, site folder)."""
    for module in ("jupytext", "nbclient", "ipykernel", "mkdocs", "material", "mkdocs_jupyter",
                   "mkdocstrings"):
        pytest.importorskip(module, reason=f"{module} missing: pip install -e '.[course]'")
    from tinydyn.course.lessons import run_lessons
    from tinydyn.course.paths import CoursePaths
    from tinydyn.course.site import build_site

    root = create_root(tmp_path_factory.mktemp("tiny") / "root", {"01_quokka.py": TINY_LESSON})
    exercise = root / "exercises" / "03_fake"
    exercise.mkdir(parents=True)
    (exercise / "test_03_fake.py").write_text(FAKE_EXERCISE_TEST)
    bench = root / "bench-results"
    bench.mkdir()
    (bench / "engine.md").write_text("Measured on: a test machine\n\n| workload | time |\n"
                                     "|---|---|\n| wombat op | 1 ms |\n\n![speed](speed.svg)\n")
    (bench / "speed.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" '
                                     'height="10"><rect width="10" height="10"/></svg>')
    paths = CoursePaths(root)
    results = run_lessons(paths, log=lambda *a: None)
    return paths, build_site(paths, [r.notebook for r in results], log=lambda *a: None)
