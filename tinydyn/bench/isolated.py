"""Each candidate of a workload timed in a process of its own.

Two frameworks in one process share the cores with each other's thread pools: PyTorch's OpenMP
workers, OpenBLAS's and Numba's stay awake for a while after each call and slow whatever runs
next. Warm blocks absorb most of that at one thread, but not at the default thread count,
where tinydyn's Transformer step took 114 ms in a process that also ran PyTorch and 26-34 ms
in a process of its own. So ``tinydyn bench engine`` times every candidate in a child process
that builds the workload, times only that candidate in warm blocks and prints its samples;
the rounds alternate between the candidates' processes, so a change in machine load still
hits them alike. The child that times tinydyn never imports PyTorch.

Child: ``python -m tinydyn.bench.isolated SUITE WORKLOAD CANDIDATE REPEATS`` prints one JSON
line ``{"samples": [...], "number": n}``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tinydyn.bench.harness import NO_TORCH
from tinydyn.measure.timing import Timing, time_fns

__all__ = ["isolate_in_processes"]

ROUNDS = 2


def _child_samples(suite: str, workload: str, candidate: str, repeats: int) -> tuple[list, int]:
    env = dict(os.environ)
    if candidate == "tinydyn":  # its baselines' setup may need PyTorch; tinydyn's never does
        env[NO_TORCH] = "1"
    out = subprocess.run([sys.executable, "-m", "tinydyn.bench.isolated", suite, workload,
                          candidate, str(repeats)], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"timing {candidate!r} of {workload!r} in its own process failed:\n"
                           f"{out.stderr[-2000:]}")
    record = json.loads(out.stdout.strip().splitlines()[-1])
    return record["samples"], record["number"]


def isolate_in_processes(suite: str):
    """An ``isolate`` for :func:`~tinydyn.bench.harness.run_workloads`: ROUNDS rounds, each
    a fresh process per candidate (order reversed every round), samples pooled."""
    def isolate(workload, names, repeats):
        per_round = max(1, -(-repeats // ROUNDS))
        samples = {name: [] for name in names}
        numbers = {}
        for round_ in range(ROUNDS):
            for name in (names if round_ % 2 == 0 else names[::-1]):
                got, numbers[name] = _child_samples(suite, workload.name, name, per_round)
                samples[name] += got
        return {name: Timing.from_samples(values, numbers[name])
                for name, values in samples.items()}
    return isolate


def main(argv: list[str]) -> int:
    from tinydyn.bench import suites
    from tinydyn.bench.harness import pin_torch_threads

    pin_torch_threads()  # the --threads pin reaches this process through the environment
    suite, workload, candidate, repeats = argv
    found = [w for w in suites()[suite]() if w.name == workload]
    if not found:
        print(f"no workload {workload!r} in suite {suite!r}", file=sys.stderr)
        return 2
    fn = found[0].setup()[candidate]
    timing = time_fns({candidate: fn}, repeats=int(repeats), block=int(repeats))[candidate]
    print(json.dumps({"samples": list(timing.samples), "number": timing.number}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
