"""Assemble the docs folder and build the course site with ``mkdocs build --strict``.

``docs/`` holds the hand-written pages. The build copies it to ``build/course/docs/`` and adds:

- ``course/NN_topic.ipynb``: the executed lessons, which mkdocs-jupyter renders (no execution);
- the generated tables: lessons on ``course/index.md``, exercises and points on ``exercises.md``,
  the latest ``bench-results/*.md`` on ``benchmarks.md``, packages on ``library/index.md``, the
  syllabus on ``instructors.md`` (each replaces a ``<!-- tinydyn:NAME -->`` marker in the
  hand-written page);
- ``library/<package>.md``: one mkdocstrings page per package that exists;
- ``assets/mathjax/``: MathJax 3 copied from the installed ``django-static-mathjax`` wheel, so
  maths renders offline.

Then it writes ``build/course/mkdocs.yml`` (the repository's ``mkdocs.yml`` with absolute paths
and the nav filled in) and runs mkdocs on it in a subprocess.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tinydyn.course.pages import (
    benchmarks_section,
    exercise_rows,
    exercises_table,
    lesson_title,
    lessons_table,
    library_pages,
)
from tinydyn.course.paths import CoursePaths
from tinydyn.grading.syllabus import syllabus_rows, syllabus_table

__all__ = ["SiteError", "assemble_docs", "build_site", "mathjax_source", "write_config"]

MATHJAX_FILE = "tex-svg-full.js"
MATHJAX_TARGET = "assets/mathjax/" + MATHJAX_FILE
THEME_DIR = Path(__file__).resolve().parent / "theme"
HOOKS_FILE = Path(__file__).resolve().parent / "mkdocs_hooks.py"


class SiteError(RuntimeError):
    """The site could not be assembled or mkdocs refused to build it."""


def _fill(page: Path, marker: str, text: str) -> None:
    if page.is_file():
        source = page.read_text(encoding="utf-8")
        page.write_text(source.replace(f"<!-- tinydyn:{marker} -->", text), encoding="utf-8")


def mathjax_source() -> Path | None:
    """MathJax's self-contained SVG build from the installed ``django-static-mathjax`` wheel
    (top-level package ``mathjax``; found without importing it), or None if not installed."""
    spec = importlib.util.find_spec("mathjax")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "static" / "mathjax" / "es5" / MATHJAX_FILE
        if candidate.is_file():
            return candidate
    return None


# ---------------------------------------------------------------------------------------------
# assembling and building


def assemble_docs(paths: CoursePaths, notebooks: list[Path], log=print) -> dict:
    """Fill ``paths.docs_build`` from ``docs/``, the executed ``notebooks`` and the generated
    pages. Returns what the config needs: the nav entries of lessons and library pages, and
    whether MathJax was found."""
    if not paths.docs.is_dir():
        raise SiteError(f"assemble_docs: no docs folder at {paths.docs}")
    docs = paths.docs_build
    if docs.exists():
        shutil.rmtree(docs)
    shutil.copytree(paths.docs, docs)
    (docs / "course").mkdir(exist_ok=True)
    (docs / "library").mkdir(exist_ok=True)
    notebooks = sorted(Path(nb) for nb in notebooks)
    for nb in notebooks:
        shutil.copy2(nb, docs / "course" / nb.name)

    rows = exercise_rows(paths.root, paths.library)
    _fill(docs / "course" / "index.md", "lessons",
          lessons_table(notebooks, {r["id"]: r for r in rows}))
    _fill(docs / "exercises.md", "exercises", exercises_table(rows, {nb.stem for nb in notebooks}))
    _fill(docs / "benchmarks.md", "benchmarks", benchmarks_section(paths.bench_results, docs))
    _fill(docs / "instructors.md", "syllabus",
          syllabus_table(syllabus_rows(paths.root, paths.notebooks)))
    library = library_pages(paths, docs)
    _fill(docs / "library" / "index.md", "library", "\n".join(
        f"- [tinydyn.{name}]({name}.md): {summary}" for name, _, summary in library) + "\n")

    mathjax = mathjax_source()
    if mathjax is None:
        log("warning: MathJax not found (pip install django-static-mathjax, part of the course "
            "extra); equations will show as TeX source")
    else:
        target = docs / MATHJAX_TARGET
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(mathjax, target)
    return {
        "lessons": [(lesson_title(nb), f"course/{nb.name}") for nb in notebooks],
        "library": [(f"tinydyn.{name}", file) for name, file, _ in library],
        "mathjax": mathjax is not None,
    }


def _nav(docs: Path, parts: dict) -> list:
    def present(entries):
        return [{title: file} if title else file for title, file in entries
                if (docs / file).is_file()]

    nav = [{"Home": "index.md"}]
    nav.append({"Course": present([(None, "course/index.md")]) + [
        {title: file} for title, file in parts["lessons"]]})
    nav += present([("Exercises", "exercises.md"), ("Instructors", "instructors.md")])
    nav.append({"Library": present([(None, "library/index.md")]) + [
        {title: file} for title, file in parts["library"]]})
    nav += present([("Benchmarks", "benchmarks.md"), ("Design", "design.md")])
    return nav


def write_config(paths: CoursePaths, parts: dict) -> Path:
    """Write ``paths.site_config``: the repository's mkdocs.yml with absolute paths into the
    build folder and the generated nav."""
    import yaml

    try:
        config = yaml.safe_load(paths.mkdocs_yml.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise SiteError(f"write_config: {paths.mkdocs_yml} is not plain YAML ({err}); python "
                        f"tags (!!python/...) are not supported") from None
    root = paths.root

    def absolute(value: str) -> str:
        return str((root / value).resolve())

    config["docs_dir"] = str(paths.docs_build)
    config["site_dir"] = str(paths.site)
    config["nav"] = _nav(paths.docs_build, parts)
    theme = config.setdefault("theme", {"name": "material"})
    if theme.get("custom_dir"):
        raise SiteError(f"write_config: {paths.mkdocs_yml} sets theme.custom_dir; the course "
                        f"supplies its own ({THEME_DIR}): put template overrides there")
    theme["custom_dir"] = str(THEME_DIR)
    config["hooks"] = [absolute(h) for h in config.get("hooks", [])] + [str(HOOKS_FILE)]
    for plugin in config.get("plugins", []):
        if isinstance(plugin, dict) and "mkdocs-jupyter" in plugin:
            options = plugin["mkdocs-jupyter"] or {}
            options["cache_dir"] = str(paths.build / "mkdocs-jupyter-cache")
            plugin["mkdocs-jupyter"] = options
    if not parts["mathjax"]:
        config["extra_javascript"] = [
            js for js in config.get("extra_javascript", [])
            if not str(js).endswith(MATHJAX_FILE) and "mathjax" not in str(js)]
    paths.site_config.parent.mkdir(parents=True, exist_ok=True)
    header = "# Generated by tinydyn.course.site from ../../mkdocs.yml: edit that file instead.\n"
    paths.site_config.write_text(header + yaml.safe_dump(config, sort_keys=False),
                                 encoding="utf-8")
    return paths.site_config


def _problems(output: str) -> str:
    lines = [line for line in output.splitlines()
             if line.startswith(("WARNING", "ERROR", "Aborted", "Error", "Traceback"))
             or "Error" in line.split(":", 1)[0]]
    return "\n".join(lines[-40:]) or "\n".join(output.splitlines()[-40:])


def build_site(paths: CoursePaths, notebooks: list[Path], *, log=print) -> Path:
    """Assemble the docs and run ``mkdocs build --strict``; return the built site folder.
    Raises :class:`SiteError` with mkdocs' warnings if the build fails."""
    parts = assemble_docs(paths, notebooks, log=log)
    config = write_config(paths, parts)
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--clean", "-f", str(config)],
        cwd=paths.root, capture_output=True, text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    if proc.returncode != 0:
        raise SiteError(f"build_site: mkdocs build --strict failed (config {config}):\n"
                        + _problems(proc.stdout + proc.stderr))
    return paths.site
