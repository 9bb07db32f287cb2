"""run_killable: the hard wall-clock kill and the capped output."""

import os
import sys
import time
from pathlib import Path

from tinydyn.grading.runner import OUTPUT_BYTES, run_killable


def is_gone(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    if status.exists():  # Linux: a zombie is dead, only not yet reaped
        try:
            return "\nState:\tZ" in status.read_text()
        except OSError:
            return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_timeout_kills_the_whole_process_group(tmp_path):
    pidfile = tmp_path / "pid"
    code = ("import subprocess, sys, time\n"
            f"p = subprocess.Popen([sys.executable, '-c', 'while True: pass'])\n"
            f"open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
            "time.sleep(600)\n")
    returncode, timed_out, _ = run_killable([sys.executable, "-c", code], timeout=2.0)
    assert timed_out and returncode < 0
    grandchild = int(pidfile.read_text())
    deadline = time.perf_counter() + 5
    while not is_gone(grandchild) and time.perf_counter() < deadline:
        time.sleep(0.05)
    assert is_gone(grandchild)


def test_output_is_capped_to_its_tail():
    code = "for i in range(200000): print('line', i)"
    returncode, timed_out, tail = run_killable([sys.executable, "-c", code], timeout=60.0)
    assert (returncode, timed_out) == (0, False)
    assert len(tail) <= OUTPUT_BYTES + 100
    assert tail.endswith("line 199999")


def test_exit_code_is_returned_unchanged():
    assert run_killable([sys.executable, "-c", "import os; os._exit(3)"], timeout=60.0)[:2] == \
        (3, False)
