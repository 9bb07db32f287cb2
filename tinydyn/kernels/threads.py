"""Numba's thread pool, started with workers that sleep when idle instead of spinning.

Numba's default threading layer on Linux is OpenMP (GNU libgomp), whose idle workers spin
for a while after each parallel region. A training step alternates short Numba regions
(softmax, layer norm, the LSTM recurrence) with NumPy's BLAS calls, which have a thread pool
of their own: on a 2-core machine the spinning Numba workers took the cores BLAS's threads
needed. Measured on the Transformer step of ``tinydyn bench engine`` at default threads:
97 ms with spinning workers, 22 ms with sleeping ones (21 ms with Numba on one thread).

libgomp reads ``OMP_WAIT_POLICY`` once, when it starts. :func:`num_threads` starts Numba's
pool (if nothing has yet) with ``OMP_WAIT_POLICY=PASSIVE`` set for that moment only, then
restores the environment, so a library that starts its own OpenMP runtime later (PyTorch
bundles a separate copy of libgomp) is unaffected. A policy the user set is left alone.
"""

from __future__ import annotations

import os

import numba

try:  # a private function of Numba's: without it, the pool starts as Numba decides
    from numba.np.ufunc.parallel import _launch_threads
except ImportError:  # pragma: no cover - depends on the Numba version
    _launch_threads = None

__all__ = ["num_threads"]

_started = False


def _start_pool() -> None:
    global _started
    _started = True
    if _launch_threads is None:  # pragma: no cover
        return
    user_policy = os.environ.get("OMP_WAIT_POLICY")
    if user_policy is None:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        _launch_threads()
    finally:
        if user_policy is None:
            os.environ.pop("OMP_WAIT_POLICY", None)


def num_threads() -> int:
    """Numba's current thread count (``NUMBA_NUM_THREADS``, or ``numba.set_num_threads``),
    starting its pool first with sleeping workers (see the module docstring)."""
    if not _started:
        _start_pool()
    return numba.get_num_threads()
