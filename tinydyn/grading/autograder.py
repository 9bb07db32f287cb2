"""A Gradescope autograder bundle: ``tinydyn grade --make-autograder DIR_OR_ZIP [NN ...]``.

The bundle (a folder, or a ``.zip`` to upload) holds what Gradescope's specification asks for
at its root, ``setup.sh`` and ``run_autograder``, plus everything they need::

    setup.sh                 once, as root: a venv with tinydyn installed from tinydyn-src/
                             (numpy, numba and pytest come from PyPI), then a self-check
    run_autograder           per submission: python -m tinydyn.grading.autograder --root ...
    tinydyn-src/             the library's source (pyproject.toml, README.md, tinydyn/)
    requirements.txt         pytest, which grading needs beyond tinydyn's own dependencies
    exercises/               the chosen NN_topic folders: tests and stub student.py (no
                             references.npz: references are recomputed at a fresh seed)
    tinydyn-autograder.json  the exercises, the time limit, the seed (null: fresh each run)

Gradescope extracts it to ``/autograder/source``, puts the submission in
``/autograder/submission`` and reads ``/autograder/results/results.json``. Both scripts take
the root from ``AUTOGRADER_ROOT`` (default ``/autograder``), so the layout can be tried
anywhere; ``TINYDYN_PYTHON`` picks the interpreter when there is no ``source/venv``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from tinydyn._checks import check_float, fail
from tinydyn.grading.gradescope import failure_results, validate
from tinydyn.grading.layout import DEFAULT_SOLUTIONS, REFERENCES_FILE, STUDENT_FILE
from tinydyn.grading.report import format_results, versions, write_json
from tinydyn.grading.runner import exercise_folders

CONFIG = "tinydyn-autograder.json"
SOURCE = "tinydyn-src"
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.nbi", "*.nbc", "*.egg-info",
                                 REFERENCES_FILE, "*.tmp")

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
SOURCE="$ROOT/source"
if command -v apt-get >/dev/null 2>&1; then
    apt-get update && apt-get install -y python3 python3-venv python3-pip
fi
python3 -m venv "$SOURCE/venv"
"$SOURCE/venv/bin/python" -m pip install --upgrade pip
# tinydyn from the bundled source; numpy, numba and pytest from PyPI
"$SOURCE/venv/bin/python" -m pip install -r "$SOURCE/requirements.txt" "$SOURCE/tinydyn-src"
# compile the kernels into Numba's cache once, and refuse to build unless the library's own
# solution scores full marks on this image
"$SOURCE/venv/bin/python" -m tinydyn.grading.autograder --root "$ROOT" --self-check
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission: it copies the submitted student.py files into
# the bundled exercises, grades them with references recomputed at a fresh seed and writes
# $ROOT/results/results.json.
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${TINYDYN_PYTHON:-$ROOT/source/venv/bin/python}"
if [ ! -x "$PYTHON" ]; then PYTHON=python3; fi
exec "$PYTHON" -m tinydyn.grading.autograder --root "$ROOT"
"""


def project_source() -> Path:
    """The folder holding ``pyproject.toml`` and the ``tinydyn`` package being run."""
    import tinydyn

    project = Path(tinydyn.__file__).resolve().parents[1]
    if not (project / "pyproject.toml").is_file():
        fail("make_autograder", f"no pyproject.toml beside the tinydyn package ({project}): "
                                f"make the bundle from a source checkout of tinydyn")
    return project


