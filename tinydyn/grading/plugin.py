"""The pytest plugin behind graded exercises.

Load it with ``-p tinydyn.grading.plugin`` (the runner does) or ``pytest_plugins`` in a
conftest (``exercises/conftest.py`` does). It gives graded tests three fixtures:

- ``impl``: the code under test. The exercise folder's ``student.py``, imported *by file path*
  under a name unique to that folder (so the ``student.py`` of two exercises never collide and a
  stray ``student`` module on ``sys.path`` is never graded instead), or, with ``--solution``,
  the ``SOLUTION`` object of ``tinydyn.grading.exercises.exNN_topic``.
- ``refs``: name -> array. The folder's ``references.npz``, or with ``--seed N``,
  ``make_references(N)`` recomputed from the library (so answers copied from the stored file
  fail). Every test gets fresh copies: a student function that writes into its input cannot
  corrupt the next test.
- ``check``: ``check.allclose(received, expected, name)`` and ``check.equal(...)``, whose
  failures say where, by how much, with which tolerance, and how to reproduce.

Each graded test gets one outcome (see :mod:`tinydyn.grading.report`), written to
``--results FILE`` after *every* test, so a process killed mid-run still leaves the outcomes of
the tests that finished and the name of the one that was running.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import linecache
import os
from pathlib import Path

import numpy as np
import pytest

from tinydyn.grading.guard import Guard, import_student, package_dirs, student_module_name
from tinydyn.grading.integrity import NotAllowed, check_source, load_policy, not_allowed_message
from tinydyn.grading.layout import (
    DEFAULT_SOLUTIONS,
    REFERENCES_FILE,
    STUDENT_FILE,
    solution_module_name,
)
from tinydyn.grading.report import (
    Check,
    ExerciseResult,
    Results,
    TestResult,
    format_results,
    trim,
)

_STATE = pytest.StashKey()
MAX_FRAMES = 8  # student frames shown per failure (innermost), after collapsing repeats


def pytest_addoption(parser):
    group = parser.getgroup("tinydyn grading")
    group.addoption("--solution", action="store_true", default=False,
                    help="grade the library's SOLUTION instead of student.py")
    group.addoption("--seed", type=int, default=None, metavar="N",
                    help="recompute references with make_references(N) instead of the .npz")
    group.addoption("--results", default=None, metavar="FILE",
                    help="write per-test outcomes and points to FILE (JSON)")
    group.addoption("--solutions-package", default=DEFAULT_SOLUTIONS, metavar="PKG",
                    help=f"package holding the exNN_topic modules (default {DEFAULT_SOLUTIONS})")


def pytest_configure(config):
    config.addinivalue_line("markers", "exercise(id): the exercise a graded test module belongs to")
    config.addinivalue_line("markers", "points(n): points a graded test is worth")
    config.stash[_STATE] = _Grading(config)


def stored_seed(root: Path):
    """The seed recorded in ``manifest.json`` beside the exercise folders, if any."""
    try:
        return json.loads((Path(root) / "manifest.json").read_text()).get("seed")
    except (OSError, ValueError, AttributeError):
        return None


class _Grading:
    """Per-session state: loaded implementations and references, and the outcomes so far."""

    def __init__(self, config):
        self.solution = config.getoption("--solution")
        self.seed = config.getoption("--seed")
        self.results_path = config.getoption("--results")
        self.package = config.getoption("--solutions-package")
        self.full_trace = config.getoption("tbstyle", "auto") == "long" or \
            config.getoption("fulltrace", False)
        self.records: dict = {}
        self.running = None
        self.finished = False
        self._impls: dict = {}
        self._refs: dict = {}
        self._modules: dict = {}  # folder -> the student module's name, once imported
        # Student code runs watched (see tinydyn.grading.guard); the library's solution does not.
        self.guard = None if self.solution else Guard(package_dirs(self.package)).install()
        self.write()

    # -- what the fixtures hand out -------------------------------------------------------
    def solution_module(self, folder: Path):
        return importlib.import_module(solution_module_name(folder.name, self.package))

    def impl(self, folder: Path):
        if folder not in self._impls:
            if self.solution:
                module = self.solution_module(folder)
                if not hasattr(module, "SOLUTION"):
                    raise AttributeError(f"tinydyn grading: {module.__name__} has no SOLUTION")
                self._impls[folder] = module.SOLUTION
            else:
                path = folder / STUDENT_FILE
                policy = load_policy(folder, self.package)
                findings = check_source(path, policy)
                if findings:  # never imported: its module-level code would already run
                    raise NotAllowed(not_allowed_message(findings, policy, path.name))
                # Failed imports are not cached: each test re-raises with a fresh traceback.
                self._modules[folder] = student_module_name(path, folder.name)
                self._impls[folder] = import_student(path, folder.name, self.guard, policy)
        return self._impls[folder]

    def refusals(self, folder: Path, nodeid: str) -> list:
        """Messages of what the guard refused the student's code during this test (or while
        importing student.py, which spoils every test), each once."""
        if self.guard is None or folder not in self._modules:
            return []
        messages = []
        for v in self.guard.violations_for(self._modules[folder], nodeid):
            if v.message not in messages:
                messages.append(v.message)
        return messages

    def impl_file(self, folder: Path) -> Path:
        if self.solution:
            return Path(self.solution_module(folder).__file__)
        return folder / STUDENT_FILE

    def refs(self, folder: Path) -> dict:
        if folder not in self._refs:
            if self.seed is not None:
                made = self.solution_module(folder).make_references(self.seed)
                if not isinstance(made, dict):
                    raise TypeError(f"tinydyn grading: make_references({self.seed}) returned "
                                    f"{type(made).__name__}, expected a dict of arrays")
                self._refs[folder] = {k: np.asarray(v) for k, v in made.items()}
            else:
                path = folder / REFERENCES_FILE
                if not path.is_file():
                    raise FileNotFoundError(f"tinydyn grading: {path} is missing; an instructor "
                                            f"makes it with `tinydyn grade --regenerate`")
                with np.load(path, allow_pickle=False) as data:
                    self._refs[folder] = {k: data[k] for k in data.files}
        return {k: v.copy() for k, v in self._refs[folder].items()}

    def seed_text(self, folder: Path) -> str:
        if self.seed is not None:
            return f"seed {self.seed} (recomputed; rerun with --seed {self.seed})"
        seed = stored_seed(folder.parent)
        return f"seed {seed} (stored {REFERENCES_FILE})" if seed is not None \
            else f"stored {REFERENCES_FILE}"

    # -- the results file -------------------------------------------------------------------
    def write(self):
        if not self.results_path:
            return
        data = {"solution": self.solution, "seed": self.seed, "finished": self.finished,
                "running": self.running, "tests": list(self.records.values())}
        path = Path(self.results_path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)  # atomic: a kill never leaves half a file

    def results(self) -> Results:
        by_exercise: dict = {}
        for rec in self.records.values():
            ex = by_exercise.setdefault(rec["exercise"], ExerciseResult(rec["exercise"]))
            ex.tests.append(TestResult(**rec))
        return Results(list(by_exercise.values()), solution=self.solution, seed=self.seed)


def _folder(request) -> Path:
    return Path(request.node.path).parent


@pytest.fixture
def impl(request):
    """The implementation under test: ``student.py`` or, with ``--solution``, the library's."""
    return request.config.stash[_STATE].impl(_folder(request))


