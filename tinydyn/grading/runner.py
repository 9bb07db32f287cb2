"""Grade exercise folders, each in its own pytest subprocess with a hard wall-clock kill.

Why a subprocess per exercise: a student's jitted ``while True`` loop ignores signals (so
pytest-timeout cannot stop it), ``os._exit`` or a segfault takes the interpreter down, and
``print`` in a loop can produce gigabytes. Out here we can kill the whole process group at the
deadline, keep only the tail of the output, and still grade the next exercise.

Points possible come from reading the test files with :mod:`ast` (it cannot hang or crash, unlike
``--collect-only`` would on a broken test module); outcomes come from the plugin's results file,
which it rewrites after every test. A test that never reported is a ``timeout`` if the exercise
was killed, an ``error`` otherwise: never a pass.
"""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tinydyn._checks import check_float, check_int, fail
from tinydyn.grading.layout import DEFAULT_SOLUTIONS
from tinydyn.grading.layout import FOLDER_NAME as _FOLDER
from tinydyn.grading.report import ExerciseResult, Results, TestResult, trim

OUTPUT_BYTES = 20_000
OUTPUT_LINES = 200
# One thread per library: graded numbers must not depend on how many cores the grader has.
PINNED_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0",
              # Only our plugin: an installed pytest-randomly or xdist must not reorder grading.
              "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}


def exercise_folders(root="exercises", exercises=None, fn: str = "grade") -> list:
    """The ``NN_topic`` folders under ``root``, all or those named by ``exercises``.

    ``exercises`` items may be numbers (``1``, ``"01"``) or folder names (``"01_autograd"``).
    """
    root = Path(root)
    if not root.is_dir():
        fail(fn, f"exercises root {str(root)!r} is not a folder (run from the repository root "
                 f"or pass the root explicitly)")
    found = sorted((d for d in root.iterdir() if d.is_dir() and _FOLDER.match(d.name)),
                   key=lambda d: (int(_FOLDER.match(d.name).group(1)), d.name))
    if exercises is None:
        return found
    if isinstance(exercises, (str, int)):
        exercises = [exercises]
    chosen = []
    for wanted in exercises:
        if isinstance(wanted, bool) or not isinstance(wanted, (str, int)):
            fail(fn, f"exercise must be a number or a folder name, got "
                     f"{type(wanted).__name__} {wanted!r}", TypeError)
        text = str(wanted)
        hits = [d for d in found if d.name == text or
                (text.isdigit() and int(_FOLDER.match(d.name).group(1)) == int(text))]
        if not hits:
            available = ", ".join(d.name for d in found) or "none"
            fail(fn, f"no exercise {text!r} in {str(root)!r}; available: {available}")
        chosen.extend(d for d in hits if d not in chosen)
    return chosen


@dataclass
class StaticTest:
    """A graded test as read from source: ``file::name``, points per case, number of cases."""

    __test__ = False

    name: str
    points: float
    cases: int | None  # None when a parametrize list is not a literal


def list_tests(folder) -> list:
    """Graded tests of an exercise folder, from the source alone (never imports it)."""
    tests = []
    for path in sorted(Path(folder).glob("test_*.py")):
        try:
            tree = ast.parse(path.read_text(), filename=str(path))
        except (SyntaxError, ValueError, OSError):
            continue  # pytest will report it as a collection error; the runner as an error
        if not _marks_exercise(tree):
            continue
        for node, prefix in _test_functions(tree):
            points, cases = 1.0, 1
            for deco in node.decorator_list:
                name, args = _decorator(deco)
                if name == "points" and args:
                    points = _literal_number(args[0], default=1.0)
                elif name == "parametrize" and len(args) >= 2:
                    n = len(args[1].elts) if isinstance(args[1], (ast.List, ast.Tuple)) else None
                    cases = None if n is None or cases is None else cases * n
            tests.append(StaticTest(f"{path.name}::{prefix}{node.name}", points, cases))
    return tests


def _marks_exercise(tree) -> bool:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            return any(_decorator(n)[0] == "exercise" for n in ast.walk(node.value)
                       if isinstance(n, ast.Call))
    return False


def _test_functions(tree):
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    for node in tree.body:
        if isinstance(node, functions) and node.name.startswith("test"):
            yield node, ""
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for inner in node.body:
                if isinstance(inner, functions) and inner.name.startswith("test"):
                    yield inner, f"{node.name}::"


def _decorator(node):
    """(last attribute name, positional args) of ``pytest.mark.points(2)`` and the like."""
    if not isinstance(node, ast.Call):
        return None, []
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    args = list(node.args) + [k.value for k in node.keywords if k.arg == "argvalues"]
    return name, args


def _literal_number(node, default):
    try:
        value = ast.literal_eval(node)
    except ValueError:
        return default
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else default


def grade(exercises=None, root="exercises", solution: bool = False, seed=None,
          timeout: float = 120.0, solutions: str = DEFAULT_SOLUTIONS, env=None,
          log=None) -> Results:
    """Grade exercise folders under ``root``, one pytest subprocess each.

    ``solution`` grades ``SOLUTION`` from the ``solutions`` package instead of ``student.py``;
    ``seed`` recomputes references with ``make_references(seed)``; ``timeout`` is the wall-clock
    limit per exercise in seconds; ``env`` adds environment variables for the subprocess.
    """
    if not isinstance(solution, bool):
        fail("grade", f"solution must be a bool, got {type(solution).__name__}", TypeError)
    if seed is not None:
        seed = check_int("grade", "seed", seed, min_value=0)
    timeout = check_float("grade", "timeout", timeout, low=0.0, low_open=True)
    results = Results(solution=solution, seed=seed, timeout=timeout)
    for folder in exercise_folders(root, exercises):
        if log is not None:
            log(f"grading {folder.name} ...")
        results.exercises.append(grade_exercise(folder, solution=solution, seed=seed,
                                                timeout=timeout, solutions=solutions, env=env))
    return results


