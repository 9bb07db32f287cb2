"""Execute the lessons into notebooks, one fresh kernel per lesson.

A lesson is a jupytext percent-format script ``lessons/NN_topic.py``. Executing it here, rather
than in the docs plugin, buys what the plugin lacks: a per-cell timeout, a working folder we
choose (the repository root), a Numba cache shared by every lesson, a clear failure (lesson, cell,
traceback), and a cache that also notices changes to the library the lesson imports.

The cache key of a lesson is the sha256 of its source and the sha256 of every ``tinydyn/**/*.py``;
both are stored next to the executed notebook in ``NN_topic.hash.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tinydyn.course.paths import CoursePaths

__all__ = [
    "LessonError",
    "LessonResult",
    "find_lessons",
    "h1_count",
    "library_hash",
    "run_lesson",
    "run_lessons",
]

LESSON_PATTERN = re.compile(r"^(\d\d)_\w+\.py$")
SLOW_LESSON_SECONDS = 60.0
KERNEL_NAME = "tinydyn-python"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


class LessonError(RuntimeError):
    """A lesson could not be executed; the message names the lesson, the cell and the cause."""


@dataclass(frozen=True)
class LessonResult:
    """What happened to one lesson: its executed notebook, and whether the cache was used."""

    lesson: Path
    notebook: Path
    seconds: float
    cached: bool


def strip_ansi(text: str) -> str:
    """Drop terminal colour codes (IPython colours its tracebacks)."""
    return _ANSI.sub("", text)


def _sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def library_hash(library: Path) -> str:
    """sha256 over the relative path and bytes of every ``*.py`` under ``library``."""
    digest = hashlib.sha256()
    for path in sorted(Path(library).rglob("*.py")):
        digest.update(path.relative_to(library).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def _normalize_number(value) -> str:
    text = str(value).strip()
    if not text.isdigit() or len(text) > 2:
        raise ValueError(
            f"find_lessons: lesson number must be one or two digits (e.g. 1 or 01), got {value!r}"
        )
    return text.zfill(2)


def find_lessons(lessons_dir: Path, numbers=None) -> list[Path]:
    """The lessons ``NN_topic.py`` in ``lessons_dir`` sorted by number, or only those whose
    number is in ``numbers`` (strings or ints: ``"1"``, ``"01"`` and ``1`` all name lesson 01)."""
    lessons_dir = Path(lessons_dir)
    found = (
        sorted(p for p in lessons_dir.iterdir() if LESSON_PATTERN.match(p.name))
        if lessons_dir.is_dir()
        else []
    )
    if numbers is None or len(numbers) == 0:
        return found
    wanted = [_normalize_number(n) for n in numbers]
    by_number = {p.name[:2]: p for p in found}
    missing = [n for n in wanted if n not in by_number]
    if missing:
        have = ", ".join(sorted(by_number)) or "none"
        raise ValueError(
            f"find_lessons: no lesson numbered {', '.join(missing)} in {lessons_dir} "
            f"(have: {have})"
        )
    return [by_number[n] for n in dict.fromkeys(wanted)]


def _write_kernel_spec(kernels_dir: Path) -> Path:
    """A kernel spec running ipykernel on *this* interpreter, so lessons import the same
    tinydyn (and the same NumPy/Numba) as the command that runs them, whatever ``python3``
    kernel the machine has registered."""
    spec_dir = kernels_dir / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (tinydyn lessons)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return kernels_dir


def _kernel_env(paths: CoursePaths) -> dict:
    env = dict(os.environ)
    env["NUMBA_CACHE_DIR"] = str(paths.numba_cache)
    # The inline backend draws with Agg (no display needed) and, unlike plain Agg, sends each
    # figure to the notebook as a PNG output; MPLBACKEND=Agg would leave the pages without plots.
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    env["PYTHONHASHSEED"] = "0"
    env.pop("JPY_PARENT_PID", None)
    return env


def _cell_start_lines(source: str) -> list[int]:
    """1-based line numbers of the ``# %%`` cell markers of a percent-format script."""
    return [i for i, line in enumerate(source.splitlines(), 1) if line.startswith("# %%")]


def _describe_cell(lesson: Path, nb, index: int | None) -> str:
    if index is None:
        return f"lesson {lesson.name}"
    starts = _cell_start_lines(lesson.read_text(encoding="utf-8"))
    where = f"cell {index + 1} of {len(nb.cells)}"
    # jupytext makes one cell per marker (plus a leading cell when code precedes the first
    # marker), so the marker line is only quoted when the counts agree.
    if len(starts) == len(nb.cells):
        where += f" (line {starts[index]})"
    return f"lesson {lesson.name}, {where}"


def _error_text(cell) -> str:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return strip_ansi("\n".join(output.get("traceback", []))) or (
                f"{output.get('ename')}: {output.get('evalue')}"
            )
    return ""


def _cache_key(lesson: Path, lib_hash: str) -> dict:
    return {"lesson": lesson.name, "lesson_sha256": _sha256_file(lesson),
            "library_sha256": lib_hash}


def _cached(notebook: Path, key_file: Path, key: dict) -> bool:
    if not (notebook.is_file() and key_file.is_file()):
        return False
    try:
        stored = json.loads(key_file.read_text())
    except (OSError, ValueError):
        return False
    return all(stored.get(k) == v for k, v in key.items())


