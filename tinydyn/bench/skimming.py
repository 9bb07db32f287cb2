"""`tinydyn bench skimming`: every skimming method against one full LSTM, on sparse_signal,
over several seeds.

Unlike the engine suite (a list of timing workloads), this suite is an *experiment*, run once
per seed (:func:`tinydyn.bench.seeds.run_seeds`): for each seed it draws the task, trains the
full-LSTM baseline (:func:`~tinydyn.dynamic.skimming.common.train_lstm_baseline`, a recipe
that learns on every seed), then calls each method's sweep (``sweep_<method>(task, baseline,
*, seed, quick, sequences, time_limit) -> rows``), which trains the method once per knob value
(or once for an inference-time knob) and times its paths against the LSTM's in alternating
warm blocks. Rows are matched across seeds by method and knob value and every number becomes
a mean with its spread (:func:`tinydyn.bench.seeds.aggregate_rows`). It writes

* ``skimming.md``: one table row per knob value (accuracy, seeds that learned, gap to the LSTM,
  FLOPs as % of the LSTM's, batch-1 time, speed-up, realisation, batched speed-up, each
  mean ± std), a verdict per method on the named targets, and the baseline's training curve;
* ``skimming.json``: the same numbers, with every seed's value;
* ``skimming_flops.png`` and ``skimming_time.png``: accuracy against FLOPs and against
  batch-1 time, one Pareto front per method with error bars over seeds, the LSTM as a star.

A method whose module is not there yet is listed as "not available"; one whose sweep raises is
listed as "failed" with the error, and the others still run.
"""

from __future__ import annotations

import importlib
import json
import time
import traceback
from pathlib import Path

import numpy as np

from tinydyn.bench.harness import json_default
from tinydyn.bench.seeds import aggregate_rows, failure_rate, run_seeds, spread
from tinydyn.bench.skimming_report import TARGETS, format_markdown, plots, table_rows, verdicts
from tinydyn.dynamic.skimming.common import compare, time_lstm, train_lstm_baseline

__all__ = ["BASELINE", "METHODS", "TARGETS", "find_sweeps", "format_markdown",
           "measure_baseline", "run_skimming", "table_rows", "verdicts"]

# method -> (modules to try, in order; the sweep function's name)
METHODS = {
    "VCRNN": (("tinydyn.dynamic.skimming.vcrnn_experiment",), "sweep_vcrnn"),
    "Skim-RNN": (("tinydyn.dynamic.skimming.skim_rnn_experiment",
                  "tinydyn.dynamic.skimming.skim_rnn"), "sweep_skim_rnn"),
    "LSTM-Jump": (("tinydyn.dynamic.skimming.lstm_jump_experiment",), "sweep_lstm_jump"),
}

# The baseline's epochs: it reaches 97-100% validation accuracy after 2 (seeds 0-4), so 6 in
# full mode is a margin, and the quick run's 2 still learns.
BASELINE = {"epochs": 6, "quick_epochs": 2}
N_TIMED = 50
LEARNED = 0.6  # two classes: a run at or below 60% test accuracy did not learn the task
SEEDS, QUICK_SEEDS = 3, 1
QUICK_LEAVES_OUT = ("one seed instead of three, so no spread; a third of the epochs or fewer "
                    "for every model; 2-3 knob values per method instead of 3-8; 3 timing "
                    "samples instead of 7.")


def find_sweeps() -> dict:
    """Method name -> its sweep function, or a string saying why it is not available."""
    found = {}
    for method, (modules, name) in METHODS.items():
        found[method] = f"not available (no {name} in {' or '.join(modules)})"
        for module in modules:
            try:
                sweep = getattr(importlib.import_module(module), name, None)
            except ModuleNotFoundError as error:
                if error.name is not None and module.startswith(error.name):
                    continue  # the module itself is missing: try the next place
                raise
            if callable(sweep):
                found[method] = sweep
                break
    return found


def measure_baseline(baseline, sequences, repeats: int = 7) -> dict:
    """The LSTM's row: its metrics plus batch-1 and batched time and FLOPs on ``sequences``."""
    model, metrics = baseline
    return {"method": "LSTM", "knob": "-", "value": None, **metrics,
            **time_lstm(model, sequences, repeats)}


