"""`tinydyn lessons run` and `tinydyn course`: options, errors, wiring, and the server."""

from __future__ import annotations

import argparse
import threading
import urllib.request
from pathlib import Path

import pytest

from tinydyn.course import commands
from tinydyn.course.lessons import LessonResult
from tinydyn.course.paths import CoursePaths, find_root


def _parse(argv):
    parser = argparse.ArgumentParser(prog="tinydyn")
    commands.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


@pytest.fixture
def no_missing_extra(monkeypatch):
    monkeypatch.setattr(commands, "_missing_course_extra", lambda: None)


def test_lessons_run_parses_numbers_and_options():
    args = _parse(["lessons", "run", "01", "2", "--force", "--timeout", "30"])
    assert (args.numbers, args.force, args.timeout) == (["01", "2"], True, 30.0)
    assert args.run is commands.run_lessons_command


def test_course_defaults_to_port_8000_and_serving():
    args = _parse(["course"])
    assert (args.port, args.build_only, args.force, args.timeout) == (8000, False, False, 120.0)
    assert args.run is commands.course_command


def test_lessons_needs_the_run_action():
    with pytest.raises(SystemExit):
        _parse(["lessons"])


def test_tinydyn_cli_has_both_commands():
    from tinydyn.cli import main

    with pytest.raises(SystemExit) as info:
        main(["lessons", "run", "--help"])
    assert info.value.code == 0


def test_unknown_lesson_number_exits_2_with_the_message(make_root, capsys, no_missing_extra):
    root = make_root({"01_a.py": "# %%\n1\n"})
    args = _parse(["lessons", "run", "07", "--root", str(root)])
    assert args.run(args) == 2
    assert "tinydyn lessons run: find_lessons: no lesson numbered 07" in capsys.readouterr().err


def test_non_positive_timeout_exits_2(make_root, capsys, no_missing_extra):
    args = _parse(["lessons", "run", "--timeout", "0", "--root", str(make_root({}))])
    assert args.run(args) == 2
    assert "--timeout must be > 0 seconds, got 0" in capsys.readouterr().err


def test_port_out_of_range_exits_2(capsys):
    args = _parse(["course", "--port", "70000"])
    assert args.run(args) == 2
    assert "tinydyn course: --port must be in 1..65535, got 70000" in capsys.readouterr().err


def test_missing_course_extra_names_the_install_command(monkeypatch, capsys):
    monkeypatch.setattr(commands, "COURSE_MODULES", ("surely_not_a_module_tinydyn",))
    args = _parse(["lessons", "run"])
    assert args.run(args) == 2
    assert 'pip install -e ".[course]"' in capsys.readouterr().err


def test_root_without_mkdocs_yml_exits_2(tmp_path, capsys, no_missing_extra):
    args = _parse(["course", "--build-only", "--root", str(tmp_path)])
    assert args.run(args) == 2
    assert "find_root: no folder with mkdocs.yml and docs/" in capsys.readouterr().err


def test_find_root_walks_up_from_a_subfolder(make_root):
    root = make_root({})
    assert find_root(root / "docs" / "course") == root.resolve()


def test_course_build_only_runs_lessons_then_builds(make_root, monkeypatch, capsys,
                                                    no_missing_extra):
    import tinydyn.course.lessons as lessons_mod
    import tinydyn.course.site as site_mod

    root = make_root({})
    calls = []
    notebook = root / "build" / "x.ipynb"

    def fake_run(paths, numbers, **kw):
        calls.append(("run", numbers, kw["force"]))
        return [LessonResult(root / "lessons" / "01_x.py", notebook, 1.0, False)]

    def fake_build(paths, notebooks, **kw):
        calls.append(("build", notebooks))
        return paths.site

    monkeypatch.setattr(lessons_mod, "run_lessons", fake_run)
    monkeypatch.setattr(site_mod, "build_site", fake_build)
    args = _parse(["course", "--build-only", "--force", "--root", str(root)])
    assert args.run(args) == 0
    assert calls == [("run", None, True), ("build", [notebook])]
    assert f"site: built {CoursePaths(root).site}" in capsys.readouterr().out


def test_course_exits_1_when_a_lesson_fails(make_root, monkeypatch, capsys, no_missing_extra):
    import tinydyn.course.lessons as lessons_mod

    def failing(*a, **kw):
        raise lessons_mod.LessonError("lesson 01_x.py, cell 2 of 2 failed:\nboom")

    monkeypatch.setattr(lessons_mod, "run_lessons", failing)
    args = _parse(["course", "--build-only", "--root", str(make_root({}))])
    assert args.run(args) == 1
    assert "lesson 01_x.py, cell 2 of 2 failed" in capsys.readouterr().err


def test_server_serves_the_site_folder(tmp_path):
    (tmp_path / "index.html").write_text("<h1>hello course</h1>")
    server = commands.make_server(tmp_path, 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert b"hello course" in response.read()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_serve_on_a_busy_port_exits_2(tmp_path, capsys):
    server = commands.make_server(tmp_path, 0)
    try:
        assert commands.serve(Path(tmp_path), server.server_address[1]) == 2
    finally:
        server.server_close()
    assert "choose another --port" in capsys.readouterr().err
