"""Datasets: indexable collections of examples, where an example is a tuple of fields.

A dataset only has to answer ``len(ds)`` and ``ds[i]``; the :class:`~tinydyn.data.DataLoader`
does the batching. Fields stay NumPy arrays here (not Tensors): turning a batch into Tensors is
the collate function's job, done once per batch instead of once per example.
"""

from __future__ import annotations

import numbers

import numpy as np

from tinydyn._checks import check_int, fail
from tinydyn.autograd.tensor import Tensor

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split"]


def _check_index(fn: str, index, length: int) -> int:
    """An int index into ``range(length)`` (negatives count from the end), else an error."""
    if isinstance(index, bool) or not isinstance(index, numbers.Integral):
        fail(fn, f"index must be an int, got {type(index).__name__} {index!r}", TypeError)
    if not -length <= index < length:
        fail(fn, f"index {index} is out of range for a dataset of {length} examples", IndexError)
    return int(index) % length


def _check_indices(fn: str, indices, length: int) -> np.ndarray:
    """A 1-D int64 array of valid indices (float or boolean arrays are refused, not coerced)."""
    array = np.asarray(indices)
    if array.ndim != 1:
        fail(fn, f"indices must be 1-D, got shape {array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        fail(fn, f"indices must be integers, got dtype {array.dtype}", TypeError)
    array = array.astype(np.int64)
    if array.size and (array.min() < -length or array.max() >= length):
        bad = array[(array < -length) | (array >= length)][0]
        fail(fn, f"index {bad} is out of range for a dataset of {length} examples", IndexError)
    return array % max(length, 1)


class Dataset:
    """The interface: ``len(ds)`` examples, ``ds[i]`` returns example ``i`` as a tuple of fields."""

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")


class TensorDataset(Dataset):
    """Examples stored column-wise: field ``k`` of example ``i`` is ``fields[k][i]``.

    Args:
        *fields: arrays (or Tensors) whose first dimension indexes examples, or lists of
            arrays for ragged fields such as token sequences of different lengths.
        names: optional names of the fields, e.g. ``("tokens", "label")``.
        meta: optional per-example metadata ``{name: array of length N}`` that is not fed to
            the model but describes each example (``difficulty``, ``domain``, ...). Each entry
            is also readable as an attribute: ``ds.difficulty``.
    """

    def __init__(self, *fields, names=None, meta=None):
        if not fields:
            fail("TensorDataset", "needs at least one field, got none")
        self.fields = tuple(self._as_field(k, f) for k, f in enumerate(fields))
        n = len(self.fields[0])
        for k, field in enumerate(self.fields[1:], start=1):
            if len(field) != n:
                fail("TensorDataset", f"all fields must have the same number of examples, "
                     f"got {n} (field 0) and {len(field)} (field {k})")
        if names is not None:
            names = tuple(names)
            if len(names) != len(self.fields):
                fail("TensorDataset", f"names must have one entry per field ({len(self.fields)}),"
                     f" got {len(names)}: {names}")
        self.names = names
        self.meta = {}
        for key, value in (meta or {}).items():
            value = self._as_field(key, value)
            if len(value) != n:
                fail("TensorDataset", f"meta[{key!r}] must have {n} entries (one per example), "
                     f"got {len(value)}")
            self.meta[key] = value

    @staticmethod
    def _as_field(key, field):
        if isinstance(field, Tensor):
            return field.data
        if isinstance(field, list):
            return field  # ragged: a list of per-example arrays
        if isinstance(field, np.ndarray):
            if field.ndim == 0:
                fail("TensorDataset", f"field {key} must have a first dimension indexing "
                     f"examples, got a 0-d array")
            return field
        fail("TensorDataset", f"field {key} must be a numpy array, a Tensor or a list of arrays, "
             f"got {type(field).__name__}", TypeError)

    def __getattr__(self, name):
        # Only called when normal lookup fails: expose metadata as attributes.
        meta = self.__dict__.get("meta", {})
        if name in meta:
            return meta[name]
        raise AttributeError(f"{type(self).__name__} has no attribute or meta field {name!r}")

    def __len__(self) -> int:
        return len(self.fields[0])

    def __getitem__(self, index) -> tuple:
        i = _check_index("TensorDataset", index, len(self))
        return tuple(field[i] for field in self.fields)

    def subset(self, indices) -> TensorDataset:
        """A new TensorDataset holding examples ``indices``, metadata included."""
        idx = _check_indices("TensorDataset.subset", indices, len(self))

        def take(field):
            return [field[i] for i in idx] if isinstance(field, list) else field[idx]

        return TensorDataset(*(take(f) for f in self.fields), names=self.names,
                             meta={k: take(v) for k, v in self.meta.items()})

    def with_meta(self, *names) -> TensorDataset:
        """The same examples with metadata fields appended, e.g. ``(x, y, difficulty)`` batches."""
        for name in names:
            if name not in self.meta:
                fail("TensorDataset.with_meta", f"unknown meta field {name!r}; available: "
                     f"{sorted(self.meta)}")
        field_names = None if self.names is None else self.names + tuple(names)
        return TensorDataset(*self.fields, *(self.meta[n] for n in names), names=field_names,
                             meta=self.meta)

    def __repr__(self) -> str:
        names = self.names or tuple(f"field{k}" for k in range(len(self.fields)))
        parts = []
        for name, field in zip(names, self.fields):
            if isinstance(field, list):
                parts.append(f"{name}: ragged list")
            else:
                parts.append(f"{name}: {field.dtype}{list(field.shape[1:])}")
        meta = f", meta={sorted(self.meta)}" if self.meta else ""
        return f"TensorDataset(n={len(self)}, {', '.join(parts)}{meta})"


class Subset(Dataset):
    """A view of ``dataset`` restricted to ``indices`` (in that order)."""

    def __init__(self, dataset, indices):
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            fail("Subset", f"dataset must support len() and indexing, got "
                 f"{type(dataset).__name__}", TypeError)
        self.dataset = dataset
        self.indices = _check_indices("Subset", indices, len(dataset))

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index):
        i = _check_index("Subset", index, len(self))
        return self.dataset[int(self.indices[i])]


def random_split(dataset, lengths, rng=None, seed=None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random Subsets of the given ``lengths``.

    ``lengths`` are ints summing to ``len(dataset)``. The permutation comes from ``rng`` (a
    ``numpy.random.Generator``) or a new generator seeded with ``seed``; give one of them.
    """
    from tinydyn.data.loader import resolve_rng

    generator = resolve_rng("random_split", rng, seed)
    lengths = [check_int("random_split", "lengths[i]", n, min_value=0) for n in lengths]
    if sum(lengths) != len(dataset):
        fail("random_split", f"lengths must sum to len(dataset) = {len(dataset)}, "
             f"got {lengths} (sum {sum(lengths)})")
    order = generator.permutation(len(dataset))
    cuts = np.cumsum([0] + lengths)
    return [Subset(dataset, order[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]
