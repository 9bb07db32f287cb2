"""`tinydyn grade`: exit codes, the printed table, --json and --regenerate."""

import json

import pytest

from tinydyn import cli

from .conftest import TOTAL


@pytest.fixture
def run_grade(grade_env, monkeypatch):
    """Run ``tinydyn grade ...`` on fake exercises; the subprocesses find them via PYTHONPATH."""
    monkeypatch.setenv("PYTHONPATH", grade_env["env"]["PYTHONPATH"])

    def run(*args):
        return cli.main(["grade", *map(str, args), "--solutions-package", grade_env["solutions"]])

    return run


def test_grading_with_failures_exits_zero_and_writes_json(make_root, run_grade, tmp_path, capsys):
    root = make_root({"01": "wrong"})
    out = tmp_path / "grade.json"
    assert run_grade("01", "--root", root, "--json", out, "--timeout", 60) == 0
    printed = capsys.readouterr().out
    assert "test_01_fake.py::test_row_argmax           failed" in printed
    assert f"TOTAL {TOTAL - 3:g} / {TOTAL:g} points" in printed
    data = json.loads(out.read_text())
    assert data["score"] == TOTAL - 3 and data["max_score"] == TOTAL


def test_unknown_exercise_exits_two_with_the_available_ones(make_root, run_grade, capsys):
    root = make_root({"01": "stub"})
    assert run_grade("09", "--root", root) == 2
    assert "grade: no exercise '09'" in capsys.readouterr().err


def test_missing_root_exits_two(run_grade, tmp_path, capsys):
    assert run_grade("--root", tmp_path / "nope") == 2
    assert "is not a folder" in capsys.readouterr().err


def test_non_positive_timeout_exits_two(make_root, run_grade, capsys):
    assert run_grade("--root", make_root({"01": "stub"}), "--timeout", 0) == 2
    assert "tinydyn grade: --timeout must be > 0, got 0" in capsys.readouterr().err


def test_regenerate_rewrites_references_at_the_given_seed(make_root, run_grade, capsys):
    root = make_root({"01": "stub"})
    assert run_grade("--root", root, "--regenerate", "--seed", 4) == 0
    assert json.loads((root / "manifest.json").read_text())["seed"] == 4
    assert "wrote" in capsys.readouterr().out


def test_regenerate_refuses_to_combine_with_solution(make_root, run_grade, capsys):
    assert run_grade("--root", make_root({"01": "stub"}), "--regenerate", "--solution") == 2
    assert "--regenerate cannot be combined" in capsys.readouterr().err