def grade_exercise(folder, solution=False, seed=None, timeout=120.0,
                   solutions=DEFAULT_SOLUTIONS, env=None) -> ExerciseResult:
    """Run one exercise folder's tests in a subprocess and merge outcomes with the static list."""
    folder = Path(folder).resolve()
    static = list_tests(folder)
    with tempfile.TemporaryDirectory(prefix="tinydyn-grade-") as tmp:
        results_file, ini = Path(tmp) / "results.json", Path(tmp) / "pytest.ini"
        ini.write_text("[pytest]\n")  # ignore the project's pytest settings: same run anywhere
        cmd = [sys.executable, "-m", "pytest", str(folder), "-p", "tinydyn.grading.plugin",
               "-p", "no:cacheprovider", "-q", "--capture=no", "-c", str(ini),
               "--rootdir", str(folder.parent), "--confcutdir", str(folder.parent),
               "--import-mode=importlib", "--results", str(results_file),
               "--solutions-package", solutions]
        if solution:
            cmd.append("--solution")
        if seed is not None:
            cmd += ["--seed", str(seed)]
        start = time.perf_counter()
        returncode, timed_out, tail = run_killable(cmd, timeout, _environment(env),
                                                   cwd=folder.parent)
        duration = time.perf_counter() - start
        try:
            data = json.loads(results_file.read_text())
        except (OSError, ValueError):
            data = {}
    result = ExerciseResult(folder.name, returncode=returncode, timed_out=timed_out,
                            duration=duration, output_tail=tail)
    result.tests = _merge(folder.name, static, data, result, timeout)
    return result


def _environment(extra) -> dict:
    env = dict(os.environ)
    for leak in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
        env.pop(leak, None)
    env.update(PINNED_ENV)
    for key, value in (extra or {}).items():
        if key == "PYTHONPATH" and env.get("PYTHONPATH"):
            value = f"{value}{os.pathsep}{env['PYTHONPATH']}"
        env[key] = str(value)
    return env


def run_killable(cmd, timeout: float, env=None, cwd=None):
    """Run ``cmd`` in its own process group; kill the group at ``timeout`` seconds.

    Returns (returncode, timed_out, tail of the combined output). The output is drained by a
    thread that keeps only the last ``OUTPUT_BYTES``, so a flood of prints costs no memory.
    """
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                            start_new_session=True)
    kept = bytearray()

    def drain():
        for chunk in iter(lambda: proc.stdout.read1(65536), b""):
            kept.extend(chunk)
            del kept[:-OUTPUT_BYTES]

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        _kill_group(proc)  # also reaps children a finished test left behind
        proc.wait()
    reader.join(timeout=5.0)
    proc.stdout.close()
    text = bytes(kept).decode("utf-8", errors="replace")
    return proc.returncode, timed_out, trim(text, max_lines=OUTPUT_LINES,
                                            max_chars=OUTPUT_BYTES, keep="tail")


def _kill_group(proc):
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)
        else:  # pragma: no cover - Windows has no process groups of this kind
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass


def _base(name: str) -> str:
    return re.sub(r"\[.*\]$", "", name)


def _describe_exit(code) -> str:
    if code is not None and code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _merge(exercise: str, static: list, data: dict, result: ExerciseResult, timeout) -> list:
    """Reported outcomes where the plugin wrote them; timeout/error for every test it did not."""
    reported: dict = {}
    for rec in data.get("tests", []):
        reported.setdefault(_base(rec["name"]), []).append(TestResult(**rec))
    running = data.get("running")
    running = (Path(running.split("::", 1)[0]).name + "::" + running.split("::", 1)[1]
               if running and "::" in running else None)
    clean = bool(data.get("finished")) and not result.timed_out
    tail_given = False
    tests = []
    for st in static:
        got = reported.pop(st.name, [])
        tests.extend(got)
        missing = (st.cases or 1) - len(got) if st.cases or not got else 0
        if missing <= 0:
            continue
        is_running = running is not None and _base(running) == st.name
        if result.timed_out:
            status = "timeout"
            message = (f"timed out: still running when the exercise hit its {timeout:g} s "
                       f"wall-clock limit and was killed" if is_running else
                       f"not run: the exercise was killed at its {timeout:g} s wall-clock limit")
        else:
            status = "error"
            if clean:
                message = "not reported by pytest (was the test collected?)"
            else:
                verb = _describe_exit(result.returncode)
                message = (f"crashed: the test process {verb} while running this test"
                           if is_running else f"not run: the test process {verb} before this test")
            if not tail_given and (is_running or running is None) and result.output_tail:
                message += "\n--- last output ---\n" + trim(result.output_tail, 30, 3000, "tail")
                tail_given = True
        tests.append(TestResult(exercise, st.name, status, 0.0, st.points * missing, message))
    for leftover in reported.values():
        tests.extend(leftover)
    return tests
