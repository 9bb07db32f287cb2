"""``tinydyn lessons run`` and ``tinydyn course``: execute the lessons, build and serve the site."""

from __future__ import annotations

import argparse
import functools
import http.server
import sys
import time
from pathlib import Path

DEFAULT_PORT = 8000
HOST = "127.0.0.1"
COURSE_MODULES = ("jupytext", "nbclient", "nbformat", "ipykernel", "mkdocs", "material",
                  "mkdocs_jupyter", "mkdocstrings")


def register(subparsers) -> None:
    """Add the ``lessons`` and ``course`` commands to the ``tinydyn`` argument parser."""
    lessons = subparsers.add_parser(
        "lessons", help="execute the lessons into notebooks",
        description="Work with the lessons in lessons/ (jupytext percent-format scripts).")
    actions = lessons.add_subparsers(dest="lessons_command", required=True)
    run = actions.add_parser(
        "run", help="execute lessons (each in its own kernel) into build/course/lessons/",
        description="Execute lessons one after the other, each in its own kernel process, into "
                    "executed notebooks under build/course/lessons/. A lesson whose source and "
                    "library are unchanged since its last run is skipped. Exits 1 if a cell "
                    "fails, naming the lesson and the cell.")
    run.add_argument("numbers", nargs="*", metavar="NN",
                     help="lesson numbers, e.g. 01 2 (default: all)")
    _common_options(run)
    run.set_defaults(run=run_lessons_command)

    course = subparsers.add_parser(
        "course", help="execute the lessons, build the course site and serve it",
        description="Execute the lessons (reusing unchanged ones), build the site with "
                    "`mkdocs build --strict` into build/course/site/, and serve it at "
                    f"http://{HOST}:PORT until Ctrl-C.")
    course.add_argument("--build-only", action="store_true",
                        help="stop after building the site")
    course.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port to serve on (default {DEFAULT_PORT})")
    _common_options(course)
    course.set_defaults(run=course_command)


def _common_options(parser) -> None:
    parser.add_argument("--force", action="store_true",
                        help="re-execute lessons even when nothing changed")
    parser.add_argument("--timeout", type=float, default=120.0, metavar="S",
                        help="per-cell time limit in seconds (default 120)")
    parser.add_argument("--root", default=None, metavar="DIR",
                        help="repository root (default: found from the current folder)")


def _error(command: str, message: str) -> int:
    print(f"tinydyn {command}: {message}", file=sys.stderr)
    return 2


def _missing_course_extra() -> str | None:
    import importlib.util

    missing = [m for m in COURSE_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        return (f"missing {', '.join(missing)}, from the course extra: "
                f"pip install -e \".[course]\"")
    return None


def _setup(command: str, args):
    """(CoursePaths, None) or (None, exit code) after checking the options and the install."""
    from tinydyn.course.paths import CoursePaths, find_root

    if not args.timeout > 0:
        return None, _error(command, f"--timeout must be > 0 seconds, got {args.timeout:g}")
    missing = _missing_course_extra()
    if missing:
        return None, _error(command, missing)
    try:
        root = find_root(args.root)
    except FileNotFoundError as err:
        return None, _error(command, str(err))
    return CoursePaths(root), None


def _execute(paths, numbers, args) -> list | None:
    from tinydyn.course.lessons import LessonError, run_lessons

    print(f"lessons: {paths.lessons} -> {paths.notebooks}")
    try:
        return run_lessons(paths, numbers, timeout=args.timeout, force=args.force)
    except LessonError as err:
        print(f"\n{err}", file=sys.stderr)
        return None


def run_lessons_command(args) -> int:
    paths, code = _setup("lessons run", args)
    if paths is None:
        return code
    from tinydyn.course.lessons import find_lessons

    try:
        find_lessons(paths.lessons, args.numbers)
    except ValueError as err:
        return _error("lessons run", str(err))
    return 0 if _execute(paths, args.numbers, args) is not None else 1


def course_command(args) -> int:
    if not 0 < args.port < 65536:
        return _error("course", f"--port must be in 1..65535, got {args.port}")
    paths, code = _setup("course", args)
    if paths is None:
        return code
    from tinydyn.course.site import SiteError, build_site

    results = _execute(paths, None, args)
    if results is None:
        return 1
    print("site: mkdocs build --strict ...")
    started = time.perf_counter()
    try:
        site = build_site(paths, [r.notebook for r in results])
    except SiteError as err:
        print(f"\n{err}", file=sys.stderr)
        return 1
    print(f"site: built {site} in {time.perf_counter() - started:.1f} s")
    if args.build_only:
        return 0
    return serve(site, args.port)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # one line per request would bury the URL
        pass


def make_server(site: Path, port: int, host: str = HOST) -> http.server.ThreadingHTTPServer:
    """An HTTP server for the built ``site`` folder on ``host:port`` (port 0: any free port)."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    return http.server.ThreadingHTTPServer((host, port), handler)


def serve(site: Path, port: int) -> int:
    """Serve ``site`` at http://127.0.0.1:port until Ctrl-C."""
    try:
        server = make_server(site, port)
    except OSError as err:
        return _error("course", f"cannot serve on {HOST}:{port} ({err.strerror or err}); "
                                f"choose another --port")
    with server:
        print(f"\nServing the course at http://{HOST}:{server.server_address[1]}/ "
              f"(Ctrl-C to stop)")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("\nstopped")
    return 0


def main(argv=None) -> int:
    """Entry point for ``python -m tinydyn.course.commands`` (same as ``tinydyn ...``)."""
    parser = argparse.ArgumentParser(prog="tinydyn")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
