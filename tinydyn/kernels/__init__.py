"""Hot loops compiled with Numba, each beside a NumPy twin of the same signature.

The backend switch picks which of the pair runs: ``set_backend("numba")`` (default) or
``set_backend("numpy")``, or the environment variable ``TINYDYN_BACKEND``. With
``NUMBA_DISABLE_JIT=1`` the Numba versions run as plain Python (slow, but debuggable).
This package imports nothing else from tinydyn but the input checks, so the autograd ops can
build on it.
"""

from tinydyn.kernels.backend import dispatch, get_backend, set_backend, use_backend

__all__ = ["dispatch", "get_backend", "set_backend", "use_backend"]
