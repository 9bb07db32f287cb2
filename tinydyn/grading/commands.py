"""``tinydyn grade``: grade exercises, or regenerate their reference outputs."""

from __future__ import annotations

import argparse
import sys


def register(subparsers) -> argparse.ArgumentParser:
    """Add the ``grade`` command to the ``tinydyn`` argument parser."""
    parser = subparsers.add_parser(
        "grade", help="grade exercises (each in a subprocess with a time limit)",
        description="Grade exercises: each exercise's tests run in their own subprocess with a "
                    "hard wall-clock limit; prints a table of statuses and points. Exits 0 "
                    "whenever grading ran, whatever the score.")
    parser.add_argument("exercises", nargs="*", metavar="NN",
                        help="exercise numbers or folder names (default: all)")
    parser.add_argument("--solution", action="store_true",
                        help="grade the library's solution instead of student.py")
    parser.add_argument("--seed", type=int, default=None, metavar="N",
                        help="recompute references at seed N instead of using the stored .npz")
    parser.add_argument("--json", default=None, metavar="FILE",
                        help="also write Gradescope-compatible results to FILE")
    parser.add_argument("--timeout", type=float, default=120.0, metavar="S",
                        help="wall-clock limit per exercise in seconds (default 120)")
    parser.add_argument("--root", default="exercises", metavar="DIR",
                        help="folder holding the NN_topic exercise folders (default exercises)")
    parser.add_argument("--regenerate", action="store_true",
                        help="instructors: rewrite references.npz and manifest.json from the "
                             "library (at --seed, default 0) instead of grading")
    parser.add_argument("--make-autograder", default=None, metavar="DIR_OR_ZIP",
                        help="instructors: write a Gradescope autograder bundle (a folder, or "
                             "a .zip to upload) for the chosen exercises instead of grading; "
                             "it grades every submission at a fresh seed unless --seed pins "
                             "one")
    parser.add_argument("--solutions-package", default=None, metavar="PKG",
                        help="package with the exNN_topic modules "
                             "(default tinydyn.grading.exercises)")
    parser.set_defaults(run=run)
    return parser


def run(args) -> int:
    import importlib.util

    if importlib.util.find_spec("pytest") is None:
        print("tinydyn grade: grading runs the exercises' tests with pytest, which is not "
              "installed here; install it with  pip install -e \".[course]\"  (or pip install "
              "pytest)", file=sys.stderr)
        return 2
    from tinydyn.grading.layout import DEFAULT_SOLUTIONS
    from tinydyn.grading.references import regenerate
    from tinydyn.grading.report import format_results, write_json
    from tinydyn.grading.runner import grade

    solutions = args.solutions_package or DEFAULT_SOLUTIONS
    if args.seed is not None and args.seed < 0:
        print(f"tinydyn grade: --seed must be >= 0, got {args.seed}", file=sys.stderr)
        return 2
    if not args.timeout > 0:
        print(f"tinydyn grade: --timeout must be > 0, got {args.timeout:g}", file=sys.stderr)
        return 2
    selected = args.exercises or None
    try:
        if args.make_autograder:
            if args.regenerate or args.solution or args.json:
                print("tinydyn grade: --make-autograder cannot be combined with --regenerate, "
                      "--solution or --json", file=sys.stderr)
                return 2
            from tinydyn.grading.autograder import make_autograder

            made = make_autograder(args.make_autograder, selected, root=args.root,
                                   seed=args.seed, timeout=args.timeout, solutions=solutions)
            seeding = (f"pinned seed {args.seed}" if args.seed is not None
                       else "a fresh seed per submission")
            upload = ("upload it" if made.suffix == ".zip" else
                      "zip its contents (not the folder itself) and upload that")
            print(f"wrote the Gradescope autograder {made} (references recomputed at "
                  f"{seeding}); {upload} as the assignment's autograder")
            return 0
        if args.regenerate:
            if args.solution or args.json:
                print("tinydyn grade: --regenerate cannot be combined with --solution or --json",
                      file=sys.stderr)
                return 2
            seed = 0 if args.seed is None else args.seed
            written = regenerate(args.root, selected, seed=seed, solutions=solutions)
            for path in written.values():
                print(f"wrote {path} (seed {seed})")
            print(f"updated {args.root}/manifest.json")
            return 0
        results = grade(selected, root=args.root, solution=args.solution, seed=args.seed,
                        timeout=args.timeout, solutions=solutions,
                        log=lambda line: print(line, file=sys.stderr, flush=True))
    except (ValueError, TypeError) as error:  # bad exercise names, missing root
        print(f"tinydyn {error}", file=sys.stderr)
        return 2
    print(format_results(results))
    if args.json:
        print(f"\nwrote {write_json(results, args.json)}")
    return 0


def main(argv=None) -> int:
    """``python -m tinydyn.grading.commands``: the grade command on its own."""
    parser = argparse.ArgumentParser(prog="tinydyn")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["grade", *(sys.argv[1:] if argv is None else argv)])
    return args.run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
