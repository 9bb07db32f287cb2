"""The syllabus table of the instructors' page, made from the course's own files.

Nothing in it is typed by hand: the lesson's title is its first heading (``lessons/NN_*.py``),
the prerequisites, what the exercise asks and what it may import are declared in
``tinydyn.grading.exercises.exNN_topic`` (``PREREQUISITES``, ``TITLE``, ``ALLOWED_IMPORTS``),
the points are read from the graded tests (:func:`tinydyn.grading.runner.list_tests`), and the
time to run is the last measured execution of the lesson (``NN_topic.hash.json`` beside the
executed notebook, written by ``tinydyn lessons run``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tinydyn.grading.integrity import DEFAULT_ALLOWED, declared
from tinydyn.grading.layout import DEFAULT_SOLUTIONS
from tinydyn.grading.runner import exercise_folders, list_tests

_H1 = re.compile(r"^#\s+#\s+(.+?)\s*$")  # "# # Title" in a percent-format markdown cell


def lesson_heading(path: Path) -> str:
    """The first H1 of a percent-format lesson, else its file stem."""
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        match = _H1.match(line)
        if match:
            return match.group(1)
    return Path(path).stem


def _short(title: str) -> str:
    """"Lesson 03 — Skim-RNN" -> "Skim-RNN": the table has a number column."""
    return re.sub(r"^Lesson\s+\d+\s*[—:-]\s*", "", title)


def measured_seconds(notebooks: Path | None, stem: str):
    """Seconds the lesson took when it was last executed, or None if it never was."""
    if notebooks is None:
        return None
    try:
        return float(json.loads((Path(notebooks) / f"{stem}.hash.json").read_text())["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def syllabus_rows(root, notebooks=None, package: str = DEFAULT_SOLUTIONS) -> list:
    """One dict per lesson ``root/lessons/NN_topic.py``, with its exercise when there is one."""
    root = Path(root)
    exercises = {f.name: f for f in exercise_folders(root / "exercises", fn="syllabus")} \
        if (root / "exercises").is_dir() else {}
    rows = []
    for lesson in sorted((root / "lessons").glob("[0-9][0-9]_*.py")):
        folder = exercises.get(lesson.stem)
        meta = declared(lesson.stem, package) if folder is not None else {}
        tests = list_tests(folder) if folder is not None else []
        cases = [t.cases for t in tests]
        rows.append({
            "number": lesson.stem[:2], "lesson": _short(lesson_heading(lesson)),
            "stem": lesson.stem,
            "prerequisites": tuple(meta.get("PREREQUISITES", ())),
            "seconds": measured_seconds(notebooks, lesson.stem),
            "asks": meta.get("TITLE") if folder is not None else None,
            "points": sum(t.points * (t.cases or 1) for t in tests) if folder else None,
            "tests": None if None in cases else sum(cases),
            "imports": tuple(meta.get("ALLOWED_IMPORTS", DEFAULT_ALLOWED)) if folder else (),
        })
    return rows


def _duration(seconds) -> str:
    if seconds is None:
        return "not run yet"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def syllabus_table(rows) -> str:
    """Markdown table of :func:`syllabus_rows`, with the total points."""
    if not rows:
        return "*No lessons yet.*\n"
    out = ["| # | lesson | after | time to run | the exercise asks for | points | may import |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        after = ", ".join(r["prerequisites"]) or "—"
        asks = r["asks"] or "—"
        points = "—" if r["points"] is None else f"{r['points']:g}"
        if r["tests"] is not None and r["points"] is not None:
            points += f" ({r['tests']} tests)"
        imports = ", ".join(f"`{m}`" for m in r["imports"]) or "—"
        out.append(f"| {r['number']} | {r['lesson']} | {after} | {_duration(r['seconds'])} "
                   f"| {asks} | {points} | {imports} |")
    total = sum(r["points"] or 0 for r in rows)
    out.append(f"| | **total** | | | | **{total:g}** | |")
    return "\n".join(out) + "\n"
