"""The Task object and the registry behind ``load_task(name, seed=0, **options)``.

A task builder is a function ``builder(rng, **options) -> Task`` registered under a name. It
draws *everything* (the task's hidden parameters and every example) from the one generator it
is given, so a seed fixes the whole task: same seed, identical arrays.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np

from tinydyn._checks import check_int, fail
from tinydyn.data.dataset import TensorDataset

__all__ = ["Task", "list_tasks", "load_task", "register_task"]

_REGISTRY: dict = {}


@dataclass
class Task:
    """A dataset with its train/val/test splits and what a model needs to know about it.

    Attributes:
        name, description: what the task is and why dynamic computation pays off on it.
        train, val, test: TensorDatasets; per-example metadata (``difficulty``, ``domain``,
            ``signal_positions``...) is in each split's ``.meta`` and readable as attributes.
        num_classes: number of classes (None for regression).
        vocab_size: for token tasks, the number of token ids (id 0 is padding).
        input_shape: for vector and image tasks, the shape of one input.
        info: task-level facts (token ranges, hidden parameters, the options used...).
    """

    name: str
    description: str
    train: TensorDataset
    val: TensorDataset
    test: TensorDataset
    num_classes: int | None = None
    vocab_size: int | None = None
    input_shape: tuple | None = None
    info: dict = field(default_factory=dict)

    @property
    def splits(self) -> dict:
        return {"train": self.train, "val": self.val, "test": self.test}

    def __repr__(self) -> str:
        sizes = "/".join(str(len(s)) for s in (self.train, self.val, self.test))
        extra = f", vocab_size={self.vocab_size}" if self.vocab_size is not None else ""
        extra += f", input_shape={self.input_shape}" if self.input_shape is not None else ""
        return (f"Task({self.name!r}, train/val/test={sizes}, num_classes={self.num_classes}"
                f"{extra})")


def register_task(name: str):
    """Decorator adding a builder ``builder(rng, **options) -> Task`` to the registry."""
    def decorate(builder):
        if name in _REGISTRY:
            fail("register_task", f"a task named {name!r} is already registered")
        _REGISTRY[name] = builder
        return builder
    return decorate


def list_tasks() -> list[str]:
    """The names accepted by :func:`load_task`, sorted."""
    return sorted(_REGISTRY)


def load_task(name: str, seed: int = 0, **options) -> Task:
    """Build the task ``name`` deterministically from ``seed``.

    ``options`` are the builder's keyword arguments (sizes, lengths, noise...); see each
    task's docstring, e.g. ``help(tinydyn.data.tasks.text.sparse_signal)``.
    """
    if not isinstance(name, str):
        fail("load_task", f"name must be a str, got {type(name).__name__}", TypeError)
    if name not in _REGISTRY:
        fail("load_task", f"unknown task {name!r}; available: {', '.join(list_tasks())}")
    seed = check_int("load_task", "seed", seed, min_value=0)
    builder = _REGISTRY[name]
    accepted = [p for p in inspect.signature(builder).parameters if p != "rng"]
    for option in options:
        if option not in accepted:
            fail("load_task", f"task {name!r} has no option {option!r}; its options are "
                 f"{', '.join(accepted)}", TypeError)
    task = builder(np.random.default_rng(seed), **options)
    task.info.setdefault("seed", seed)
    return task


# ---- helpers shared by the builders -------------------------------------------------------------

def check_sizes(fn: str, n_train, n_val, n_test) -> tuple[int, int, int]:
    return (check_int(fn, "n_train", n_train, min_value=1),
            check_int(fn, "n_val", n_val, min_value=0),
            check_int(fn, "n_test", n_test, min_value=0))


def split(fields, names, meta, sizes) -> tuple[TensorDataset, TensorDataset, TensorDataset]:
    """Cut column-wise data (already in random order) into consecutive train/val/test parts."""
    cuts = np.cumsum((0,) + tuple(sizes))
    out = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        def take(column, a=a, b=b):
            return column[a:b]
        out.append(TensorDataset(*(take(f) for f in fields), names=names,
                                 meta={k: take(v) for k, v in meta.items()}))
    return tuple(out)
