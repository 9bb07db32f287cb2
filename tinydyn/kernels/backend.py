"""The one switch between the Numba kernels and their NumPy twins."""

from __future__ import annotations

import contextlib
import os

from tinydyn._checks import fail

BACKENDS = ("numba", "numpy")
_backend = os.environ.get("TINYDYN_BACKEND", "numba")
if _backend not in BACKENDS:
    raise ValueError(f"TINYDYN_BACKEND must be one of {BACKENDS}, got {_backend!r}")


def get_backend() -> str:
    """``"numba"`` or ``"numpy"``."""
    return _backend


def set_backend(name: str) -> None:
    """Select the implementation every kernel dispatches to."""
    global _backend
    if name not in BACKENDS:
        fail("set_backend", f"name must be one of {BACKENDS}, got {name!r}")
    _backend = name


@contextlib.contextmanager
def use_backend(name: str):
    """Temporarily switch backend: ``with use_backend("numpy"): ...``."""
    previous = _backend
    set_backend(name)
    try:
        yield
    finally:
        set_backend(previous)


def dispatch(numba_impl, numpy_impl):
    """The implementation selected by the current backend."""
    return numba_impl if _backend == "numba" else numpy_impl
