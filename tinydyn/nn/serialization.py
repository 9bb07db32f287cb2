"""Checkpoints: a state dict saved as an ``.npz`` archive, written atomically.

File layout (readable with plain ``numpy.load``): one entry ``state/<name>`` per array, in the
state dict's order, plus two marker entries, ``__tinydyn_format__`` (the string
``"tinydyn.state_dict"``) and ``__tinydyn_version__`` (an int). The ``state/`` prefix keeps
user names apart from the markers and from ``numpy.savez``'s own keyword arguments.

Atomic write: the archive goes to a temporary file in the destination's directory, is flushed
to disk (fsync), and only then renamed over the destination with ``os.replace``, a single atomic
step. A crash or error mid-save leaves any previous checkpoint intact, never a truncated one.

Nested checkpoints (an optimizer's ``state_dict()``, or ``{"model": ..., "optim": ..., "epoch":
3}``) keep every array as an entry ``state/<n>`` and the structure around them (dicts with str
or int keys, lists, tuples, numbers, strings, None) as JSON in one more entry, ``__tinydyn_tree__``;
:func:`load` gives back the same structure. A flat name -> array dict keeps the layout above.

Loading uses ``allow_pickle=False`` (a checkpoint cannot run code) and reads everything before
returning, so a damaged file fails with an error naming it rather than yielding half a state.
"""

from __future__ import annotations

import json
import numbers
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
VERSION = 2  # 2: nested checkpoints (``__tinydyn_tree__``); version 1 files still load
_FORMAT_KEY = "__tinydyn_format__"
_TREE_KEY = "__tinydyn_tree__"
_VERSION_KEY = "__tinydyn_version__"
_PREFIX = "state/"


def _check_path(fn: str, path) -> str:
    if not isinstance(path, (str, os.PathLike)):
        fail(fn, f"path must be a str or os.PathLike, got {type(path).__name__}", TypeError)
    return os.fspath(path)


def _is_flat(obj) -> bool:
    return isinstance(obj, Mapping) and all(
        isinstance(k, str) and k and isinstance(v, (np.ndarray, Tensor)) for k, v in obj.items())


def _array(where: str, value) -> np.ndarray:
    if isinstance(value, Tensor):
        value = value.data
    if value.dtype.hasobject:
        fail("save", f"value for {where!r} has dtype object, which cannot be loaded without "
             "pickle", TypeError)
    return value


def _arrays_to_save(obj) -> dict:
    if isinstance(obj, Module):
        obj = obj.state_dict()
    if not isinstance(obj, Mapping):
        fail("save", f"expected a Module or a state dict (mapping of name -> array), got "
             f"{type(obj).__name__}", TypeError)
    if not _is_flat(obj):
        arrays = {}
        tree = _encode(obj, "", arrays)
        arrays[_TREE_KEY] = np.array(json.dumps(tree))
        return arrays
    return {_PREFIX + key: _array(key, value) for key, value in obj.items()}


def _encode(value, where: str, arrays: dict):
    """JSON for ``value``, with each array moved into ``arrays`` as ``state/<n>``."""
    if isinstance(value, (np.ndarray, Tensor, np.generic)):
        name = f"{len(arrays)}"
        arrays[_PREFIX + name] = _array(where, np.asarray(value) if isinstance(
            value, np.generic) else value)
        return {"__array__": name}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, Mapping):
        items = []
        for k, v in value.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                fail("save", f"keys must be str or int, got {k!r} at {where or 'the top'!r}",
                     TypeError)
            items.append([k, _encode(v, f"{where}/{k}", arrays)])
        return {"__dict__": items}
    if isinstance(value, (list, tuple)):
        encoded = [_encode(v, f"{where}/{i}", arrays) for i, v in enumerate(value)]
        return {"__tuple__": encoded} if isinstance(value, tuple) else encoded
    fail("save", f"cannot save a {type(value).__name__} at {where or 'the top'!r}: expected "
         "arrays, Tensors, numbers, strings, None, and dicts/lists/tuples of them", TypeError)


def _decode(value, arrays: dict, path: str):
    if isinstance(value, list):
        return [_decode(v, arrays, path) for v in value]
    if not isinstance(value, dict):
        return value
    if "__array__" in value:
        name = _PREFIX + value["__array__"]
        if name not in arrays:
            fail("load", f"{path!r} is damaged: its structure names the missing entry {name!r}")
        return arrays[name]
    if "__tuple__" in value:
        return tuple(_decode(v, arrays, path) for v in value["__tuple__"])
    if "__dict__" in value:
        return {k: _decode(v, arrays, path) for k, v in value["__dict__"]}
    fail("load", f"{path!r} is damaged: unknown node {sorted(value)} in its structure")


def save(obj, path) -> None:
    """Write a Module's ``state_dict()``, a state dict, or a nested checkpoint (dicts, lists and
    tuples of arrays, Tensors, numbers, strings, None) to ``path`` atomically."""
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
    """Read a checkpoint written by :func:`save`: an OrderedDict name -> numpy array, ready
    for ``module.load_state_dict`` (a nested checkpoint comes back as it was saved). Raises
    ValueError naming ``path`` if the file is truncated, corrupt, or not a tinydyn checkpoint."""
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
    tree = entries.pop(_TREE_KEY, None)
    for name in entries:
        if not name.startswith(_PREFIX):
            fail("load", f"{path!r} has an unexpected entry {name!r} (state entries start with "
                 f"{_PREFIX!r})")
    if tree is not None:
        try:
            structure = json.loads(str(tree))
        except ValueError as err:
            fail("load", f"{path!r} is damaged: its {_TREE_KEY!r} entry is not JSON ({err})")
        return _decode(structure, entries, path)
    state = OrderedDict()
    for name, array in entries.items():
        if not name.startswith(_PREFIX):
            fail("load", f"{path!r} has an unexpected entry {name!r} (state entries start with "
                 f"{_PREFIX!r})")
        state[name[len(_PREFIX):]] = array
    return state
