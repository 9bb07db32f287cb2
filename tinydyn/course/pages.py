"""The generated parts of the site: tables of lessons and exercises, the benchmark results,
and the library reference pages.

Each is Markdown that :mod:`tinydyn.course.site` puts in place of a ``<!-- tinydyn:NAME -->``
marker in a hand-written page of ``docs/`` (or, for the library, writes as whole pages).
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tinydyn.course.paths import CoursePaths

__all__ = [
    "API_PACKAGES",
    "benchmarks_section",
    "exercise_rows",
    "exercises_table",
    "lesson_title",
    "lessons_table",
    "library_pages",
]

# Packages documented in the library reference, in layer order, with one line each.
API_PACKAGES = [
    ("autograd", "Tensor, Function, the backward engine, every differentiable op"),
    ("kernels", "Numba hot loops and their NumPy twins, the backend switch"),
    ("nn", "Module, Parameter, layers, functional, init, save/load"),
    ("optim", "optimizers, gradient clipping, schedules"),
    ("data", "datasets, batching with padding masks, seeded tasks, file formats"),
    ("dynamic", "the dynamic methods, one folder per family"),
    ("measure", "FLOP counting, timing, Pareto fronts"),
]


# ---------------------------------------------------------------------------------------------
# lessons


def lesson_title(notebook_or_script: Path) -> str:
    """The first Markdown H1 of a lesson (``.ipynb`` or percent ``.py``), else its file stem."""
    path = Path(notebook_or_script)
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        lines = [line for c in cells if c.get("cell_type") == "markdown"
                 for line in "".join(c.get("source", "")).splitlines()]
    else:
        lines = [line[2:] if line.startswith("# ") else line
                 for line in path.read_text(encoding="utf-8").splitlines()]
    for line in lines:
        match = re.match(r"^#\s+(.+?)\s*#*\s*$", line)
        if match and not line.startswith("##"):
            return match.group(1)
    return path.stem


def lessons_table(notebooks: list[Path], exercises: dict) -> str:
    """Markdown table of the executed lessons (links relative to ``course/``), each with its
    exercise from ``exercises`` ({number: row of :func:`exercise_rows`})."""
    if not notebooks:
        return "*No lessons have been executed yet: run `tinydyn lessons run`.*\n"
    rows = ["| # | lesson | exercise |", "|---|---|---|"]
    for nb in notebooks:
        number = nb.name[:2]
        ex = exercises.get(number)
        ex_cell = f"[{ex['folder']}](../exercises.md) ({_fmt(ex['points'])} points)" if ex else "—"
        rows.append(f"| {number} | [{lesson_title(nb)}]({nb.name}) | {ex_cell} |")
    return "\n".join(rows) + "\n"


# ---------------------------------------------------------------------------------------------
# exercises


def _fmt(points: float) -> str:
    return f"{points:g}"


def _mark_call(node, name: str):
    """The ``pytest.mark.<name>(...)`` call in ``node`` (a decorator or value), or None."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr == name:
            return node
    return None


def _literal_arg(call, default=None):
    try:
        return ast.literal_eval(call.args[0]) if call is not None and call.args else default
    except ValueError:
        return default


def _parse_test_file(path: Path) -> tuple[str | None, dict[str, float]]:
    """(exercise id from ``pytestmark``, {test function name: points}) from the file's AST."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    exercise, points = None, {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            marks = node.value.elts if isinstance(node.value, (ast.List, ast.Tuple)) else [
                node.value]
            for mark in marks:
                call = _mark_call(mark, "exercise")
                if call is not None:
                    exercise = str(_literal_arg(call, exercise))
        elif isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            value = 1.0  # the grader's default for a test without a points marker
            for deco in node.decorator_list:
                call = _mark_call(deco, "points")
                if call is not None:
                    value = float(_literal_arg(call, 1.0))
            points[node.name] = value
    return exercise, points


def _collected_counts(root: Path, test_files: list[Path]) -> dict[tuple[str, str], int] | None:
    """How many test items pytest collects per (file name, function): parametrized tests give
    several, each worth the function's points. None if collection fails."""
    if not test_files:
        return {}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         *[str(p) for p in test_files]],
        cwd=root, capture_output=True, text=True, timeout=300,
    )
    if proc.returncode != 0:
        return None
    counts: dict[tuple[str, str], int] = {}
    for line in proc.stdout.splitlines():
        match = re.match(r"^(.*?)::(\w+)(\[.*\])?$", line.strip())
        if match:
            key = (Path(match.group(1)).name, match.group(2))
            counts[key] = counts.get(key, 0) + 1
    return counts


def _exercise_title(library: Path, folder_name: str) -> str:
    source = library / "grading" / "exercises" / f"ex{folder_name}.py"
    if source.is_file():
        for node in ast.parse(source.read_text(encoding="utf-8")).body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name) and node.targets[0].id == "TITLE"
                    and isinstance(node.value, ast.Constant)):
                return str(node.value.value)
    return folder_name.split("_", 1)[-1].replace("_", " ")


