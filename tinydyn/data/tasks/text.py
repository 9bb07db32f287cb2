"""Token tasks where only a few positions matter: skimming, jumping and token pruning should
learn to pass over the rest.

Token ids (both tasks): 0 is padding; the other ranges are listed in each builder's docstring
and in ``task.info``.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from tinydyn._checks import check_int, fail
from tinydyn.data.tasks.base import Task, check_sizes, register_task, split

__all__ = ["sparse_signal", "sparse_signal_label", "pointer_text"]


def sparse_signal_label(tokens, num_filler: int = 50, num_classes: int = 2,
                        signal_per_class: int = 4) -> int:
    """The label ``sparse_signal`` gives a token sequence (the ground-truth rule).

    Each signal token belongs to one class; the label is the class held by most signal tokens,
    a tie going to the tied class whose first signal token comes first. Filler and padding
    tokens are ignored, which is the whole point: they cannot change the label.
    """
    tokens = np.asarray(tokens)
    start = 1 + num_filler
    signal = tokens[(tokens >= start) & (tokens < start + num_classes * signal_per_class)]
    if signal.size == 0:
        fail("sparse_signal_label", "the sequence has no signal token, so it has no label")
    classes = (signal - start) // signal_per_class
    counts = np.bincount(classes, minlength=num_classes)
    tied = np.flatnonzero(counts == counts.max())
    first_seen = [int(np.argmax(classes == c)) for c in tied]
    return int(tied[int(np.argmin(first_seen))])


@register_task("sparse_signal")
def sparse_signal(rng, *, n_train: int = 2000, n_val: int = 500, n_test: int = 500,
                  min_len: int = 50, max_len: int = 200, min_signals: int = 1,
                  max_signals: int = 3, num_classes: int = 2, num_filler: int = 50,
                  signal_per_class: int = 4) -> Task:
    """Long sequences of filler with 1-3 signal tokens; the signal tokens' majority class is
    the label.

    Token ids: 0 padding; ``[1, 1 + num_filler)`` filler; then ``num_classes`` blocks of
    ``signal_per_class`` signal tokens, block ``c`` being class ``c``. Each example has a
    length uniform in ``[min_len, max_len]`` and a number of signal tokens uniform in
    ``[min_signals, max_signals]`` at distinct random positions, more than half of them from
    the label's class (so the majority is strict and the label balanced).

    Fields ``(tokens, label)`` with ragged int64 ``tokens`` (use ``pad_collate()``). Meta:
    ``length``, ``num_signals``, ``signal_positions`` ((N, max_signals), sorted, padded with -1).
    """
    fn = "sparse_signal"
    sizes = check_sizes(fn, n_train, n_val, n_test)
    num_classes = check_int(fn, "num_classes", num_classes, min_value=2)
    num_filler = check_int(fn, "num_filler", num_filler, min_value=1)
    signal_per_class = check_int(fn, "signal_per_class", signal_per_class, min_value=1)
    min_signals = check_int(fn, "min_signals", min_signals, min_value=1)
    max_signals = check_int(fn, "max_signals", max_signals, min_value=min_signals)
    min_len = check_int(fn, "min_len", min_len, min_value=max_signals)
    max_len = check_int(fn, "max_len", max_len, min_value=min_len)

    start = 1 + num_filler
    n = sum(sizes)
    labels = rng.integers(0, num_classes, size=n)
    lengths = rng.integers(min_len, max_len + 1, size=n)
    counts = rng.integers(min_signals, max_signals + 1, size=n)
    # Everything is drawn for all examples at once, as (n, max_signals) or (n, max_len) tables,
    # and each example uses the first k (or length) columns of its row.
    slot = np.arange(max_signals)[None, :]
    agree = rng.integers(counts // 2 + 1, counts + 1)  # a strict majority for the label's class
    others = rng.integers(0, num_classes - 1, size=(n, max_signals))
    others = others + (others >= labels[:, None])  # uniform over the classes other than y
    classes = np.where(slot < agree[:, None], labels[:, None], others)
    # shuffle the first k slots of each row: sort random keys, unused slots sorted last
    keys = np.where(slot < counts[:, None], rng.random((n, max_signals)), np.inf)
    classes = np.take_along_axis(classes, np.argsort(keys, axis=1), axis=1)
    signal = start + classes * signal_per_class + rng.integers(0, signal_per_class,
                                                               size=(n, max_signals))
    # k distinct positions below the length: where the k smallest of random keys are
    keys = np.where(np.arange(max_len)[None, :] < lengths[:, None],
                    rng.random((n, max_len)), np.inf)
    chosen = np.argsort(keys, axis=1)[:, :max_signals]
    filler = rng.integers(1, start, size=(n, max_len))
    positions = np.full((n, max_signals), -1, dtype=np.int64)
    sequences = []
    for i in range(n):
        k = int(counts[i])
        pos = np.sort(chosen[i, :k])
        seq = filler[i, :lengths[i]].astype(np.int64)
        seq[pos] = signal[i, :k]
        positions[i, :k] = pos
        sequences.append(seq)

    meta = {"length": lengths.astype(np.int64), "num_signals": counts.astype(np.int64),
            "signal_positions": positions}
    train, val, test = split([sequences, labels.astype(np.int64)], ("tokens", "label"), meta,
                             sizes)
    vocab_size = start + num_classes * signal_per_class
    info = {"pad_id": 0, "filler_ids": (1, start), "signal_ids": (start, vocab_size),
            "signal_per_class": signal_per_class, "num_filler": num_filler,
            "label_fn": partial(sparse_signal_label, num_filler=num_filler,
                                num_classes=num_classes, signal_per_class=signal_per_class)}
    return Task("sparse_signal", "Filler sequences with a few signal tokens whose majority class "
                "is the label: a reader that skims or jumps over filler loses nothing.",
                train, val, test, num_classes=num_classes, vocab_size=vocab_size, info=info)


@register_task("pointer_text")
def pointer_text(rng, *, n_train: int = 2000, n_val: int = 500, n_test: int = 500,
                 length: int = 64, num_digits: int = 10) -> Task:
    """LSTM-Jump's number prediction: the first token points at the position holding the answer.

    Token ids: 0 padding; ``1 + d`` is digit ``d`` for ``d < num_digits``; ``1 + num_digits +
    (k - 1)`` is the pointer "the answer is at position k", ``1 <= k < length``. Position 0 holds
    the pointer, positions ``1..length-1`` random digits; the label is the digit at position k.
    A model that jumps straight to position k reads 2 tokens instead of ``length``.

    Fields ``(tokens (N, length) int64, label)``. Meta: ``target_position`` (k),
    ``signal_positions`` ((N, 2): 0 and k), ``length``.
    """
    fn = "pointer_text"
    sizes = check_sizes(fn, n_train, n_val, n_test)
    length = check_int(fn, "length", length, min_value=2)
    num_digits = check_int(fn, "num_digits", num_digits, min_value=2)
    n = sum(sizes)
    digits = rng.integers(0, num_digits, size=(n, length))
    target = rng.integers(1, length, size=n)
    tokens = 1 + digits
    tokens[:, 0] = 1 + num_digits + (target - 1)
    labels = digits[np.arange(n), target]
    meta = {"target_position": target.astype(np.int64),
            "signal_positions": np.stack([np.zeros(n, np.int64), target], axis=1).astype(np.int64),
            "length": np.full(n, length, dtype=np.int64)}
    train, val, test = split([tokens.astype(np.int64), labels.astype(np.int64)],
                             ("tokens", "label"), meta, sizes)
    vocab_size = 1 + num_digits + (length - 1)
    info = {"pad_id": 0, "digit_ids": (1, 1 + num_digits),
            "pointer_ids": (1 + num_digits, vocab_size)}
    return Task("pointer_text", "The first token says where the answer digit is: a reader that "
                "jumps there reads 2 tokens instead of all of them.", train, val, test,
                num_classes=num_digits, vocab_size=vocab_size, info=info)
