"""Checkpoints: a state dict saved as an ``.npz`` archive, written atomically.

File layout (readable with plain ``numpy.load``): one entry ``state/<name>`` per array, in the
state dict's order, plus two marker entries, ``__tinydyn_format__`` (the string
``"tinydyn.state_dict"``) and ``__tinydyn_version__`` (an int). The ``state/`` prefix keeps
user names apart from the markers and from ``numpy.savez``'s own keyword arguments.

Atomic write: the archive goes to a temporary file in the destination's directory, is flushed
to disk (fsync), and only then renamed over the destination with ``os.replace``, a single atomic
step. A crash or error mid-save leaves any previous checkpoint intact, never a truncated one.

Loading uses ``allow_pickle=False`` (a checkpoint cannot run code) and reads everything before
returning, so a damaged file fails with an error naming it rather than yielding half a state.
"""

from __future__ import annotations

import os
import tempfile
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from tinydyn._checks import fail
from tinydyn.autograd.tensor import Tensor
from tinydyn.nn.module import Module

__all__ = ["FORMAT", "VERSION", "load", "save"]

FORMAT = "tinydyn.state_dict"
VERSION = 1
_FORMAT_KEY = "__tinydyn_format__"
_VERSION_KEY = "__tinydyn_version__"
_PREFIX = "state/"


def _check_path(fn: str, path) -> str:
    if not isinstance(path, (str, os.PathLike)):
        fail(fn, f"path must be a str or os.PathLike, got {type(path).__name__}", TypeError)
    return os.fspath(path)


def _arrays_to_save(obj) -> dict:
    if isinstance(obj, Module):
        obj = obj.state_dict()
    if not isinstance(obj, Mapping):
        fail("save", f"expected a Module or a state dict (mapping of name -> array), got "
             f"{type(obj).__name__}", TypeError)
    arrays = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not key:
            fail("save", f"state dict keys must be non-empty strings, got {key!r}", TypeError)
        if isinstance(value, Tensor):
            value = value.data
        if not isinstance(value, np.ndarray):
            fail("save", f"value for {key!r} must be a numpy array or Tensor, got "
                 f"{type(value).__name__}", TypeError)
        if value.dtype.hasobject:
            fail("save", f"value for {key!r} has dtype object, which cannot be loaded without "
                 "pickle", TypeError)
        arrays[_PREFIX + key] = value
    return arrays


def save(obj, path) -> None:
    """Write a Module's ``state_dict()`` (or a state dict itself) to ``path`` atomically."""
    path = _check_path("save", path)
    arrays = _arrays_to_save(obj)
    arrays[_FORMAT_KEY] = np.array(FORMAT)
    arrays[_VERSION_KEY] = np.array(VERSION)
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        fail("save", f"directory {directory!r} of {path!r} does not exist", FileNotFoundError)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # Whatever went wrong (even Ctrl-C), the destination was not touched: drop the temp.
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load(path) -> OrderedDict:
    """Read a checkpoint written by :func:`save`; returns an OrderedDict name -> numpy array,
    ready for ``module.load_state_dict``. Raises ValueError naming ``path`` if the file is
    truncated, corrupt, or not a tinydyn checkpoint."""
    path = _check_path("load", path)
    if not os.path.isfile(path):
        fail("load", f"no such file: {path!r}", FileNotFoundError)
    try:
        archive = np.load(path, allow_pickle=False)
        if isinstance(archive, np.lib.npyio.NpzFile):
            with archive:  # read every entry now: a damaged member fails here, not later
                entries = {name: archive[name] for name in archive.files}
    except Exception as err:  # any failure to parse means the file is damaged or foreign
        fail("load", f"{path!r} is not a readable .npz checkpoint (truncated, corrupt, or "
             f"another format): {type(err).__name__}: {err}")
    if not isinstance(archive, np.lib.npyio.NpzFile):
        fail("load", f"{path!r} is not a tinydyn checkpoint: it holds a single .npy array, "
             "expected an .npz archive written by tinydyn.save")
    if _FORMAT_KEY not in entries:
        fail("load", f"{path!r} is not a tinydyn checkpoint: the .npz has no "
             f"{_FORMAT_KEY!r} entry (found {sorted(entries)[:5]})")
    marker = entries.pop(_FORMAT_KEY)
    version = entries.pop(_VERSION_KEY, None)
    if marker.shape != () or str(marker) != FORMAT:
        fail("load", f"{path!r} has format {str(marker)!r}, expected {FORMAT!r}")
    if version is None or version.shape != () or version.dtype.kind not in "iu":
        fail("load", f"{path!r} has no valid {_VERSION_KEY!r} entry")
    if int(version) > VERSION:
        fail("load", f"{path!r} was written by a newer tinydyn (format version {int(version)}); "
             f"this version reads up to {VERSION}")
    state = OrderedDict()
    for name, array in entries.items():
        if not name.startswith(_PREFIX):
            fail("load", f"{path!r} has an unexpected entry {name!r} (state entries start with "
                 f"{_PREFIX!r})")
        state[name[len(_PREFIX):]] = array
    return state
