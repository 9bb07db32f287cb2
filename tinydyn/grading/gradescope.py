"""Gradescope's ``results.json``: the fields its autograder specification defines, and a check.

From https://gradescope-autograders.readthedocs.io/en/latest/specs/ : the file is one JSON
object; ``score`` is required unless every test has one; ``tests`` is a list of objects with
optional ``score``, ``max_score``, ``status`` ("passed" or "failed"), ``name``, ``name_format``,
``number``, ``output``, ``output_format``, ``tags``, ``visibility`` and ``extra_data``;
``visibility`` is one of "hidden", "after_due_date", "after_published", "visible"; formats are
"text", "html", "simple_format", "md" or "ansi". Anything of our own goes in ``extra_data``.
"""

from __future__ import annotations

import numbers

TOP_FIELDS = {"score", "max_score", "execution_time", "output", "output_format",
              "test_output_format", "test_name_format", "visibility", "stdout_visibility",
              "extra_data", "tests", "leaderboard"}
TEST_FIELDS = {"score", "max_score", "status", "name", "name_format", "number", "output",
               "output_format", "tags", "visibility", "extra_data"}
STATUSES = {"passed", "failed"}
VISIBILITIES = {"hidden", "after_due_date", "after_published", "visible"}
FORMATS = {"text", "html", "simple_format", "md", "ansi"}


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def validate(data) -> list:
    """Problems (sentences) that would make Gradescope reject or misread ``data``; [] if none."""
    if not isinstance(data, dict):
        return [f"results must be a JSON object, got {type(data).__name__}"]
    problems = [f"unknown top-level field {key!r}" for key in sorted(set(data) - TOP_FIELDS)]
    tests = data.get("tests", [])
    if not isinstance(tests, list):
        return problems + [f"tests must be a list, got {type(tests).__name__}"]
    for key in ("score", "max_score", "execution_time"):
        if key in data and not _number(data[key]):
            problems.append(f"{key} must be a number, got {data[key]!r}")
    if "score" not in data and not all(isinstance(t, dict) and "score" in t for t in tests):
        problems.append("score is required at the top level unless every test has one")
    problems += _common(data, "results")
    for i, test in enumerate(tests):
        where = f"tests[{i}]"
        if not isinstance(test, dict):
            problems.append(f"{where} must be an object")
            continue
        problems += [f"{where}: unknown field {k!r}" for k in sorted(set(test) - TEST_FIELDS)]
        for key in ("score", "max_score"):
            if key in test and not _number(test[key]):
                problems.append(f"{where}.{key} must be a number, got {test[key]!r}")
        if "status" in test and test["status"] not in STATUSES:
            problems.append(f"{where}.status must be passed or failed, got {test['status']!r}")
        for key in ("name", "output", "number"):
            if key in test and not isinstance(test[key], str):
                problems.append(f"{where}.{key} must be a string")
        if "tags" in test and not (isinstance(test["tags"], list) and
                                   all(isinstance(t, str) for t in test["tags"])):
            problems.append(f"{where}.tags must be a list of strings")
        problems += _common(test, where)
    return problems


def _common(obj: dict, where: str) -> list:
    problems = []
    for key in ("visibility", "stdout_visibility"):
        if key in obj and obj[key] not in VISIBILITIES:
            problems.append(f"{where}.{key} must be one of {sorted(VISIBILITIES)}, "
                            f"got {obj[key]!r}")
    for key in ("output_format", "name_format", "test_output_format", "test_name_format"):
        if key in obj and obj[key] not in FORMATS:
            problems.append(f"{where}.{key} must be one of {sorted(FORMATS)}, got {obj[key]!r}")
    if "output" in obj and not isinstance(obj["output"], str):
        problems.append(f"{where}.output must be a string")
    if "extra_data" in obj and not isinstance(obj["extra_data"], dict):
        problems.append(f"{where}.extra_data must be an object")
    return problems


def failure_results(message: str) -> dict:
    """What to hand Gradescope when grading itself could not run: no points, and why."""
    return {"score": 0.0, "output": f"The autograder could not grade this submission: "
                                    f"{message}\nPlease tell your instructor.", "tests": []}
