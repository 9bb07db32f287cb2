"""Batching: the DataLoader and the collate functions that turn a list of examples into Tensors.

An epoch is: pick an order of example indices (a fresh seeded permutation if shuffling), cut it
into batches, fetch each example with ``dataset[i]``, and let ``collate_fn`` stack the fields.
Variable-length token sequences cannot be stacked as they are; :func:`pad_collate` pads them to
the longest sequence in the batch and returns a mask saying which positions are real.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from tinydyn._checks import check_int, fail
from tinydyn.autograd.random import get_rng
from tinydyn.autograd.tensor import DEFAULT_FLOAT, Tensor

__all__ = ["DataLoader", "default_collate", "pad_collate"]


def resolve_rng(fn: str, rng, seed) -> np.random.Generator:
    """``rng`` if given, else a new generator from ``seed``, else tinydyn's default generator."""
    if rng is not None and seed is not None:
        fail(fn, "give rng or seed, not both")
    if seed is not None:
        return np.random.default_rng(check_int(fn, "seed", seed, min_value=0))
    return get_rng(rng, fn)


def _as_batch_array(fn: str, k: int, values) -> np.ndarray:
    """Stack field ``k`` of every example into one array, keeping its dtype."""
    first = values[0]
    if isinstance(first, Tensor):
        values = [v.data for v in values]
    elif isinstance(first, bool) or isinstance(first, np.bool_):
        return np.array(values, dtype=np.bool_)
    elif isinstance(first, numbers.Integral):
        return np.array(values, dtype=np.int64)
    elif isinstance(first, numbers.Real) and not isinstance(first, np.floating):
        return np.array(values, dtype=DEFAULT_FLOAT)  # Python floats -> float32, as in tensor()
    arrays = [np.asarray(v) for v in values]
    shape = arrays[0].shape
    for a in arrays[1:]:
        if a.shape != shape:
            fail(fn, f"field {k} has examples of different shapes {shape} and {a.shape}; "
                 "use collate_fn=pad_collate() for variable-length sequences")
    if arrays[0].dtype == object:
        fail(fn, f"field {k} must hold numbers, got objects such as {type(values[0]).__name__}",
             TypeError)
    return np.stack(arrays)


def _as_tuple(example) -> tuple:
    return example if isinstance(example, tuple) else (example,)


def _check_same_arity(fn: str, examples) -> int:
    arity = len(examples[0])
    for example in examples[1:]:
        if len(example) != arity:
            fail(fn, f"every example must have the same number of fields, got {arity} and "
                 f"{len(example)}")
    return arity


def default_collate(examples) -> tuple:
    """Stack a list of examples (tuples of fields) into a tuple of Tensors, one per field.

    Integers become int64, Python floats float32; arrays keep their dtype. Every example's
    field ``k`` must have the same shape.
    """
    if len(examples) == 0:
        fail("default_collate", "got an empty list of examples")
    examples = [_as_tuple(e) for e in examples]
    arity = _check_same_arity("default_collate", examples)
    return tuple(Tensor(_as_batch_array("default_collate", k, [e[k] for e in examples]),
                        _copy=False) for k in range(arity))


