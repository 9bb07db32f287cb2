"""The `tinydyn` command."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def _bench(args) -> int:
    if args.threads is not None and os.environ.get("TINYDYN_BENCH_THREADS") != str(args.threads):
        # BLAS reads its thread count when NumPy is first imported, which has already happened
        # in this process: run the benchmark again in a child with the variables set.
        env = {**os.environ, "TINYDYN_BENCH_THREADS": str(args.threads)}
        env.update({name: str(args.threads) for name in THREAD_VARS})
        argv = [sys.executable, "-m", "tinydyn.cli", *sys.argv[1:]] if args.argv is None else [
            sys.executable, "-m", "tinydyn.cli", *args.argv]
        return subprocess.run(argv, env=env).returncode
    from tinydyn.bench import EXPERIMENTS, format_table, run_workloads, suites, write_results
    from tinydyn.bench.harness import machine_line, pin_torch_threads

    pin_torch_threads()

    if args.suite in EXPERIMENTS:  # an experiment (trains and measures), not timing workloads
        import importlib

        return importlib.import_module(EXPERIMENTS[args.suite]).main(args)
    available = suites()
    if args.suite not in available:
        print(f"tinydyn bench: unknown suite {args.suite!r}; choose from "
              f"{', '.join(sorted([*available, *EXPERIMENTS]))}", file=sys.stderr)
        return 2
    print(f"tinydyn bench {args.suite} — {machine_line()}")
    from tinydyn.bench.isolated import isolate_in_processes

    rows = run_workloads(available[args.suite](), repeats=args.repeats,
                         log=(lambda *a: None) if args.quiet else print,
                         isolate=None if args.same_process else isolate_in_processes(args.suite))
    print()
    print(format_table(rows))
    # a pinned run is another measurement: keep it beside the default one, not over it
    name = args.suite if args.threads is None else f"{args.suite}-{args.threads}-thread"
    md, js = write_results(rows, Path(args.out), name)
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
    bench.add_argument("suite", nargs="?", default="engine",
                       help="engine (timing workloads), an experiment suite (skimming, "
                            "dyconv, ...), or all: every experiment suite and one table "
                            "(default: engine)")
    bench.add_argument("--repeats", type=int, default=15, help="timed samples per candidate")
    bench.add_argument("--out", default="bench-results", help="folder for the .md/.json results")
    bench.add_argument("--quiet", action="store_true", help="print only the final table")
    bench.add_argument("--threads", type=int, default=None,
                       help="pin NumPy/BLAS, Numba and PyTorch to this many threads")
    bench.add_argument("--same-process", action="store_true",
                       help="engine: time every candidate in this process (faster; PyTorch's "
                            "and tinydyn's thread pools then disturb each other) instead of "
                            "each in a process of its own")
    bench.add_argument("--quick", action="store_true",
                       help="experiment suites: fewer epochs, knob values and seeds (the "
                            "output says what it leaves out)")
    bench.add_argument("--seed", type=int, default=0, help="experiment suites: the seed")
    bench.add_argument("--seeds", type=int, default=None,
                       help="experiment suites: how many seeds, from --seed on "
                            "(default: 3, or 1 with --quick)")
    bench.add_argument("--from-results", action="store_true",
                       help="all: rebuild the table from the suites' JSON already in --out, "
                            "without running them")
    bench.set_defaults(run=_bench)

    from tinydyn.grading.commands import register as register_grade
    register_grade(commands)
    from tinydyn.course.commands import register as register_course
    register_course(commands)

    args = parser.parse_args(argv)
    args.argv = argv
    if getattr(args, "repeats", 1) < 1:
        parser.error("--repeats must be >= 1")
    if getattr(args, "threads", None) is not None and args.threads < 1:
        parser.error("--threads must be >= 1")
    return args.run(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