@pytest.fixture
def refs(request):
    """Reference inputs and expected outputs, fresh copies for each test."""
    return request.config.stash[_STATE].refs(_folder(request))


@pytest.fixture
def check(request):
    """Comparison helpers whose failure messages say how to reproduce."""
    state = request.config.stash[_STATE]
    folder = _folder(request)
    return Check(folder.name, state.seed_text(folder))


# -- outcomes ---------------------------------------------------------------------------------

@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    # Recorded before the test starts, so a hard kill still says which test was running.
    state = item.config.stash.get(_STATE, None)
    if state is not None and item.get_closest_marker("exercise") is not None:
        state.running = item.nodeid
        if state.guard is not None:
            state.guard.phase = item.nodeid
        state.write()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("exercise")
    if marker is None:
        return  # not a graded test: leave it to pytest
    state = item.config.stash[_STATE]
    folder = Path(item.path).parent
    rec = state.records.get(item.nodeid)
    if rec is None:
        points = item.get_closest_marker("points")
        possible = float(points.args[0]) if points is not None and points.args else 1.0
        name = item.path.name + "::" + item.nodeid.split("::", 1)[-1]
        rec = state.records[item.nodeid] = {
            "exercise": folder.name, "name": name, "status": None, "points": 0.0,
            "max_points": possible, "message": "", "duration": 0.0}
    rec["duration"] += getattr(report, "duration", 0.0)

    refusals = state.refusals(folder, item.nodeid) if call.when in ("setup", "call") else []
    if refusals and rec["status"] in (None, "passed"):
        # recorded even if the student caught the NotAllowed: the test earns nothing
        rec["status"], rec["message"] = "not_allowed", "\n".join(refusals)
        if not state.full_trace:
            _rewrite(report, item, "not_allowed", rec["message"])
    elif call.when in ("setup", "call") and rec["status"] is None:
        if report.passed and call.when == "call":
            rec["status"] = "passed"
        elif not report.passed:
            status, message = _classify(call.excinfo, _impl_file(state, folder), folder)
            rec["status"], rec["message"] = status, message
            if not state.full_trace and (report.failed or status == "not_attempted"):
                _rewrite(report, item, status, message)
    elif call.when == "teardown":
        if report.failed and rec["status"] == "passed":
            rec["status"] = "error"
            rec["message"] = "teardown failed:\n" + _failure_text(call.excinfo, None, folder)
        if rec["status"] is None:
            rec["status"], rec["message"] = "error", "the test did not run"
        rec["points"] = rec["max_points"] if rec["status"] == "passed" else 0.0
        rec["message"] = trim(rec["message"])
        state.running = None
        state.write()