def _with_ratios(row: dict, base: dict) -> dict:
    """A method's row compared with the LSTM: against the LSTM's times measured side by side
    with this row (``lstm_time_*``, from the sweep's paired timing) when the sweep gives them,
    else against the baseline row's own."""
    paired = {k: row.get(f"lstm_{k}", base[k]) for k in ("time_b1", "time_batched")}
    out = dict(row, **compare(row, {**base, **paired}, row["flops_timed"],
                              base["flops_timed"]))
    out["flops_fraction"] = row["flops"] / base["flops"]  # on the test set, like the accuracy
    return out


def _one_seed(seed, *, quick, sweeps, task, baseline, time_limit, log) -> dict:
    """Everything for one seed: the baseline's row and each method's rows (with ratios)."""
    from tinydyn.data import load_task

    task = load_task("sparse_signal", seed=seed) if task is None else task
    if baseline is None:
        log("training the full-LSTM baseline ...")
        baseline = train_lstm_baseline(
            task, seed, epochs=BASELINE["quick_epochs" if quick else "epochs"])
    sequences = [np.asarray(task.test[i][0]) for i in range(min(N_TIMED, len(task.test)))]
    base = measure_baseline(baseline, sequences, repeats=3 if quick else 7)
    log(f"  LSTM: accuracy {base['accuracy']:.3f}, batch-1 {1e3 * base['time_b1']:.3f} ms")
    methods = {}
    for method, sweep in sweeps.items():
        if not callable(sweep):
            methods[method] = {"status": str(sweep), "rows": []}
            continue
        log(f"{method}: sweeping ...")
        start = time.perf_counter()
        try:
            rows = sweep(task, baseline, seed=seed, quick=quick, sequences=sequences,
                         time_limit=time_limit)
        except Exception as error:  # one broken method must not hide the others' results
            log(traceback.format_exc())
            methods[method] = {"status": f"failed on seed {seed} ({type(error).__name__}: "
                                         f"{error})", "rows": []}
            continue
        rows = [_with_ratios(r, base) for r in rows]
        methods[method] = {"status": "ok", "rows": rows, "seconds": time.perf_counter() - start}
        for r in rows:
            log(f"  {method} {r['knob']}={r['value']:g}: accuracy {r['accuracy']:.3f}, FLOPs "
                f"{100 * r['flops_fraction']:.1f}%, speed-up {r['speedup']:.2f}x, realisation "
                f"{r['realisation']:.2f}")
    return {"baseline": base, "methods": methods, "n_timed": len(sequences)}


def _learned_count(row: dict) -> int:
    return len(row["accuracy"]["values"]) - failure_rate(row["accuracy"], LEARNED)["failed"]


def _aggregate(runs: dict, names) -> tuple[dict, dict]:
    """Per-seed results -> the baseline row and each method's rows over seeds."""
    (base,) = aggregate_rows({s: [r["baseline"]] for s, r in runs.items()}, key=("method",))
    base["learned"] = _learned_count(base)
    methods = {}
    for method in names:
        per_seed = {s: r["methods"][method] for s, r in runs.items()}
        failed = [info["status"] for info in per_seed.values() if info["status"] != "ok"]
        ok = {s: info["rows"] for s, info in per_seed.items() if info["status"] == "ok"}
        if not ok:
            methods[method] = {"status": failed[0], "rows": []}
            continue
        rows = aggregate_rows(ok, key=("method", "knob", "value"))
        for row in rows:
            row["learned"] = _learned_count(row)
        best = [max(r["accuracy"] for r in rows_) for rows_ in ok.values()]
        info = {"status": "ok", "rows": rows,
                "seconds": spread([per_seed[s]["seconds"] for s in ok]),
                "best_row_failures": failure_rate(best, LEARNED)}
        if failed:
            info["note"] = "Rows over the seeds that ran; " + "; ".join(failed) + "."
        if rows:
            info["verdicts"] = verdicts(rows)
        methods[method] = info
    return base, methods