def exercise_rows(root: Path, library: Path) -> list[dict]:
    """One dict per ``exercises/NN_topic/`` with graded tests: ``id``, ``folder``, ``title``
    (``TITLE`` of ``<library>/grading/exercises/exNN_topic.py``), ``tests`` (items as pytest
    collects them) and ``points`` (their total)."""
    root = Path(root)
    folders = sorted(p for p in (root / "exercises").glob("[0-9][0-9]_*") if p.is_dir())
    files = {f: sorted(f.glob("test_*.py")) for f in folders}
    counts = _collected_counts(root, [p for fs in files.values() for p in fs])
    rows = []
    for folder in folders:
        exercise, tests, points = folder.name[:2], 0, 0.0
        for test_file in files[folder]:
            marked, per_test = _parse_test_file(test_file)
            exercise = marked or exercise
            for name, value in per_test.items():
                n = 1 if counts is None else counts.get((test_file.name, name), 0)
                tests += n
                points += n * value
        if files[folder]:
            rows.append({"id": exercise, "folder": folder.name, "tests": tests, "points": points,
                         "title": _exercise_title(library, folder.name)})
    return rows


def exercises_table(rows: list[dict], lessons: set[str]) -> str:
    """Markdown table of :func:`exercise_rows` with a total, linking each exercise to its
    lesson when ``lessons`` (notebook stems) has one with the same number."""
    if not rows:
        return "*No exercises yet.*\n"
    out = ["| # | folder | what you write | lesson | tests | points |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        stem = next((s for s in sorted(lessons) if s.startswith(r["id"] + "_")), None)
        lesson = f"[lesson {r['id']}](course/{stem}.ipynb)" if stem else "—"
        out.append(f"| {r['id']} | `exercises/{r['folder']}/` | {r['title']} | {lesson} "
                   f"| {r['tests']} | {_fmt(r['points'])} |")
    total = sum(r["points"] for r in rows)
    out.append(f"| | | **total** | | {sum(r['tests'] for r in rows)} | **{_fmt(total)}** |")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# benchmarks and library


def benchmarks_section(bench_dir: Path, docs: Path) -> str:
    """The ``*.md`` results in ``bench_dir``, one H2 each, with the other files they may link
    (plots, raw ``.json``) copied to ``docs/bench-results/`` and their links redirected there;
    or a note giving the command when there are none."""
    tables = sorted(bench_dir.glob("*.md")) if bench_dir.is_dir() else []
    if not tables:
        return ("*No benchmark results were found in `bench-results/` when this site was built: "
                "run `tinydyn bench engine`, then rebuild with `tinydyn course --build-only`.*\n")
    extras = [p for p in bench_dir.iterdir() if p.is_file() and p.suffix != ".md"]
    if extras:
        (docs / "bench-results").mkdir(exist_ok=True)
        for extra in extras:
            shutil.copy2(extra, docs / "bench-results" / extra.name)
    names = {p.name for p in extras}

    def relink(match):
        target = match.group(2)
        return f"{match.group(1)}(bench-results/{target})" if target in names else match.group(0)

    parts = []
    for table in tables:
        text = table.read_text(encoding="utf-8")
        # The result files have no title of their own; demote any headings below ours.
        text = re.sub(r"^(#{1,5}) ", lambda m: "#" + m.group(1) + " ", text, flags=re.M)
        text = re.sub(r"(!?\[[^\]]*\])\(([^)\s]+)\)", relink, text)
        parts.append(f"## {table.stem}\n\n{text.strip()}\n")
    return "\n".join(parts)


def library_pages(paths: CoursePaths, docs: Path) -> list[tuple[str, str, str]]:
    """Write ``library/<name>.md`` for each package in :data:`API_PACKAGES` that exists; return
    (name, file, summary) of each."""
    pages = []
    for name, summary in API_PACKAGES:
        package = paths.library / name
        if not (package / "__init__.py").is_file():
            continue
        modules = sorted(p.stem for p in package.glob("*.py") if not p.stem.startswith("_"))
        modules += sorted(p.name for p in package.iterdir()
                          if (p / "__init__.py").is_file() and not p.name.startswith("_"))
        lines = [f"# tinydyn.{name}", "", f"::: tinydyn.{name}", "    options:",
                 "      members: false", "      show_root_heading: false", ""]
        for module in modules:
            lines += [f"## tinydyn.{name}.{module}", "", f"::: tinydyn.{name}.{module}",
                      "    options:", "      heading_level: 3", ""]
        (docs / "library" / f"{name}.md").write_text("\n".join(lines), encoding="utf-8")
        pages.append((name, f"library/{name}.md", summary))
    return pages