def pad_collate(pad_value: int = 0, field: int = 0):
    """A collate function for variable-length token sequences.

    Field ``field`` of each example must be a 1-D integer sequence. The returned function maps a
    list of examples to ``(tokens, mask, lengths, *other_fields)`` where

    - ``tokens``: (B, T_max) int64, sequences left-aligned and padded with ``pad_value``;
    - ``mask``: (B, T_max) bool, True at real tokens, False at padding;
    - ``lengths``: (B,) int64, the number of real tokens per sequence;
    - the other fields, stacked as in :func:`default_collate`, in their original order.
    """
    pad_value = check_int("pad_collate", "pad_value", pad_value)
    field = check_int("pad_collate", "field", field, min_value=0)

    def collate(examples) -> tuple:
        if len(examples) == 0:
            fail("pad_collate", "got an empty list of examples")
        examples = [_as_tuple(e) for e in examples]
        arity = _check_same_arity("pad_collate", examples)
        if field >= arity:
            fail("pad_collate", f"field={field} is out of range for examples with {arity} fields")
        seqs = []
        for i, example in enumerate(examples):
            seq = example[field]
            seq = seq.data if isinstance(seq, Tensor) else np.asarray(seq)
            if seq.ndim != 1:
                fail("pad_collate", f"example {i}: the sequence must be 1-D, got shape {seq.shape}")
            if seq.size and not np.issubdtype(seq.dtype, np.integer):
                fail("pad_collate", f"example {i}: tokens must be integers, got dtype {seq.dtype}",
                     TypeError)
            seqs.append(seq)
        lengths = np.array([len(s) for s in seqs], dtype=np.int64)
        t_max = int(lengths.max())
        tokens = np.full((len(seqs), t_max), pad_value, dtype=np.int64)
        for i, seq in enumerate(seqs):
            tokens[i, :len(seq)] = seq
        # The mask is computed from lengths, not from `tokens != pad_value`: a real token may
        # legitimately equal the pad id.
        mask = np.arange(t_max)[None, :] < lengths[:, None]
        rest = tuple(Tensor(_as_batch_array("pad_collate", k, [e[k] for e in examples]),
                            _copy=False) for k in range(arity) if k != field)
        return (Tensor(tokens, _copy=False), Tensor(mask, _copy=False),
                Tensor(lengths, _copy=False)) + rest

    return collate


class DataLoader:
    """Iterate over ``dataset`` in batches of Tensors.

    Args:
        dataset: anything with ``len()`` and ``dataset[i]`` (e.g. a TensorDataset).
        batch_size: examples per batch.
        shuffle: draw a new random order every epoch (every ``iter(loader)``).
        drop_last: drop the final batch if it is smaller than ``batch_size``.
        rng: the ``numpy.random.Generator`` that draws the orders; or
        seed: an int seeding a generator private to this loader. Same seed, same sequence of
            epochs. With neither, tinydyn's default generator (see ``manual_seed``) is used.
        collate_fn: maps a list of examples to a batch; default :func:`default_collate`.
            Use ``pad_collate()`` for variable-length token sequences.

    ``len(loader)`` is the number of batches per epoch.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, rng=None, collate_fn=None, seed=None):
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            fail("DataLoader", f"dataset must support len() and indexing, got "
                 f"{type(dataset).__name__}", TypeError)
        self.dataset = dataset
        self.batch_size = check_int("DataLoader", "batch_size", batch_size, min_value=1)
        for name, flag in (("shuffle", shuffle), ("drop_last", drop_last)):
            if not isinstance(flag, (bool, np.bool_)):
                fail("DataLoader", f"{name} must be a bool, got {type(flag).__name__} {flag!r}",
                     TypeError)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        if collate_fn is not None and not callable(collate_fn):
            fail("DataLoader", f"collate_fn must be callable, got {type(collate_fn).__name__}",
                 TypeError)
        self.collate_fn = collate_fn or default_collate
        self.rng = resolve_rng("DataLoader", rng, seed)

    def __len__(self) -> int:
        n = len(self.dataset)
        if self.drop_last:
            return n // self.batch_size
        return math.ceil(n / self.batch_size)

    def batch_indices(self):
        """The index arrays of one epoch's batches (draws a new order when shuffling)."""
        n = len(self.dataset)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        for b in range(len(self)):
            yield order[b * self.batch_size:(b + 1) * self.batch_size]

    def __iter__(self):
        for idx in self.batch_indices():
            yield self.collate_fn([self.dataset[int(i)] for i in idx])

    def __repr__(self) -> str:
        return (f"DataLoader(n={len(self.dataset)}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, batches={len(self)})")
