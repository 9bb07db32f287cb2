"""Data for tinydyn: datasets, batching with padding masks, seeded synthetic tasks, a vocabulary,
and readers for common file formats.

    >>> from tinydyn.data import DataLoader, load_task, pad_collate
    >>> task = load_task("sparse_signal", seed=0)
    >>> loader = DataLoader(task.train, batch_size=32, shuffle=True, seed=0,
    ...                     collate_fn=pad_collate())
    >>> tokens, mask, lengths, labels = next(iter(loader))
"""

from tinydyn.data.dataset import Dataset, Subset, TensorDataset, random_split
from tinydyn.data.loader import DataLoader, default_collate, pad_collate
from tinydyn.data.vocab import Vocab, tokenize
from tinydyn.data.formats import read_csv, read_idx, read_text_dir, read_tsv, text_dataset
from tinydyn.data.tasks import Task, list_tasks, load_task, register_task

__all__ = [
    "Dataset", "Subset", "TensorDataset", "random_split",
    "DataLoader", "default_collate", "pad_collate",
    "Vocab", "tokenize",
    "read_csv", "read_idx", "read_text_dir", "read_tsv", "text_dataset",
    "Task", "list_tasks", "load_task", "register_task",
]
