"""`tinydyn bench all`: every method suite, one table, one Pareto plot per family.

Each experiment suite of :data:`tinydyn.bench.EXPERIMENTS` runs in a process of its own (its
thread pools and memory start clean, and one suite that fails does not stop the others), writes
its ``<suite>.json`` into the output folder, and is read back through its ``table_rows``
(:mod:`tinydyn.bench.rows`). ``--from-results`` skips the runs and rebuilds the table from the
JSON already in the folder.

Writes ``all.md``, ``all.json`` and ``all_<family>.png`` into the output folder.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import time
from pathlib import Path

from tinydyn.bench.rows import check_rows

__all__ = ["collect", "format_markdown", "main", "method_suites", "plot_families", "run_all"]


def method_suites() -> list[str]:
    """The experiment suites ``bench all`` runs, in registration order (itself excluded)."""
    from tinydyn.bench import EXPERIMENTS

    return [name for name in EXPERIMENTS if name != "all"]


def _run_suite(suite: str, out_dir: Path, *, quick: bool, seed: int, seeds, log) -> dict:
    argv = [sys.executable, "-m", "tinydyn.cli", "bench", suite, "--out", str(out_dir),
            "--seed", str(seed), "--quiet"]
    argv += ["--quick"] if quick else []
    argv += [] if seeds is None else ["--seeds", str(seeds)]
    log(f"bench all: {suite} ...")
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        log(done.stdout[-2000:] + done.stderr[-4000:])
    log(f"bench all: {suite} exited {done.returncode} after {seconds:.0f} s")
    return {"returncode": done.returncode, "seconds": seconds}


def collect(out_dir, suites) -> tuple[list[dict], dict]:
    """Rows of every suite whose ``<suite>.json`` is in ``out_dir``, and a status per suite
    (``"ok"``, or why it gave no rows)."""
    from tinydyn.bench import EXPERIMENTS

    rows, status = [], {}
    for suite in suites:
        path = Path(out_dir) / f"{suite}.json"
        module = importlib.import_module(EXPERIMENTS[suite])
        if not path.is_file():
            status[suite] = f"no {path.name} in {out_dir}"
        elif getattr(module, "TABLE", True) is False:  # measured, but no accuracy rows
            status[suite] = f"ok (no rows: see {suite}.md)"
        elif not callable(getattr(module, "table_rows", None)):
            status[suite] = f"{EXPERIMENTS[suite]} has no table_rows"
        else:
            try:
                result = json.loads(path.read_text(encoding="utf-8"))
                rows += check_rows(module.table_rows(result), suite)
                status[suite] = "ok"
            except (ValueError, KeyError, TypeError) as error:  # an old or partial JSON
                status[suite] = f"unreadable {path.name}: {type(error).__name__}: {error}"
    return rows, status


def _num(value, fmt: str, scale: float = 1.0) -> str:
    return "-" if value is None else format(value * scale, fmt)


def _times(value) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _flops(value) -> str:
    if value is None:
        return "-"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:.3g}"


def format_markdown(rows: list[dict], status: dict, header: str) -> str:
    """The cross-method table, grouped by family and task, baseline first."""
    lines = [header, "", "| family | task | method | knob | accuracy % | FLOPs | params | "
             "batch-1 ms | batched ms (B) | speed-up b1 | speed-up batched | FLOP speed-up | "
             "realisation |", "|" + "---|" * 13]
    for row in sorted(rows, key=lambda r: (r["family"], r["task"], not r["baseline"])):
        acc = _num(row["accuracy"], ".1f", 100)
        if row["accuracy_std"] is not None:
            acc += f" ± {100 * row['accuracy_std']:.1f}"
        name = f"**{row['method']}**" if row["baseline"] else row["method"]
        batch = "" if row["batch_size"] is None else f" ({row['batch_size']})"
        lines.append(
            f"| {row['family']} | {row['task']} | {name} | {row['knob'] or '-'} | {acc} | "
            f"{_flops(row['flops'])} | {_flops(row['params'])} | "
            f"{_num(row['t_batch1_s'], '.3g', 1e3)} | "
            f"{_num(row['t_batched_s'], '.3g', 1e3)}{batch} | "
            f"{_times(row['speedup_batch1'])} | {_times(row['speedup_batched'])} | "
            f"{_times(row['flop_speedup'])} | {_num(row['realisation'], '.2f')} |")
    lines += ["", "Baselines in bold: every other row of a task is compared with it, in the same "
              "run. Times are per input; realisation = batch-1 speed-up / FLOP speed-up.", "",
              "| suite | status |", "|---|---|"]
    lines += [f"| {suite} | {text} |" for suite, text in status.items()]
    return "\n".join(lines) + "\n"


def plot_families(rows: list[dict], out_dir) -> list[Path]:
    """One accuracy-against-FLOPs Pareto plot per family (error bars: the std over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tinydyn.measure.pareto import plot_pareto

    paths = []
    for family in sorted({r["family"] for r in rows}):
        points = {}
        for r in rows:
            if r["family"] == family and r["flops"] and r["accuracy"] is not None:
                name = f"{r['method']} ({r['task']})"
                costs, accs, errs = points.setdefault(name, ([], [], []))
                costs.append(r["flops"])
                accs.append(r["accuracy"])
                errs.append(r["accuracy_std"] or 0.0)
        if not points:
            continue
        ax = plot_pareto({n: (c, a) for n, (c, a, _) in points.items()},
                         yerr={n: e for n, (_, _, e) in points.items()},
                         xlabel="FLOPs per input", title=f"{family}: accuracy against FLOPs")
        path = Path(out_dir) / f"all_{family}.png"
        ax.figure.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(ax.figure)
        paths.append(path)
    return paths


def run_all(out_dir, *, quick: bool = False, seed: int = 0, seeds=None, suites=None,
            from_results: bool = False, log=print) -> dict:
    """Run (unless ``from_results``) and collect every suite; write the table and plots."""
    from tinydyn.bench.harness import machine_line

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    suites = method_suites() if suites is None else list(suites)
    start = time.perf_counter()
    runs = {} if from_results else {s: _run_suite(s, out_dir, quick=quick, seed=seed,
                                                  seeds=seeds, log=log) for s in suites}
    rows, status = collect(out_dir, suites)
    for suite, run in runs.items():
        if run["returncode"] != 0:
            status[suite] = f"run failed (exit {run['returncode']}); {status[suite]}"
    header = (f"# tinydyn bench all{' --quick' if quick else ''}\n\n" + (
        "Rebuilt from the suites' JSON in this folder; each suite's own page names the "
        "machine, the threads and the clock it was measured with." if from_results else
        f"{machine_line()}. {len(suites)} suites in {time.perf_counter() - start:.0f} s."))
    result = {"machine": machine_line(), "quick": quick, "from_results": from_results,
              "runs": runs, "status": status, "rows": rows,
              "seconds": time.perf_counter() - start}
    (out_dir / "all.md").write_text(format_markdown(rows, status, header), encoding="utf-8")
    (out_dir / "all.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    result["plots"] = [str(p) for p in plot_families(rows, out_dir)]
    return result


def main(args) -> int:
    """`tinydyn bench all [--quick] [--from-results] [--seed S] [--seeds N] [--out DIR]`."""
    result = run_all(args.out, quick=args.quick, seed=args.seed,
                     seeds=getattr(args, "seeds", None),
                     from_results=getattr(args, "from_results", False),
                     log=(lambda *a: None) if args.quiet else print)
    print((Path(args.out) / "all.md").read_text(encoding="utf-8"))
    print(f"wrote all.md, all.json and {len(result['plots'])} plots in {args.out}")
    return 0 if all(text.startswith("ok") for text in result["status"].values()) else 1