def make_autograder(target, exercises=None, root="exercises", seed=None, timeout=120.0,
                    solutions: str = DEFAULT_SOLUTIONS) -> Path:
    """Write the bundle to ``target`` (a folder, or a ``.zip`` file); return its path.

    ``seed`` None (the default) recomputes references at a fresh random seed for every
    submission; an int pins it (a student who learns it could hard-code the outputs).
    """
    fn = "make_autograder"
    if solutions != DEFAULT_SOLUTIONS:
        fail(fn, f"the bundle grades with the library's own exercises ({DEFAULT_SOLUTIONS}); "
                 f"got solutions package {solutions!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        fail(fn, f"seed must be None or an int >= 0, got {seed!r}", TypeError)
    timeout = check_float(fn, "timeout", timeout, low=0.0, low_open=True)
    folders = exercise_folders(root, exercises, fn=fn)
    if not folders:
        fail(fn, f"no exercise folders under {str(root)!r}")
    target = Path(target)
    as_zip = target.suffix == ".zip"
    if not as_zip and target.exists() and any(target.iterdir()):
        fail(fn, f"{target} exists and is not empty; give a new folder or a .zip path")
    with tempfile.TemporaryDirectory(prefix="tinydyn-bundle-") as tmp:
        staging = Path(tmp) / "bundle" if as_zip else target
        _write_bundle(staging, folders, Path(root), seed, timeout)
        if not as_zip:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        made = shutil.make_archive(str(target.with_suffix("")), "zip", root_dir=staging)
        return Path(made)


def _write_bundle(out: Path, folders, root: Path, seed, timeout) -> None:
    project = project_source()
    out.mkdir(parents=True, exist_ok=True)
    src = out / SOURCE
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (project / name).is_file():
            shutil.copy2(project / name, src / name)
    shutil.copytree(project / "tinydyn", src / "tinydyn", ignore=_IGNORE)
    ex_root = out / "exercises"
    ex_root.mkdir()
    for folder in folders:
        shutil.copytree(folder, ex_root / folder.name, ignore=_IGNORE)
    for name in ("conftest.py", "manifest.json"):  # the plugin; the instructor's relaxations
        if (root / name).is_file():
            shutil.copy2(root / name, ex_root / name)
    (out / "requirements.txt").write_text("pytest>=7.4\n")
    config = {"exercises": [f.name for f in folders], "timeout": timeout, "seed": seed,
              "made_with": versions()}
    (out / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
        (out / name).write_text(text)
        (out / name).chmod(0o755)


# -- inside the Gradescope container ------------------------------------------------------------

def collect_submission(submission: Path, exercises: Path, names: list) -> tuple:
    """Copy the submitted files over the stubs of ``exercises/<name>/student.py``.

    Accepted, for exercise ``03_skim_rnn``: ``03_skim_rnn/student.py`` at any depth (the
    folder uploaded as it was handed out), or a file named ``03_skim_rnn.py`` or
    ``student_03.py``; with a single exercise, a lone ``student.py`` too. Returns
    ({name: submitted path relative to the submission}, [sentences about what was missing]).
    """
    files = sorted((p for p in submission.rglob("*.py") if p.is_file()),
                   key=lambda p: (len(p.relative_to(submission).parts), str(p)))
    taken, notes = {}, []
    for name in names:
        number = name.split("_", 1)[0]
        wanted = [p for p in files if (p.name == STUDENT_FILE and p.parent.name == name)
                  or p.name in (f"{name}.py", f"student_{number}.py")]
        if not wanted and len(names) == 1:
            wanted = [p for p in files if p.name == STUDENT_FILE]
        if not wanted:
            notes.append(f"{name}: no {name}/{STUDENT_FILE} (or {name}.py) in the submission; "
                         f"its tests are graded on the untouched stub")
            continue
        shutil.copyfile(wanted[0], exercises / name / STUDENT_FILE)
        taken[name] = str(wanted[0].relative_to(submission))
        if len(wanted) > 1:
            notes.append(f"{name}: several candidates; graded {taken[name]}")
    return taken, notes


def run(root, self_check: bool = False, log=print) -> dict:
    """Grade the submission under ``root`` (Gradescope's layout) and write results.json.

    With ``self_check`` grade the library's solution instead and raise unless it scores full
    marks (``setup.sh`` runs this, which also fills Numba's cache).
    """
    from tinydyn.grading.runner import grade

    root = Path(root)
    source = root / "source"
    config = json.loads((source / CONFIG).read_text())
    names, timeout = config["exercises"], float(config["timeout"])
    env_seed = os.environ.get("TINYDYN_SEED")
    seed = config["seed"] if config["seed"] is not None else (
        int(env_seed) if env_seed else secrets.randbelow(2 ** 31))
    exercises = source / "exercises"
    if self_check:
        results = grade(names, root=exercises, solution=True, seed=0, timeout=timeout)
        log(format_results(results))
        if results.score != results.max_score or not results.max_score:
            raise RuntimeError("the library's solution does not score full marks here")
        return {}
    # a fresh copy per run: an earlier submission's files never leak into this one
    work = Path(tempfile.mkdtemp(prefix="tinydyn-grading-"))
    shutil.copytree(exercises, work / "exercises")
    taken, notes = collect_submission(root / "submission", work / "exercises", names)
    started = time.perf_counter()
    results = grade(names, root=work / "exercises", seed=seed, timeout=timeout,
                    log=lambda line: log(line, flush=True))
    summary = [f"Graded {', '.join(names)} with references recomputed at seed {seed}."]
    summary += [f"{name}: graded {path}" for name, path in taken.items()] + notes
    summary.append(f"Total: {results.score:g} / {results.max_score:g} points.")
    path = write_json(results, root / "results" / "results.json", output="\n".join(summary))
    data = json.loads(path.read_text())
    data["execution_time"] = round(time.perf_counter() - started, 1)
    problems = validate(data)
    if problems:
        raise RuntimeError("results.json does not follow Gradescope's specification: "
                           + "; ".join(problems))
    path.write_text(json.dumps(data, indent=2) + "\n")
    log(format_results(results))
    shutil.rmtree(work, ignore_errors=True)
    return data


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinydyn.grading.autograder",
                                     description="Run a tinydyn Gradescope bundle.")
    parser.add_argument("--root", default=os.environ.get("AUTOGRADER_ROOT", "/autograder"))
    parser.add_argument("--self-check", action="store_true",
                        help="grade the library's solution (setup.sh); fail unless full marks")
    args = parser.parse_args(argv)
    try:
        run(args.root, self_check=args.self_check)
    except Exception as error:  # Gradescope must always get a results.json
        traceback.print_exc()
        if args.self_check:
            return 1
        results = Path(args.root) / "results" / "results.json"
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(failure_results(f"{type(error).__name__}: {error}"),
                                      indent=2) + "\n")
        return 0
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
