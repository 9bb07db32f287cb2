"""A benchmark is a list of workloads; each times tinydyn against baselines in the same process.

The table reports, per workload and baseline, ``ratio = tinydyn time / baseline time`` (below 1
means tinydyn is faster) and whether it meets the workload's target. Baselines that cannot run
here (PyTorch not installed, a kernel not built) are reported as skipped with the reason, never
silently dropped.
"""

from __future__ import annotations

import dataclasses
import json
import platform
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tinydyn.measure.timing import Timing, format_seconds, time_fns


class Skip(Exception):
    """Raised by a workload's setup when it cannot run here; the message says why."""


# Set in a child process that times only tinydyn (see tinydyn.bench.isolated): PyTorch is then
# not even imported, so its thread pool cannot disturb the measurement.
NO_TORCH = "TINYDYN_BENCH_NO_TORCH"


def import_torch():
    """PyTorch if importable, else raise Skip (the benchmark then reports the row skipped)."""
    import os

    if os.environ.get(NO_TORCH):
        raise Skip("PyTorch is timed in a process of its own")
    try:
        import torch
    except ImportError:
        raise Skip("PyTorch not installed (pip install torch==2.13.0)") from None
    return torch


def torch_or_skip():
    """Like import_torch, but returns the Skip instead of raising it (for optional baselines)."""
    try:
        return import_torch()
    except Skip as why:
        return why


@dataclasses.dataclass
class Workload:
    """``setup()`` returns ``{"tinydyn": fn, "<baseline>": fn, ...}`` of zero-argument callables.

    ``targets`` maps a baseline name to the largest acceptable tinydyn/baseline ratio.
    """

    name: str
    setup: Callable[[], dict]
    targets: dict = dataclasses.field(default_factory=dict)
    note: str = ""  # what the target stands for, in words (printed under the table)


@dataclasses.dataclass
class Row:
    workload: str
    baseline: str
    tinydyn: Timing | None
    baseline_time: Timing | None
    target: float | None
    skipped: str = ""
    note: str = ""  # what the target stands for (the workload's note)

    @property
    def ratio(self) -> float | None:
        if self.tinydyn is None or self.baseline_time is None:
            return None
        return self.tinydyn.median / self.baseline_time.median

    @property
    def verdict(self) -> str:
        if self.skipped:
            return "skipped"
        if self.target is None:
            return ""
        return "met" if self.ratio <= self.target else "MISSED"


def run_workloads(workloads, repeats: int = 15, log=print, isolate=None) -> list[Row]:
    """Time every workload's candidates in alternating warm blocks (see ``time_fns``).

    ``isolate(workload, names, repeats) -> {name: Timing}``, when given, times the candidates
    ``names`` some other way (each in a process of its own: :mod:`tinydyn.bench.isolated`);
    the workload's ``setup()`` here then only tells which candidates exist.
    """
    rows = []
    for w in workloads:
        try:
            fns = w.setup()
        except Skip as why:
            rows.append(Row(w.name, "-", None, None, None, skipped=str(why), note=w.note))
            log(f"  {w.name}: skipped ({why})")
            continue
        skipped = {base: fn for base, fn in fns.items() if isinstance(fn, Skip)}
        live = {k: fn for k, fn in fns.items() if k not in skipped}
        timings = (time_fns(live, repeats=repeats) if isolate is None
                   else isolate(w, list(live), repeats))
        ours = timings.pop("tinydyn")
        log(f"  {w.name}: tinydyn {ours}")
        for base in fns:
            if base == "tinydyn":
                continue
            if base in skipped:
                rows.append(Row(w.name, base, ours, None, w.targets.get(base),
                                skipped=str(skipped[base]), note=w.note))
                continue
            log(f"  {w.name}: {base} {timings[base]}")
            rows.append(Row(w.name, base, ours, timings[base], w.targets.get(base),
                            note=w.note))
    return rows


def format_table(rows: list[Row]) -> str:
    """A Markdown table (readable as plain text too), then what each target stands for."""
    lines = [
        "| workload | tinydyn | baseline | baseline time | tinydyn / baseline | target | |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ours = str(r.tinydyn) if r.tinydyn else "-"
        theirs = str(r.baseline_time) if r.baseline_time else (r.skipped or "-")
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "-"
        target = f"≤ {r.target:g}x" if r.target is not None else ""
        lines.append(f"| {r.workload} | {ours} | {r.baseline} | {theirs} | {ratio} | {target} "
                     f"| {r.verdict} |")
    notes = dict.fromkeys(f"- {r.workload}: {r.note}" for r in rows if r.note)
    if notes:
        lines += ["", "Targets:", *notes]
    return "\n".join(lines)


def machine_line() -> str:
    import os

    import numba

    parts = [f"Python {platform.python_version()}", f"NumPy {np.__version__}",
             f"Numba {numba.__version__}", f"{os.cpu_count()} CPUs", platform.machine(),
             f"threads pinned to {os.environ.get('TINYDYN_BENCH_THREADS', 'default')}"]
    try:
        import torch

        parts.append(f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)")
    except ImportError:
        parts.append("PyTorch not installed")
    return ", ".join(parts)


def write_results(rows: list[Row], out_dir: Path, suite: str) -> tuple[Path, Path]:
    """Write ``<suite>.md`` (table + machine) and ``<suite>.json`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / f"{suite}.md"
    md.write_text(f"Measured on: {machine_line()}\n\n{format_table(rows)}\n", encoding="utf-8")
    js = out_dir / f"{suite}.json"
    records = [row_record(r) for r in rows]
    js.write_text(json.dumps({"machine": machine_line(), "rows": records}, indent=2),
                  encoding="utf-8")
    return md, js


def row_record(r: Row) -> dict:
    """A timed row as JSON: the medians in seconds, the ratio and the verdict."""
    return {"workload": r.workload, "baseline": r.baseline,
            "tinydyn_s": r.tinydyn.median if r.tinydyn else None,
            "baseline_s": r.baseline_time.median if r.baseline_time else None,
            "ratio": r.ratio, "target": r.target, "target_means": r.note, "verdict": r.verdict,
            "skipped": r.skipped}


def json_default(value):
    """``json.dumps(..., default=json_default)``: NumPy scalars as Python numbers."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def pin_torch_threads() -> None:
    """Apply ``TINYDYN_BENCH_THREADS`` to PyTorch too (it does not read the BLAS variables)."""
    import os

    threads = os.environ.get("TINYDYN_BENCH_THREADS")
    if threads:
        try:
            import torch
        except ImportError:
            return
        torch.set_num_threads(int(threads))


def format_time(t: Timing | None) -> str:
    return format_seconds(t.median) if t else "-"
