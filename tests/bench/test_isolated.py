"""Each candidate timed in a process of its own (tinydyn.bench.isolated)."""

import pytest

from tinydyn.bench import suites
from tinydyn.bench.harness import NO_TORCH, Skip, import_torch, run_workloads
from tinydyn.bench.isolated import ROUNDS, isolate_in_processes


def _tiny_op():
    return [w for w in suites()["engine"]() if w.name.startswith("tiny op")][0]


def test_import_torch_refuses_in_a_process_that_times_tinydyn(monkeypatch):
    monkeypatch.setenv(NO_TORCH, "1")
    with pytest.raises(Skip, match="in a process of its own"):
        import_torch()


def test_isolated_timing_pools_every_round_of_every_candidate():
    workload = _tiny_op()
    names = [n for n, fn in workload.setup().items() if not isinstance(fn, Skip)]
    timings = isolate_in_processes("engine")(workload, names, 4)
    assert set(timings) == set(names)
    for t in timings.values():
        assert t.repeats == len(t.samples) == ROUNDS * 2  # 4 samples over ROUNDS processes
        assert t.q25 <= t.median <= t.q75 and t.median > 0


def test_run_workloads_reports_isolated_timings_as_rows():
    calls = []

    def isolate(workload, names, repeats):
        calls.append((workload.name, names, repeats))
        from tinydyn.measure.timing import Timing
        return {name: Timing(1e-3 * (i + 1), 1e-3, 2e-3, repeats, 1)
                for i, name in enumerate(names)}

    rows = run_workloads([_tiny_op()], repeats=3, log=lambda *a: None, isolate=isolate)
    assert calls and calls[0][2] == 3 and calls[0][1][0] == "tinydyn"
    assert rows[0].tinydyn.median == pytest.approx(1e-3)


def test_a_child_that_fails_says_which_candidate_and_workload():
    workload = _tiny_op()
    with pytest.raises(RuntimeError, match="timing 'nope' of 'tiny op"):
        isolate_in_processes("engine")(workload, ["nope"], 2)
