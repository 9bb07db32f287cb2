"""Benchmark suites behind `tinydyn bench SUITE`: each times tinydyn against baselines measured
in the same run and prints ratios (never asserted on in tests)."""

from tinydyn.bench.harness import Row, Skip, Workload, format_table, run_workloads, write_results


# Suites that are experiments (train, then measure) rather than lists of timing workloads:
# name -> module with ``main(args)`` and ``table_rows(result)`` (see tinydyn.bench.rows).
# "all" runs every other one; families add their line here.
EXPERIMENTS = {
    "all": "tinydyn.bench.all",
    "survival": "tinydyn.bench.survival",
    "skimming": "tinydyn.bench.skimming",
    "dyconv": "tinydyn.bench.dyconv",
    "early_exit": "tinydyn.bench.early_exit",
    "moe": "tinydyn.bench.moe",
    "moe_balanced": "tinydyn.bench.moe_balanced",
    "padnet": "tinydyn.bench.padnet",
    "pruning": "tinydyn.bench.pruning",
}


def suites() -> dict:
    """Suite name -> function returning its list of workloads."""
    from tinydyn.bench import engine, models

    return {"engine": lambda: engine.workloads() + models.workloads()}


__all__ = ["EXPERIMENTS", "Row", "Skip", "Workload", "format_table", "run_workloads", "suites",
           "write_results"]