def _impl_file(state, folder):
    try:
        return state.impl_file(folder)
    except Exception:  # a broken solutions package is reported by the impl fixture itself
        return folder / STUDENT_FILE


def _classify(excinfo, impl_file, folder):
    """(status, message) for a setup or call phase that did not pass."""
    if excinfo is None:
        return "error", "the test did not pass (no exception recorded)"
    if excinfo.errisinstance(pytest.skip.Exception):
        return "error", f"skipped, which earns no points: {excinfo.value}"
    if excinfo.errisinstance(NotAllowed):
        return "not_allowed", str(excinfo.value)
    frames = _frames_in(excinfo, impl_file)
    innermost_is_impl = bool(frames) and frames[-1] is excinfo.traceback[-1]
    if excinfo.errisinstance(NotImplementedError) and (
            frames or str(excinfo.value).startswith("exercise")):
        return "not_attempted", str(excinfo.value) or "NotImplementedError"
    if excinfo.errisinstance((AssertionError, pytest.fail.Exception)) and not innermost_is_impl:
        return "failed", _failure_text(excinfo, impl_file, folder)
    return "error", _failure_text(excinfo, impl_file, folder)


def _same_file(a, b) -> bool:
    try:
        return b is not None and Path(a).resolve() == Path(b).resolve()
    except (OSError, TypeError, ValueError):
        return False


def _frames_in(excinfo, path) -> list:
    return [entry for entry in excinfo.traceback if _same_file(entry.path, path)]


def _failure_text(excinfo, impl_file, folder) -> str:
    """The exception message plus only the traceback frames in the implementation's file.

    Frames in pytest, NumPy or the grader teach nothing; when the implementation has no frame
    (it returned a wrong value, or the error is in how the test used its result), the innermost
    frame inside the exercise folder shows which call was being checked.
    """
    frames = _frames_in(excinfo, impl_file) if impl_file is not None else []
    header = f"Traceback ({Path(impl_file).name} frames only):" if frames else None
    if not frames and not excinfo.errisinstance(AssertionError):
        inside = [e for e in excinfo.traceback if _is_within(e.path, folder)]
        frames = inside[-1:]
        header = "Raised while running:" if frames else None
    lines = [header] if header else []
    runs = _collapse_repeats(frames)
    if len(runs) > MAX_FRAMES:  # keep the innermost frames, where the error happened
        lines.append(f"  ... ({len(runs) - MAX_FRAMES} outer frames not shown)")
        runs = runs[-MAX_FRAMES:]
    for entry, repeats in runs:
        where = Path(entry.path)
        lines.append(f'  File "{where.parent.name}/{where.name}", line {entry.lineno + 1}, '
                     f"in {entry.name}")
        source = linecache.getline(str(where), entry.lineno + 1).strip()
        if source:
            lines.append(f"    {source}")
        if repeats:
            lines.append(f"  [the frame above repeated {repeats} more times]")
    text = excinfo.exconly()
    if excinfo.errisinstance(AssertionError) and text.startswith("AssertionError: "):
        text = text[len("AssertionError: "):]
    # the frames are capped above, so the exception's own words always survive the trim
    return "\n".join(lines + [trim(text)])


def _collapse_repeats(frames) -> list:
    """[(frame, how many identical frames follow it)]: a runaway recursion becomes one line,
    as in Python's own tracebacks, instead of a thousand that push the error out of view."""
    runs = []
    for entry in frames:
        key = (str(entry.path), entry.lineno, entry.name)
        if runs and runs[-1][1] == key:
            runs[-1][2] += 1
        else:
            runs.append([entry, key, 0])
    return [(entry, repeats) for entry, _, repeats in runs]


def _is_within(path, folder) -> bool:
    try:
        Path(path).resolve().relative_to(folder.resolve())
        return True
    except (ValueError, OSError, TypeError):
        return False


def _rewrite(report, item, status, message):
    """Show students the trimmed message instead of pytest's full traceback."""
    if status == "not_attempted":
        report.outcome = "skipped"  # pytest's summary then reads "N skipped", not a wall of red
        report.longrepr = (str(item.path), item.location[1] + 1, f"not attempted: {message}")
    else:
        # pytest's one-line summary shows the first line: make it the most telling one.
        lines = message.splitlines() or [""]
        headline = lines[0] if status in ("failed", "not_allowed") else lines[-1]
        report.outcome = "failed"  # a not-allowed test may have passed its checks
        report.longrepr = f"[{status}] {headline}\n{message}"


def pytest_sessionfinish(session):
    state = session.config.stash.get(_STATE, None)
    if state is not None:
        state.finished, state.running = True, None
        state.write()
        if state.guard is not None:
            state.guard.uninstall()


def pytest_terminal_summary(terminalreporter):
    state = terminalreporter.config.stash.get(_STATE, None)
    if state is not None and state.records:
        terminalreporter.write_sep("=", "tinydyn grading")
        terminalreporter.write_line(format_results(state.results(), messages=False))
