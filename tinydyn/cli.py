"""The `tinydyn` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _bench(args) -> int:
    from tinydyn.bench import format_table, run_workloads, suites, write_results
    from tinydyn.bench.harness import machine_line

    available = suites()
    if args.suite not in available:
        print(f"tinydyn bench: unknown suite {args.suite!r}; choose from "
              f"{', '.join(sorted(available))}", file=sys.stderr)
        return 2
    print(f"tinydyn bench {args.suite} — {machine_line()}")
    rows = run_workloads(available[args.suite](), repeats=args.repeats,
                         log=(lambda *a: None) if args.quiet else print)
    print()
    print(format_table(rows))
    md, js = write_results(rows, Path(args.out), args.suite)
    print(f"\nwrote {md} and {js}")
    print("ratio = tinydyn time / baseline time (below 1: tinydyn is faster)")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="tinydyn",
        description="tinydyn: dynamic neural networks from scratch on NumPy + Numba.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    bench = commands.add_parser("bench", help="time tinydyn against baselines in the same run")
    bench.add_argument("suite", nargs="?", default="engine", help="which suite (default: engine)")
    bench.add_argument("--repeats", type=int, default=15, help="timed samples per candidate")
    bench.add_argument("--out", default="bench-results", help="folder for the .md/.json results")
    bench.add_argument("--quiet", action="store_true", help="print only the final table")
    bench.set_defaults(run=_bench)

    from tinydyn.grading.commands import register as register_grade
    register_grade(commands)

    args = parser.parse_args(argv)
    if getattr(args, "repeats", 1) < 1:
        parser.error("--repeats must be >= 1")
    return args.run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