def run_skimming(out_dir, *, quick: bool = False, seed: int = 0, seeds=None,
                 sweeps: dict | None = None, task=None, baseline=None,
                 time_limit: float = 55.0, log=print) -> dict:
    """Run the suite over ``seeds`` and write its files into ``out_dir``; return the result.

    ``seeds``: a list of seeds, or a count starting at ``seed`` (default: 3, or 1 with
    ``quick``). ``sweeps`` (method -> sweep function or a "not available" string; default
    :func:`find_sweeps`), ``task`` (default ``load_task("sparse_signal", seed=s)`` per seed)
    and ``baseline`` (default: trained per seed) can be given, so tests can run the machinery
    without training. ``time_limit`` is passed to every sweep (its cap per training run).
    """
    from tinydyn.bench.harness import machine_line

    log = log or (lambda *a: None)
    out_dir = Path(out_dir)
    if seeds is None:
        seeds = QUICK_SEEDS if quick else SEEDS
    if isinstance(seeds, int):
        seeds = list(range(seed, seed + seeds))
    sweeps = find_sweeps() if sweeps is None else sweeps
    runs = run_seeds(lambda s: _one_seed(s, quick=quick, sweeps=sweeps, task=task,
                                         baseline=baseline, time_limit=time_limit, log=log),
                     seeds, log=log)
    base, methods = _aggregate(runs, sweeps)
    epochs = BASELINE["quick_epochs" if quick else "epochs"]
    result = {"machine": machine_line(), "seeds": list(runs), "seed": seeds[0],
              "quick": quick, "n_timed": next(iter(runs.values()))["n_timed"],
              "targets": TARGETS, "learned_threshold": LEARNED, "baseline": base,
              "methods": methods,
              "config": {"baseline": f"LSTM (E=32, H=64), chrono-initialised gate biases, "
                                     f"Adam lr 1e-2 with 10% linear warm-up then cosine "
                                     f"decay, gradient norm clipped at 1, {epochs} epochs",
                         "quick_leaves_out": QUICK_LEAVES_OUT}}
    if baseline is None:
        result["reproduce"] = _reproduce(runs, quick, log)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "skimming.md").write_text(format_markdown(result), encoding="utf-8")
    (out_dir / "skimming.json").write_text(json.dumps(result, indent=2, default=json_default),
                                           encoding="utf-8")
    plots(result, out_dir)
    return result


def _reproduce(runs, quick, log) -> dict:
    """The row a short test reruns (``tests/bench/test_skimming_published.py``): the
    baseline's recipe for ``BASELINE["quick_epochs"]`` epochs, test accuracy per seed."""
    from tinydyn.data import load_task

    epochs = BASELINE["quick_epochs"]
    values = []
    for s, r in runs.items():
        if quick:  # the quick baseline is this very configuration
            values.append(r["baseline"]["accuracy"])
            continue
        log(f"reproduction row: the baseline for {epochs} epochs, seed {s} ...")
        task = load_task("sparse_signal", seed=s)
        values.append(train_lstm_baseline(task, s, epochs=epochs)[1]["accuracy"])
    return {"what": f"the full-LSTM baseline's recipe for {epochs} epochs", "epochs": epochs,
            "accuracy": spread(values)}



def main(args) -> int:
    """`tinydyn bench skimming [--quick] [--seed S] [--seeds N] [--out DIR] [--quiet]`
    (``--threads`` is applied by the caller before this runs)."""
    from tinydyn.bench.harness import machine_line

    print(f"tinydyn bench skimming — {machine_line()}")
    start = time.perf_counter()
    run_skimming(args.out, quick=args.quick, seed=args.seed,
                 seeds=getattr(args, "seeds", None), log=None if args.quiet else print)
    md = Path(args.out) / "skimming.md"
    print()
    print(md.read_text(encoding="utf-8"))
    print(f"wrote {md}, skimming.json, skimming_flops.png and skimming_time.png in {args.out} "
          f"({time.perf_counter() - start:.0f} s)")
    return 0
