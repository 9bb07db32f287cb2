"""Every experiment over several seeds: run, pair rows up, aggregate, format.

One seed's result is one draw: a float computed on another CPU (SIMD ``exp``, BLAS summation
order) differs in its last bits, training amplifies that, and a method that learns on one seed
may not on the next. So a suite reports each number over seeds, with its spread, and says how
often a run failed. Any suite gets that with::

    runs = run_seeds(lambda seed: my_rows(seed), seeds=(0, 1, 2))
    rows = aggregate_rows(runs, key=("method", "value"))
    format_spread(rows[0]["accuracy"], scale=100)            # "95.2 ± 1.3"

``experiment(seed) -> list of row dicts``; rows of different seeds are matched by the fields in
``key`` (the method and its knob value, say). Every numeric field of a matched row becomes a
:class:`Spread` dict ``{"mean", "std", "min", "max", "values"}``; other fields must agree
between seeds and are kept as they are.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from tinydyn._checks import fail

__all__ = ["aggregate_rows", "error_bars", "failure_rate", "format_spread", "is_spread",
           "mean_of", "run_seeds", "spread"]


def run_seeds(experiment, seeds, log=None) -> dict:
    """``{seed: experiment(seed)}`` for every seed, in order; ``log(text)`` reports progress."""
    if not callable(experiment):
        fail("run_seeds", f"experiment must be callable, got {type(experiment).__name__}",
             TypeError)
    seeds = list(seeds)
    if not seeds:
        fail("run_seeds", "seeds must hold at least one seed, got none")
    for seed in seeds:
        if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
            fail("run_seeds", f"seeds must be ints >= 0, got {seed!r}", TypeError)
    if len(set(seeds)) != len(seeds):
        fail("run_seeds", f"seeds must be distinct, got {seeds}")
    out = {}
    for seed in seeds:
        if log is not None:
            log(f"seed {seed} ({len(out) + 1} of {len(seeds)})")
        out[int(seed)] = experiment(int(seed))
    return out


def spread(values) -> dict:
    """Numbers over seeds -> ``{"mean", "std", "min", "max", "values"}`` (std with ddof=1,
    0 for a single value: one seed has no measured spread)."""
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or array.size == 0:
        fail("spread", f"values must be a non-empty 1-D sequence of numbers, got shape "
             f"{array.shape}")
    return {"mean": float(array.mean()),
            "std": float(array.std(ddof=1)) if array.size > 1 else 0.0,
            "min": float(array.min()), "max": float(array.max()),
            "values": [float(v) for v in array]}


def is_spread(value) -> bool:
    """True for a dict made by :func:`spread`."""
    return isinstance(value, dict) and {"mean", "std", "min", "max", "values"} <= set(value)


def mean_of(value) -> float:
    """The mean of a :func:`spread` dict, or the number itself."""
    return value["mean"] if is_spread(value) else float(value)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and value is not None


def aggregate_rows(runs: dict, key=("method", "value")) -> list[dict]:
    """Rows of several seeds -> one row per ``key``, each numeric field a :func:`spread`.

    ``runs`` maps seed -> list of row dicts (as :func:`run_seeds` returns). Rows are matched by
    the tuple of their ``key`` fields and keep the order of the first seed; a row missing from
    some seed raises (a sweep must return the same rows on every seed). ``None`` and NaN
    values are left out of a field's spread (a time a run could not measure); a field that is
    None on every seed stays None. Non-numeric fields (names, lists) must agree across seeds,
    except lists, which are kept per seed under ``"<field>_per_seed"``.
    """
    fn = "aggregate_rows"
    if not isinstance(runs, dict) or not runs:
        fail(fn, f"runs must be a non-empty dict seed -> rows, got {type(runs).__name__}",
             TypeError)
    key = tuple(key)
    indexed = {}
    for seed, rows in runs.items():
        table = {}
        for row in rows:
            missing = [k for k in key if k not in row]
            if missing:
                fail(fn, f"every row must have the key fields {key}, a row of seed {seed} "
                     f"lacks {missing}")
            table[tuple(row[k] for k in key)] = row
        indexed[seed] = table
    seeds = list(indexed)
    order = list(indexed[seeds[0]])
    for seed in seeds[1:]:
        if set(indexed[seed]) != set(order):
            fail(fn, f"seed {seed} returned rows {sorted(map(str, indexed[seed]))}, seed "
                 f"{seeds[0]} returned {sorted(map(str, order))}: a sweep must return the "
                 "same rows on every seed")
    out = []
    for k in order:
        rows = [indexed[seed][k] for seed in seeds]
        merged = {"seeds": seeds}
        for field in rows[0]:
            values = [row.get(field) for row in rows]
            if field in key:
                merged[field] = values[0]
            elif all(v is None or _is_number(v) for v in values):
                finite = [v for v in values if v is not None and not
                          (isinstance(v, float) and math.isnan(v))]
                merged[field] = spread(finite) if finite else None
            elif any(isinstance(v, (list, tuple, dict)) for v in values):
                merged[f"{field}_per_seed"] = values
            elif all(v == values[0] for v in values):
                merged[field] = values[0]
            else:
                fail(fn, f"field {field!r} of row {k} differs between seeds ({values}) and "
                     "is not a number, so it cannot be averaged")
        out.append(merged)
    return out


def failure_rate(values, threshold: float) -> dict:
    """How many seeds fell at or below ``threshold`` (chance, say): ``{"failed", "of",
    "rate"}``. ``values`` is a :func:`spread` dict or a list of numbers."""
    values = values["values"] if is_spread(values) else list(values)
    failed = sum(1 for v in values if v <= threshold)
    return {"failed": failed, "of": len(values), "rate": failed / len(values) if values else 0.0}


def format_spread(value, scale: float = 1.0, digits: int = 1, unit: str = "",
                  style: str = "std") -> str:
    """``"95.2 ± 1.3"`` (mean ± std over seeds, times ``scale``); ``style="range"`` gives
    ``"95.2 (93.1–96.0)"`` (mean and min–max). A plain number is formatted alone; None as
    ``"-"``."""
    if style not in ("std", "range"):
        fail("format_spread", f"style must be 'std' or 'range', got {style!r}")
    if value is None:
        return "-"
    if not is_spread(value):
        return f"{scale * float(value):.{digits}f}{unit}"
    mean = f"{scale * value['mean']:.{digits}f}"
    if len(value["values"]) < 2:
        return mean + unit
    if style == "std":
        return f"{mean} ± {scale * value['std']:.{digits}f}{unit}"
    return f"{mean}{unit} ({scale * value['min']:.{digits}f}–{scale * value['max']:.{digits}f})"


def error_bars(values, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``(means, yerr)`` for matplotlib's ``errorbar`` from a list of :func:`spread` dicts:
    ``yerr`` is (2, n), the distance from each mean down to the min and up to the max (so the
    bar spans every seed's value)."""
    means = np.array([scale * mean_of(v) for v in values], float)
    low = np.array([scale * (v["mean"] - v["min"]) if is_spread(v) else 0.0 for v in values])
    high = np.array([scale * (v["max"] - v["mean"]) if is_spread(v) else 0.0 for v in values])
    return means, np.vstack([low, high])
