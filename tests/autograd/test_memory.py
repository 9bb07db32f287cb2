"""The malloc tuning applied at import: on where glibc allows it, off on request, and it stops
the page faults of re-allocating a large array."""

import os
import platform
import subprocess
import sys

import pytest

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

FAULTS_SCRIPT = r"""
import resource
import numpy as np
import tinydyn.autograd.memory as memory
def step():  # like a training step: several big arrays alive at once, then all freed
    arrays = [np.ones(1_000_000, np.float32) for _ in range(6)]
    del arrays
for _ in range(3):  # warm up: the first allocations fault either way
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(memory.TUNED, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _run(tuning: str):
    env = {**os.environ, "TINYDYN_MALLOC_TUNING": tuning}
    out = subprocess.run([sys.executable, "-c", FAULTS_SCRIPT], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    tuned, faults = out.stdout.split()
    return tuned == "True", int(faults)


@pytest.mark.skipif(not GLIBC, reason="mallopt exists only in glibc")
def test_importing_tinydyn_tunes_malloc_and_reused_memory_stops_faulting():
    tuned, faults = _run("1")
    untuned, default_faults = _run("0")
    assert tuned and not untuned
    # 20 steps of 24 MB fault on every fresh page (about 6000 a step) unless memory is reused
    assert default_faults > 20_000 and faults < default_faults / 10


def test_tuning_can_be_turned_off():
    tuned, _ = _run("0")
    assert not tuned
