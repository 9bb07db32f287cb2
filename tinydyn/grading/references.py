"""Stored reference outputs: regenerate them from the library, and check they are still current.

Each exercise's ``references.npz`` holds the inputs its tests feed the student's functions and the
outputs the library computes from them (``make_references(seed)`` in
``tinydyn.grading.exercises.exNN_topic``). ``manifest.json`` beside the exercise folders records
the seed, the versions that produced them and each file's sha256 (and, untouched by
regeneration, the instructor's ``imports`` relaxations: see :mod:`tinydyn.grading.integrity`).

The ``.npz`` files are written byte-for-byte reproducibly (sorted entries, fixed zip timestamps),
so regenerating unchanged references leaves ``git diff`` empty and the sha256 stable.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from tinydyn.grading.layout import DEFAULT_SOLUTIONS, REFERENCES_FILE, solution_module_name
from tinydyn.grading.report import versions
from tinydyn.grading.runner import exercise_folders

MANIFEST = "manifest.json"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold: no clock in the bytes


def write_npz(path, arrays: dict) -> Path:
    """Write ``arrays`` as an ``.npz`` readable by ``np.load``, reproducibly and atomically."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        for key in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.require(arrays[key], requirements="C"),
                                      allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # the same bytes whichever OS writes them
            info.external_attr = 0o644 << 16
            zf.writestr(info, buffer.getvalue())
    os.replace(tmp, path)
    return path


def load_npz(path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def make_references(folder_name: str, seed: int, solutions: str = DEFAULT_SOLUTIONS,
                    fn: str = "regenerate") -> dict:
    """Call the exercise's ``make_references(seed)`` and check it returned plain numeric arrays."""
    module = importlib.import_module(solution_module_name(folder_name, solutions))
    made = module.make_references(seed)
    if not isinstance(made, dict) or not made:
        raise TypeError(f"{fn}: {module.__name__}.make_references({seed}) must return a "
                        f"non-empty dict of arrays, got {type(made).__name__}")
    out = {}
    for key, value in made.items():
        if not isinstance(key, str) or not key.isidentifier():
            raise ValueError(f"{fn}: {module.__name__}.make_references: key {key!r} is not an "
                             f"identifier")
        array = np.asarray(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"{fn}: {module.__name__}.make_references: {key!r} has dtype "
                            f"{array.dtype}, expected bool, int or float")
        out[key] = array
    return out


def _check_seed(fn: str, seed):
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise TypeError(f"{fn}: seed must be a non-negative int, got {seed!r}")


def regenerate(root="exercises", exercises=None, seed: int = 0,
               solutions: str = DEFAULT_SOLUTIONS) -> dict:
    """Write each exercise's ``references.npz`` and update ``manifest.json``.

    Returns folder name -> path written. Exercises not selected keep their manifest entries.
    """
    _check_seed("regenerate", seed)
    root = Path(root)
    folders = exercise_folders(root, exercises, fn="regenerate")
    manifest_path = root / MANIFEST
    manifest = _read_manifest(manifest_path) or {}
    entries = manifest.get("exercises", {})
    written = {}
    for folder in folders:
        path = write_npz(folder / REFERENCES_FILE, make_references(folder.name, seed, solutions))
        entries[folder.name] = {"file": f"{folder.name}/{REFERENCES_FILE}", "seed": seed,
                                "sha256": sha256(path)}
        written[folder.name] = path
    # other sections (the instructor's "imports" relaxations) are kept as they are
    manifest = {**manifest, "seed": seed, "versions": versions(),
                "exercises": dict(sorted(entries.items()))}
    tmp = manifest_path.with_name(MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, manifest_path)
    return written


def _read_manifest(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def check_references(root="exercises", exercises=None, solutions: str = DEFAULT_SOLUTIONS,
                     rtol: float = 1e-10, atol: float = 1e-12) -> list:
    """Mismatches (as sentences) between stored references and freshly regenerated ones.

    An empty list means every stored file matches what the library computes today, at the seed
    the manifest records, and its sha256 matches the manifest.
    """
    root = Path(root)
    manifest = _read_manifest(root / MANIFEST)
    problems = [] if manifest is not None else [f"{root / MANIFEST} is missing or unreadable"]
    entries = (manifest or {}).get("exercises", {})
    for folder in exercise_folders(root, exercises, fn="check_references"):
        name, path = folder.name, folder / REFERENCES_FILE
        if not path.is_file():
            problems.append(f"{name}: {REFERENCES_FILE} is missing")
            continue
        entry = entries.get(name)
        if entry is None:
            problems.append(f"{name}: no entry in {MANIFEST}")
        elif entry.get("sha256") != sha256(path):
            problems.append(f"{name}: sha256 of {REFERENCES_FILE} does not match {MANIFEST}")
        seed = (entry or {}).get("seed", (manifest or {}).get("seed", 0))
        stored = load_npz(path)
        fresh = make_references(name, seed, solutions, fn="check_references")
        problems.extend(f"{name}: {p}" for p in compare(stored, fresh, rtol, atol))
    return problems


def compare(stored: dict, fresh: dict, rtol: float = 1e-10, atol: float = 1e-12) -> list:
    """Differences between two dicts of arrays: keys, shapes, dtypes, then values."""
    problems = []
    if set(stored) != set(fresh):
        problems.append(f"keys differ: only stored {sorted(set(stored) - set(fresh))}, "
                        f"only regenerated {sorted(set(fresh) - set(stored))}")
    for key in sorted(set(stored) & set(fresh)):
        a, b = stored[key], fresh[key]
        if a.shape != b.shape or a.dtype != b.dtype:
            problems.append(f"{key}: stored {a.shape} {a.dtype}, regenerated {b.shape} {b.dtype}")
            continue
        if a.dtype.kind == "f":
            bad = ~np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True)
        else:
            bad = a != b
        if np.any(bad):
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            problems.append(f"{key}: {int(np.sum(bad))} of {a.size} values differ "
                            f"(rtol={rtol:g}, atol={atol:g}); first at {first}: stored "
                            f"{a[first]!r}, regenerated {b[first]!r}")
    return problems
