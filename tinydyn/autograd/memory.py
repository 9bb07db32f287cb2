"""Keep freed memory for reuse: glibc's malloc tuned so big arrays stop costing page faults.

A training step allocates and frees the same large arrays (activations, gradients, their
temporaries) at every step. By default glibc's malloc serves each allocation above a
threshold (128 KiB, adjusted on the fly) with a fresh ``mmap`` and gives it back to the system
when it is freed, and trims the free top of its heap back to the system too. The next step's
arrays then land on fresh pages, and the first touch of every 4 KiB page is a page fault the
kernel must answer and zero. Measured on the Transformer step of ``tinydyn bench engine``:
about 4400 page faults per step, a quarter of its CPU time.

:func:`tune_malloc` raises both thresholds (mmap: 32 MiB, the most glibc allows; trim:
256 MiB), so freed blocks stay in the process and are reused. The price: the process keeps
memory up to its peak instead of handing it back. It applies to the whole process, so a
baseline timed in the same process (PyTorch in ``tinydyn bench``) gets the same allocator.

It runs once when tinydyn is imported; ``TINYDYN_MALLOC_TUNING=0`` in the environment turns
it off. Only Linux with glibc has ``mallopt``; elsewhere nothing happens.
"""

from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 256 * 1024 * 1024

TUNED = False  # whether tune_malloc has changed the allocator in this process


def tune_malloc() -> bool:
    """Raise glibc's mmap and trim thresholds (see the module docstring). Returns True if the
    allocator was tuned, False if it could not be (not glibc) or ``TINYDYN_MALLOC_TUNING=0``."""
    global TUNED
    if os.environ.get("TINYDYN_MALLOC_TUNING", "1") == "0":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    ok = libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
    TUNED = TUNED or ok
    return ok
