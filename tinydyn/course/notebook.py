"""Small helpers a lesson calls in one line, so its cells show ideas rather than plumbing.

- :func:`pin_threads` — limit BLAS and Numba to ``n`` threads (one call at the top of a lesson
  that times code), and say so in one printed line.
- :func:`claim` — print a sentence about a measured value only if this run bears it out;
  otherwise fail the cell (and so the lesson build). :func:`say` prints a sentence formatted
  from computed values.
- :func:`time_table` — time candidates with :func:`tinydyn.measure.time_fns` and print median,
  spread and speed-up against a reference.
- :func:`show_table` — a small aligned text table; :func:`plot_curve` — a training curve;
  :func:`plot_bars` — one labelled bar per named value (speed-ups, FLOP shares).

Prose in a lesson never states a measured number or comparison itself: it comes from
:func:`say`, or it is guarded by :func:`claim` (or an ``assert``) in the cell that shows it.
"""

from __future__ import annotations

import numbers
import os

import numpy as np

from tinydyn._checks import check_int, fail
from tinydyn.measure import format_seconds, time_fns

__all__ = ["claim", "pin_threads", "plot_bars", "plot_curve", "say", "show_table",
           "time_table"]


class _Printed(str):
    """Text a helper has already printed. It is returned for code and tests to use, but a
    notebook does not echo it a second time when the call ends a cell."""

    def _ipython_display_(self) -> None:
        pass


def pin_threads(n: int = 1) -> None:
    """Limit BLAS (through threadpoolctl) and Numba's parallel loops to ``n`` threads each,
    from now on in this process, and print one line saying so.

    On a small machine shared with other work, a BLAS that starts one thread per core makes
    timings erratic (its threads mostly wait for each other); pinning makes them repeatable.
    Unlike environment variables, this works after NumPy has been imported.
    """
    n = check_int("pin_threads", "n", n, min_value=1)
    import numba
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:  # pragma: no cover - the course extra installs it
        fail("pin_threads", "needs threadpoolctl: pip install -e \".[course]\"", ImportError)
    numba_max = numba.config.NUMBA_NUM_THREADS
    if n > numba_max:
        fail("pin_threads", f"n must be <= {numba_max} (the threads Numba started with), "
                            f"got {n}")
    threadpool_limits(limits=n)
    numba.set_num_threads(n)
    blas = sorted({f"{p['internal_api']} {p['num_threads']}" for p in threadpool_info()
                   if p["user_api"] == "blas"}) or ["none loaded"]
    print(f"threads pinned: BLAS ({', '.join(blas)}), Numba {numba.get_num_threads()}; "
          f"this machine has {os.cpu_count()} cores")


def _check_condition(fn: str, condition) -> bool:
    # A bare truth test would accept anything: a Timing object or a non-empty array is "true".
    if not isinstance(condition, (bool, np.bool_)):
        fail(fn, f"condition must be a bool (a comparison of measured values), got "
                 f"{type(condition).__name__} {condition!r}", TypeError)
    return bool(condition)


def say(template: str, **values) -> str:
    """Print ``template.format(**values)`` and return it: a sentence generated from numbers
    computed on the page (``say("{n} of {total} tokens skimmed", n=..., total=...)``)."""
    if not isinstance(template, str):
        fail("say", f"template must be a str, got {type(template).__name__}", TypeError)
    try:
        sentence = template.format(**values)
    except (KeyError, IndexError, ValueError) as err:
        fail("say", f"cannot format {template!r} with {sorted(values)}: {err!r}")
    print(sentence)
    return _Printed(sentence)


def claim(condition, sentence: str, **values) -> str:
    """State ``sentence`` (formatted with ``values``) only if ``condition`` holds on this run.

    Prints and returns the sentence when ``condition`` is true; raises ``AssertionError``
    ("claim contradicted by this run: ...") when it is false, so the lesson build fails rather
    than ship a sentence its own output contradicts.
    """
    holds = _check_condition("claim", condition)
    if not isinstance(sentence, str):
        fail("claim", f"sentence must be a str, got {type(sentence).__name__}", TypeError)
    try:
        text = sentence.format(**values)
    except (KeyError, IndexError, ValueError) as err:
        fail("claim", f"cannot format {sentence!r} with {sorted(values)}: {err!r}")
    if not holds:
        raise AssertionError(f"claim contradicted by this run: {text}")
    print(text)
    return _Printed(text)


