"""How an exercise folder is laid out and named; shared by the plugin, runner and references.

Kept free of pytest so that ``tinydyn`` commands which never grade import without it.
"""

from __future__ import annotations

import re

DEFAULT_SOLUTIONS = "tinydyn.grading.exercises"
STUDENT_FILE = "student.py"
REFERENCES_FILE = "references.npz"
FOLDER_NAME = re.compile(r"^(\d+)_([A-Za-z0-9_]+)$")


def solution_module_name(folder_name: str, package: str = DEFAULT_SOLUTIONS) -> str:
    """``01_autograd`` -> ``tinydyn.grading.exercises.ex01_autograd``."""
    if not FOLDER_NAME.match(folder_name):
        raise ValueError(f"tinydyn grading: exercise folder {folder_name!r} is not named "
                         f"NN_topic (e.g. 01_autograd)")
    return f"{package}.ex{folder_name}"
