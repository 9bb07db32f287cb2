"""Numba's pool is started with sleeping workers, without leaving the policy in the environment."""

import os
import subprocess
import sys

SCRIPT = r"""
import os
import numba
from tinydyn.kernels.threads import num_threads
before = os.environ.get("OMP_WAIT_POLICY")
print(num_threads() == numba.get_num_threads(), before, os.environ.get("OMP_WAIT_POLICY"))
"""


def _run(env):
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_num_threads_is_numbas_and_leaves_the_environment_as_it_was():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert _run(env) == ["True", "None", "None"]


def test_a_policy_the_user_set_is_kept():
    assert _run({**os.environ, "OMP_WAIT_POLICY": "ACTIVE"}) == ["True", "ACTIVE", "ACTIVE"]
