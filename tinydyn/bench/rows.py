"""One row format for the cross-method table of `tinydyn bench all` and lesson 12.

Every experiment suite (``tinydyn/bench/<suite>.py``) exposes ``table_rows(result)``, which turns
the dict it writes to ``<suite>.json`` into rows of :data:`ROW_KEYS`. A key that a suite did not
measure holds ``None``; no row carries a key outside the list, so one table reads them all.
"""

from __future__ import annotations

import math

__all__ = ["ROW_KEYS", "check_rows", "make_row", "ratio", "realisation"]

ROW_KEYS = (
    "family",           # "skimming", "pruning", "moe", "dyconv", "early_exit", "padnet"...
    "method",           # e.g. "Skim-RNN"; the baseline's own name on the baseline row
    "task",             # the data set the row was trained and measured on
    "knob",             # "name = value", or None for a method without one
    "accuracy",         # mean test accuracy over seeds (a fraction in [0, 1])
    "accuracy_std",     # sample std over seeds (None with one seed)
    "n_seeds",
    "flops",            # FLOPs per input at inference, decision-makers included
    "params",           # stored parameters
    "t_batch1_s",       # seconds per input at batch size 1
    "t_batched_s",      # seconds per input in a batch of ``batch_size``
    "batch_size",
    "speedup_batch1",   # baseline's t_batch1_s / this row's, measured in the same run
    "speedup_batched",  # the same at ``batch_size``
    "flop_speedup",     # baseline's FLOPs / this row's
    "realisation",      # speedup_batch1 / flop_speedup: the share of the FLOP saving that is real
    "baseline",         # True on the row every other row of its task is compared with
)


def make_row(**values) -> dict:
    """A row of :data:`ROW_KEYS`, ``None`` where a value is not given; unknown keys raise."""
    unknown = sorted(set(values) - set(ROW_KEYS))
    if unknown:
        raise ValueError(f"make_row: unknown keys {unknown}; expected a subset of {list(ROW_KEYS)}")
    row = dict.fromkeys(ROW_KEYS)
    row.update(values)
    row["baseline"] = bool(row["baseline"])
    return row


def ratio(base, this):
    """``base / this`` (a speed-up: the baseline's time over this row's), or None when either
    is missing or ``this`` is not positive."""
    if base is None or this is None or not this > 0:
        return None
    return float(base) / float(this)


def realisation(speedup, flop_speedup):
    """Measured speed-up over FLOP speed-up, or None when either is missing or not positive."""
    return ratio(speedup, flop_speedup)


def check_rows(rows, suite: str) -> list[dict]:
    """Validate what ``suite``'s ``table_rows`` returned: a list of dicts with exactly
    :data:`ROW_KEYS`, a family, method and task on each, finite numbers or None, and one baseline
    row per task. Returns ``rows``; raises ValueError naming the suite and the row."""
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"check_rows: {suite}.table_rows must return a non-empty list of rows, "
                         f"got {type(rows).__name__} {rows!r:.80}")
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or set(row) != set(ROW_KEYS):
            got = sorted(row) if isinstance(row, dict) else type(row).__name__
            raise ValueError(f"check_rows: {suite} row {i} must have exactly the keys "
                             f"{list(ROW_KEYS)}, got {got}")
        for key in ("family", "method", "task"):
            if not isinstance(row[key], str) or not row[key]:
                raise ValueError(f"check_rows: {suite} row {i}: {key!r} must be a non-empty "
                                 f"string, got {row[key]!r}")
        for key, value in row.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"check_rows: {suite} row {i} ({row['method']}): {key!r} is "
                                 f"{value}, expected a finite number or None")
    tasks = {row["task"] for row in rows}
    for task in sorted(tasks):
        n_base = sum(row["baseline"] for row in rows if row["task"] == task)
        if n_base != 1:
            raise ValueError(f"check_rows: {suite} task {task!r} has {n_base} baseline rows, "
                             "expected exactly 1")
    return rows
