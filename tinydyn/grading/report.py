"""Grading results: the records, the printed table and the Gradescope-compatible JSON.

One vocabulary is shared by the plugin (inside the pytest process), the runner (outside it) and
the reports, so a student running ``pytest exercises/01_autograd`` and an instructor running
``tinydyn grade --json out.json`` see the same statuses and the same points:

==============  ======================================================================
passed          the test ran and every check held
failed          a check did not hold (wrong values, wrong shape, wrong decision)
error           the code raised an exception, or the test process crashed
timeout         the exercise was killed at its wall-clock limit before this test ended
not_attempted   the student's function still raises its ``NotImplementedError`` stub
not_allowed     the student's file imports or reads what its exercise does not allow
                (see :mod:`tinydyn.grading.integrity`); the message names the line
==============  ======================================================================

Only ``passed`` earns points.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

STATUSES = ("passed", "failed", "error", "timeout", "not_attempted", "not_allowed")
MAX_MESSAGE_CHARS = 4000
MAX_MESSAGE_LINES = 60


@dataclass
class TestResult:
    """The outcome of one graded test (one parametrized case counts as one test)."""

    __test__ = False  # keep pytest from collecting this class

    exercise: str  # the exercise folder name, e.g. "01_autograd"
    name: str  # "test_file.py::test_name[case]"
    status: str
    points: float  # earned
    max_points: float  # possible
    message: str = ""
    duration: float = 0.0


@dataclass
class ExerciseResult:
    """Every test of one exercise folder, plus how its test process ended."""

    name: str
    tests: list = field(default_factory=list)
    returncode: int | None = None
    timed_out: bool = False
    duration: float = 0.0
    output_tail: str = ""

    @property
    def score(self) -> float:
        return sum(t.points for t in self.tests)

    @property
    def max_score(self) -> float:
        return sum(t.max_points for t in self.tests)


@dataclass
class Results:
    """A whole grading run."""

    exercises: list = field(default_factory=list)
    solution: bool = False
    seed: int | None = None
    timeout: float | None = None

    @property
    def score(self) -> float:
        return sum(e.score for e in self.exercises)

    @property
    def max_score(self) -> float:
        return sum(e.max_score for e in self.exercises)

    @property
    def tests(self) -> list:
        return [t for e in self.exercises for t in e.tests]


def trim(text: str, max_lines: int = MAX_MESSAGE_LINES, max_chars: int = MAX_MESSAGE_CHARS,
         keep: str = "head") -> str:
    """Cap a message; ``keep="tail"`` keeps the end (where a crash's last words are)."""
    lines = text.rstrip().splitlines()
    if len(lines) > max_lines:
        cut = len(lines) - max_lines
        lines = (lines[:max_lines] + [f"... ({cut} more lines)"] if keep == "head"
                 else [f"... ({cut} earlier lines)"] + lines[-max_lines:])
    text = "\n".join(lines)
    if len(text) > max_chars:
        text = (text[:max_chars] + "\n... (trimmed)" if keep == "head"
                else "(trimmed) ...\n" + text[-max_chars:])
    return text


def _points(x: float) -> str:
    return f"{x:g}"


def format_results(results: Results, messages: bool = True) -> str:
    """The human report: one table per exercise, the total, then the failure messages."""
    out = []
    mode = "the library's solution" if results.solution else "student code"
    refs = f"references recomputed at seed {results.seed}" if results.seed is not None \
        else "stored references"
    out.append(f"tinydyn grade — {mode}, {refs}")
    for ex in results.exercises:
        out.append("")
        out.extend(format_exercise(ex))
    out.append("")
    out.append(f"TOTAL {_points(results.score)} / {_points(results.max_score)} points")
    if messages:
        details = _messages(results.exercises)
        if details:
            out.append("")
            out.extend(details)
    return "\n".join(out)


def format_exercise(ex: ExerciseResult) -> list:
    """The table lines of one exercise."""
    width = max([len(t.name) for t in ex.tests] + [len("test")])
    rows = [f"exercise {ex.name}"]
    if ex.timed_out:
        rows[0] += "  (killed at the time limit)"
    elif not ex.tests:
        rows[0] += "  (no graded tests found)"
    rows.append(f"  {'test':<{width}}  {'status':<13}  points")
    for t in ex.tests:
        status = t.status.replace("_", " ")
        rows.append(f"  {t.name:<{width}}  {status:<13}  "
                    f"{_points(t.points)} / {_points(t.max_points)}")
    rows.append(f"  {'subtotal':<{width}}  {'':<13}  "
                f"{_points(ex.score)} / {_points(ex.max_score)}")
    return rows


def _messages(exercises) -> list:
    out = []
    for ex in exercises:
        stubs, refused = [], []
        for t in ex.tests:
            if t.status in ("not_attempted", "not_allowed"):
                # one stub, or one refused import, is usually hit by several tests
                seen = stubs if t.status == "not_attempted" else refused
                if t.message not in seen:
                    seen.append(t.message)
                continue
            if t.status == "passed" or not t.message:
                continue
            out.append(f"--- {ex.name} :: {t.name} ({t.status.replace('_', ' ')})")
            out.append(trim(t.message))
        out.extend(f"--- {ex.name}: not attempted: {message}" for message in stubs)
        out.extend(f"--- {ex.name}: {message}" for message in refused)
    return out


def versions() -> dict:
    """Versions that decide whether two grading runs can be compared."""
    import numpy

    found = {"python": platform.python_version(), "numpy": numpy.__version__}
    try:
        import numba

        found["numba"] = numba.__version__
    except ImportError:  # pragma: no cover - numba is a hard dependency
        found["numba"] = None
    try:
        from tinydyn import __version__

        found["tinydyn"] = __version__
    except ImportError:  # pragma: no cover
        found["tinydyn"] = None
    return found


def jit_enabled() -> bool:
    """Numba reads NUMBA_DISABLE_JIT as an integer; anything but 0 disables the JIT."""
    value = os.environ.get("NUMBA_DISABLE_JIT", "0").strip() or "0"
    try:
        return int(value) == 0
    except ValueError:
        return True


def to_gradescope(results: Results, output: str = "") -> dict:
    """Gradescope's ``results.json`` (checked by :func:`tinydyn.grading.gradescope.validate`).

    Gradescope reads ``score``, ``max_score``, ``output`` and ``tests`` (each with ``name``,
    ``score``, ``max_score``, ``status`` in {"passed", "failed"} and ``output``). Our own
    fields go where the specification keeps room for them, ``extra_data``: each test's
    ``outcome`` (one of :data:`STATUSES`) and exercise, the run's seed, platform and versions.
    """
    tests = []
    for ex in results.exercises:
        for t in ex.tests:
            tests.append({
                "name": f"{ex.name}::{t.name}",
                "score": t.points,
                "max_score": t.max_points,
                "status": "passed" if t.status == "passed" else "failed",
                "output": trim(t.message) if t.message else t.status.replace("_", " "),
                "visibility": "visible",
                "extra_data": {"outcome": t.status, "exercise": ex.name,
                               "duration": round(t.duration, 4)},
            })
    data = {
        "score": results.score,
        "max_score": results.max_score,
        "tests": tests,
        "extra_data": {
            "exercises": [{"name": e.name, "score": e.score, "max_score": e.max_score,
                           "returncode": e.returncode, "timed_out": e.timed_out,
                           "duration": round(e.duration, 3)} for e in results.exercises],
            "solution": results.solution,
            "seed": results.seed,
            "timeout": results.timeout,
            "platform": platform.platform(),
            "versions": versions(),
            "jit": jit_enabled(),
            "python_executable": sys.executable,
        },
    }
    if output:
        data["output"] = output
    return data


def write_json(results: Results, path, output: str = "") -> Path:
    """Write :func:`to_gradescope` to ``path`` atomically (a grader never reads half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(to_gradescope(results, output), indent=2) + "\n")
    os.replace(tmp, path)
    return path


# -- comparison messages (the `check` fixture) ----------------------------------------------

class Check:
    """``allclose`` and ``equal`` that raise AssertionError with a useful message."""

    def __init__(self, exercise: str, seed_text: str):
        self.exercise = exercise
        self.seed_text = seed_text

    def allclose(self, received, expected, name: str, rtol: float = 1e-6, atol: float = 1e-8):
        expected = np.asarray(expected)
        received = self._array(received, expected, name)
        close = np.isclose(received, expected, rtol=rtol, atol=atol, equal_nan=True)
        if not close.all():
            self._differ(received, expected, name, ~close, f"rtol={rtol:g}, atol={atol:g}")

    def equal(self, received, expected, name: str):
        expected = np.asarray(expected)
        received = self._array(received, expected, name)
        same = received == expected
        if expected.dtype.kind == "f":
            same |= np.isnan(received) & np.isnan(expected)
        if not np.all(same):
            self._differ(received, expected, name, ~np.asarray(same), "exact equality")

    def _reproduce(self, received, expected) -> str:
        return (f"  to reproduce: exercise {self.exercise}, {self.seed_text}; expected shape "
                f"{expected.shape} {expected.dtype}, received shape {received.shape} "
                f"{received.dtype}")

    def _array(self, received, expected, name):
        if received is None:
            raise AssertionError(f"{name}: expected an array of shape {expected.shape}, received "
                                 f"None (does the function return its result?)")
        if type(received).__name__ == "Tensor" and hasattr(received, "data"):
            received = received.data
        array = np.asarray(received)
        if array.dtype.kind not in "biuf":
            raise AssertionError(f"{name}: expected a numeric array of shape {expected.shape}, "
                                 f"received {type(received).__name__} with dtype {array.dtype}")
        if array.shape != expected.shape:
            raise AssertionError(f"{name}: shape mismatch: expected {expected.shape}, received "
                                 f"{array.shape}\n{self._reproduce(array, expected)}")
        return array

    def _differ(self, received, expected, name, bad, tolerance):
        where = [tuple(int(i) for i in idx) for idx in np.argwhere(bad)[:1]] or [()]
        first = where[0]
        lines = [f"{name}: {int(np.sum(bad))} of {expected.size} values differ "
                 f"({tolerance})",
                 f"  first differing index {first}: expected {_show(expected[first])}, "
                 f"received {_show(received[first])}"]
        if expected.dtype.kind in "iufb" and received.dtype.kind in "iufb" and expected.size:
            diff = np.abs(received.astype(np.float64) - expected.astype(np.float64))
            diff = np.where(np.isnan(diff), np.inf, diff)
            worst = np.unravel_index(int(np.argmax(diff)), expected.shape)
            worst = tuple(int(i) for i in worst)
            lines.append(f"  largest difference at {worst}: expected {_show(expected[worst])}, "
                         f"received {_show(received[worst])} (|difference| {_show(diff[worst])})")
        lines.append(self._reproduce(received, expected))
        raise AssertionError("\n".join(lines))


def _show(value) -> str:
    """A NumPy scalar as its plain Python repr: full precision, no ``np.float64(...)``."""
    return repr(value.item()) if hasattr(value, "item") else repr(value)
