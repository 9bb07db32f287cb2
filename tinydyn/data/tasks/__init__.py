"""Built-in seeded tasks, each designed so that dynamic computation visibly pays off.

    >>> task = load_task("sparse_signal", seed=0)
    >>> task.train, task.num_classes, task.vocab_size

Importing the task modules registers them.
"""

from tinydyn.data.tasks.base import Task, list_tasks, load_task, register_task
from tinydyn.data.tasks import (  # noqa: F401  (importing registers the tasks)
    difficulty,
    images,
    oriented_bars,
    regions,
    text,
    token_rules,
    vectors,
)
from tinydyn.data.tasks.images import SHAPES
from tinydyn.data.tasks.text import sparse_signal_label
from tinydyn.data.tasks.vectors import checkerboard_label

__all__ = ["Task", "list_tasks", "load_task", "register_task", "sparse_signal_label",
           "checkerboard_label", "SHAPES"]