def run_lesson(lesson: Path, paths: CoursePaths, *, timeout: float = 120.0, force: bool = False,
               lib_hash: str | None = None) -> LessonResult:
    """Execute one lesson into ``paths.notebooks/<stem>.ipynb`` (or reuse it when the lesson
    and the library are unchanged). Raises :class:`LessonError` on a failing or timed-out cell
    or a dead kernel, after removing any stale notebook of that lesson."""
    import jupytext
    import nbformat
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    if not (isinstance(timeout, (int, float)) and not isinstance(timeout, bool) and timeout > 0):
        raise ValueError(
            f"run_lesson: timeout must be a positive number of seconds, got {timeout!r}")
    lesson = Path(lesson).resolve()
    notebook = paths.notebooks / f"{lesson.stem}.ipynb"
    key_file = paths.notebooks / f"{lesson.stem}.hash.json"
    key = _cache_key(lesson, lib_hash or library_hash(paths.library))
    if not force and _cached(notebook, key_file, key):
        return LessonResult(lesson, notebook, 0.0, cached=True)

    for stale in (notebook, key_file):
        stale.unlink(missing_ok=True)
    paths.notebooks.mkdir(parents=True, exist_ok=True)
    paths.numba_cache.mkdir(parents=True, exist_ok=True)
    nb = jupytext.read(lesson)
    km = AsyncKernelManager(
        kernel_name=KERNEL_NAME,
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(_write_kernel_spec(paths.kernels))]),
    )
    current = {"index": None}

    def remember(cell, cell_index, **_):
        current["index"] = cell_index

    client = NotebookClient(
        nb, km=km, timeout=timeout, allow_errors=False, kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(paths.root)}}, on_cell_start=remember,
    )
    log_file = paths.notebooks / f"{lesson.stem}.kernel.log"
    started = time.perf_counter()
    try:
        # The kernel's own chatter (transport warnings, crash reports) goes to a log file, not
        # the reader's terminal; cell outputs and errors still arrive through the notebook.
        with open(log_file, "w") as kernel_log:
            client.execute(env=_kernel_env(paths), stdout=kernel_log, stderr=kernel_log)
    except CellTimeoutError:
        raise LessonError(
            f"{_describe_cell(lesson, nb, current['index'])} timed out after {timeout:g} s "
            f"(per-cell limit; raise it with --timeout)"
        ) from None
    except DeadKernelError as err:
        raise LessonError(
            f"{_describe_cell(lesson, nb, current['index'])}: the kernel died ({err}); "
            f"its log: {log_file}"
        ) from None
    except CellExecutionError as err:
        index = current["index"]
        text = _error_text(nb.cells[index]) if index is not None else ""
        raise LessonError(
            f"{_describe_cell(lesson, nb, index)} failed:\n{text or strip_ansi(str(err))}"
        ) from None
    seconds = time.perf_counter() - started

    # Readers download this notebook: name the standard kernel, not our private spec.
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    tmp = notebook.with_suffix(".ipynb.tmp")
    nbformat.write(nb, str(tmp))
    os.replace(tmp, notebook)
    key_file.write_text(json.dumps({**key, "seconds": round(seconds, 2)}, indent=1))
    return LessonResult(lesson, notebook, seconds, cached=False)


def h1_count(lesson: Path) -> int:
    """How many H1 headings (``# # Title`` in a percent-format markdown cell) a lesson has."""
    count, in_markdown = 0, False
    for line in Path(lesson).read_text(encoding="utf-8").splitlines():
        if line.startswith("# %%"):
            in_markdown = "[markdown]" in line or "[md]" in line
        elif in_markdown and re.match(r"^# # \S", line):
            count += 1
    return count


def run_lessons(paths: CoursePaths, numbers=None, *, timeout: float = 120.0, force: bool = False,
                log=print) -> list[LessonResult]:
    """Execute the chosen lessons one after the other (each in its own kernel process), logging
    one line per lesson with its time. Every lesson is attempted; if any fails, a
    :class:`LessonError` listing all failures is raised at the end."""
    lessons = find_lessons(paths.lessons, numbers)
    if not lessons:
        log(f"no lessons found in {paths.lessons}")
        return []
    lib_hash = library_hash(paths.library)
    results, failures = [], []
    for lesson in lessons:
        try:
            result = run_lesson(lesson, paths, timeout=timeout, force=force, lib_hash=lib_hash)
        except LessonError as err:
            log(f"  {lesson.name:<28} FAILED")
            failures.append(str(err))
            continue
        results.append(result)
        if h1_count(lesson) != 1:
            log(f"  warning: {lesson.name} has {h1_count(lesson)} H1 titles; a lesson has "
                f"exactly one (the site uses it as the page title)")
        if result.cached:
            log(f"  {lesson.name:<28} cached (lesson and library unchanged)")
        else:
            log(f"  {lesson.name:<28} executed in {result.seconds:6.1f} s")
            if result.seconds > SLOW_LESSON_SECONDS:
                log(f"  warning: {lesson.name} took {result.seconds:.0f} s; lessons should run "
                    f"in under {SLOW_LESSON_SECONDS:.0f} s on a 2-core machine")
    if failures:
        raise LessonError(f"{len(failures)} of {len(lessons)} lessons failed:\n\n"
                          + "\n\n".join(failures))
    return results