def _cell(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        return f"{float(value):.4g}"
    return str(value)


def show_table(rows, columns, align: str | None = None) -> str:
    """Print ``rows`` (sequences of cells) under the headers ``columns`` and return the text.

    Ints get thousands separators and floats 4 significant digits; pre-format a cell as a
    string to choose its format. ``align`` has one letter per column, ``"l"`` or ``"r"``; by
    default columns of numbers are right-aligned and the others left-aligned.
    """
    columns = [str(c) for c in columns]
    rows = [list(row) for row in rows]
    for i, row in enumerate(rows):
        if len(row) != len(columns):
            fail("show_table", f"row {i} has {len(row)} cells, expected {len(columns)} "
                               f"(one per column {columns})")
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(row[j]) for row in cells]) for j, c in enumerate(columns)]
    if align is None:
        numeric = [bool(rows) and all(not isinstance(row[j], str) for row in rows)
                   for j in range(len(columns))]
    elif isinstance(align, str) and len(align) == len(columns) and set(align) <= {"l", "r"}:
        numeric = [a == "r" for a in align]
    else:
        fail("show_table", f"align must be one letter 'l' or 'r' per column ({len(columns)}), "
                           f"got {align!r}")

    def line(items):
        return "  ".join(item.rjust(w) if num else item.ljust(w)
                         for item, w, num in zip(items, widths, numeric)).rstrip()

    text = "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in cells])
    print(text)
    return _Printed(text)


def time_table(candidates: dict, reference: str | None = None, **timing) -> dict:
    """Time zero-argument callables with :func:`tinydyn.measure.time_fns` (warm blocks that
    alternate between candidates) and print one row each: median time per call, spread
    (interquartile range / median) and speed-up over ``reference`` (default: the first).

    ``timing`` is passed to ``time_fns`` (``repeats``, ``block``, ``min_sample_s``, ...).
    Returns name -> :class:`tinydyn.measure.Timing`.
    """
    if not isinstance(candidates, dict) or not candidates:
        fail("time_table", f"candidates must be a non-empty dict name -> callable, got "
                           f"{candidates!r}", TypeError)
    reference = next(iter(candidates)) if reference is None else reference
    if reference not in candidates:
        fail("time_table", f"reference {reference!r} is not a candidate (have "
                           f"{list(candidates)})")
    timings = time_fns(candidates, **timing)
    ref = timings[reference].median
    show_table([[name, format_seconds(t.median), f"±{100 * t.spread:.0f}%",
                 f"{ref / t.median:.2f}x" if t.median > 0 else "-"]
                for name, t in timings.items()],
               ["", "median", "spread", f"speed-up over {reference}"], align="lrrr")
    return timings


def plot_curve(curves, xlabel: str = "step", ylabel: str = "loss", ax=None,
               title: str | None = None, log_y: bool = False):
    """Plot one or more curves, e.g. the training loss per step. ``curves`` is a sequence of
    y values, or a dict name -> y values or name -> (x values, y values); x defaults to
    1, 2, ... Returns the matplotlib Axes (needs matplotlib)."""
    import matplotlib.pyplot as plt

    series = curves if isinstance(curves, dict) else {None: curves}
    if not series:
        fail("plot_curve", "curves is empty: give at least one curve")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3))
    for name, values in series.items():
        if isinstance(values, tuple) and len(values) == 2:
            x, y = (np.asarray(v, dtype=float) for v in values)
        else:
            y = np.asarray(values, dtype=float)
            x = np.arange(1, len(y) + 1)
        if y.ndim != 1 or x.shape != y.shape or y.size == 0:
            fail("plot_curve", f"curve {name!r} must be a non-empty 1-D series with as many x "
                               f"as y values, got x {x.shape} and y {y.shape}")
        ax.plot(x, y, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if log_y:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    if len(series) > 1 or None not in series:
        ax.legend()
    return ax


def plot_bars(values: dict, xlabel: str = "", ax=None, title: str | None = None,
              log_x: bool = False, fmt: str = "{:.3g}", line_at: float | None = None):
    """One horizontal bar per name -> value, top to bottom in the dict's order, each labelled
    with ``fmt.format(value)``; ``line_at`` draws a vertical reference line (1 for ratios).
    Returns the matplotlib Axes (needs matplotlib)."""
    import matplotlib.pyplot as plt

    if not isinstance(values, dict) or not values:
        fail("plot_bars", f"values must be a non-empty dict name -> number, got {values!r}",
             TypeError)
    numbers_ = np.asarray(list(values.values()), dtype=float)
    if log_x and not (numbers_ > 0).all():
        fail("plot_bars", f"log_x needs positive values, got {dict(values)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.45 * len(values) + 1))
    bars = ax.barh(list(values), numbers_, color="tab:blue")
    for bar, v in zip(bars, numbers_):
        ax.text(v, bar.get_y() + bar.get_height() / 2, " " + fmt.format(v), va="center",
                fontsize=9)
    if log_x:
        ax.set_xscale("log")
    if line_at is not None:
        ax.axvline(line_at, color="black", lw=0.8)
    ax.set_xlim(right=numbers_.max() * (4 if log_x else 1.2))
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    return ax
