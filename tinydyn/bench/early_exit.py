"""`tinydyn bench early_exit`: early exit's accuracy against depth, FLOPs and time, in one run.

* Tasks: scikit-learn's 8x8 digits with the residual MLP of spec C.10 (8 blocks of width 64),
  the seeded easy/hard Gaussian task with the same MLP, and the digits read as 8 rows of 8
  pixels by a 6-layer Transformer encoder.
* Methods (recipe + policy, as in each paper): PABEE (joint weighted loss, patience), DeeBERT
  (two stages, entropy), FastBERT (self-distillation, normalised entropy), Right Tool (summed
  losses, calibrated max-probability), BERxiT (alternating + learned exit), entropy on the PABEE
  model, and a cascade of a 1-layer model and the PABEE model.
* Each policy's knob is swept on the test split; the operating point is chosen on the
  validation split (fewest FLOPs within 0.5 point of the full model there). Reference: the
  static models obtained by truncating the same backbone to 1..L layers (each exit's accuracy
  at the static model's cost); the ELUE-style score is the mean height of a sweep's Pareto
  points above that curve, in accuracy points.
* Timing on the first seed's models: batch 1 (the compiled loop for the MLP) and batches of
  8 and 32 with wait-for-all, compaction and refill, against the static model timed the same
  way, in alternating warm blocks.

Writes ``early_exit.md``, ``early_exit.json`` and ``early_exit.png``.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from tinydyn.bench.early_exit_report import (
    format_markdown,
    plot,
    table_rows,
    timed_flop_speedup,
)
from tinydyn.bench.harness import machine_line
from tinydyn.bench.rows import check_rows, realisation
from tinydyn.bench.seeds import aggregate_rows, mean_of, run_seeds
from tinydyn.data.dataset import TensorDataset
from tinydyn.dynamic.early_exit import (
    EntropyPolicy,
    LearnedPolicy,
    MaxProbPolicy,
    MultiExitMLP,
    MultiExitTransformer,
    PatiencePolicy,
    exit_decisions,
    run_engine,
)
from tinydyn.dynamic.early_exit.cascade import run_cascade
from tinydyn.dynamic.early_exit.cost import exit_flops, static_flops
from tinydyn.dynamic.early_exit.kernels import NEVER, mlp_exit_batch1
from tinydyn.dynamic.early_exit.training import all_exit_outputs, train_multi_exit
from tinydyn.measure.elue import elue_score, front_curve
from tinydyn.measure.timing import time_fns

__all__ = ["METHODS", "TASKS", "TARGETS", "main", "run_early_exit", "table_rows"]

TASKS = {
    "digits": {"model": "mlp", "width": 64, "depth": 8, "steps": 800, "quick_steps": 300},
    "easy_hard": {"model": "mlp", "width": 64, "depth": 8, "steps": 600, "quick_steps": 250},
    "digits_rows": {"model": "transformer", "width": 32, "depth": 6, "steps": 500,
                    "quick_steps": 200},
}
# method -> (recipe, policy maker (model, temps, knob) -> policy, knob name, knob values(L, C))
METHODS = {
    "PABEE (patience)": ("joint", lambda m, t, v: PatiencePolicy(int(v)), "patience",
                         lambda L, C: list(range(1, L + 1))),
    "DeeBERT (entropy)": ("two_stage", lambda m, t, v: EntropyPolicy(v), "S",
                          lambda L, C: list(np.linspace(0, math.log(C), 13)[:-1])),
    "FastBERT (speed)": ("distill", lambda m, t, v: EntropyPolicy(v, normalized=True), "speed",
                         lambda L, C: [0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0]),
    "Right Tool (max-prob)": ("sum", lambda m, t, v: MaxProbPolicy(v, t), "threshold",
                              lambda L, C: [0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 1.0]),
    "BERxiT (learned)": ("alternate", lambda m, t, v: LearnedPolicy.from_model(m, v),
                         "threshold", lambda L, C: [0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5,
                                                    1.0]),
    "entropy on PABEE model": ("joint", lambda m, t, v: EntropyPolicy(v), "S",
                               lambda L, C: list(np.linspace(0, math.log(C), 13)[:-1])),
    "cascade 1 -> L layers": ("joint", None, "threshold",
                              lambda L, C: [0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0]),
}
QUICK = {"digits": ("PABEE (patience)", "Right Tool (max-prob)", "entropy on PABEE model"),
         "easy_hard": ("PABEE (patience)", "entropy on PABEE model"),
         "digits_rows": ("PABEE (patience)", "entropy on PABEE model")}
TARGETS = {"max_layers_fraction": 0.5, "max_accuracy_gap": 0.01, "min_speedup_batch1": 1.6,
           "min_speedup_batched": 1.5, "min_realisation": 0.7, "val_margin": 0.005}
BATCHES = (8, 32)


def _task(name, seed):
    from tinydyn.data.tasks import load_task

    if name != "digits_rows":
        return load_task(name, seed=seed)
    task = load_task("digits", seed=seed)  # each image read as 8 tokens of 8 pixels

    def rows(split):
        x, y = split.fields
        return TensorDataset(x.reshape(len(x), 8, 8), y, names=("inputs", "label"))
    return replace(task, name="digits_rows", train=rows(task.train), val=rows(task.val),
                   test=rows(task.test), input_shape=(8, 8))


def _model(task, recipe, seed, depth=None):
    rng = np.random.default_rng(1000 + seed)
    depth = recipe["depth"] if depth is None else depth
    if recipe["model"] == "mlp":
        return MultiExitMLP(int(np.prod(task.input_shape)), task.num_classes,
                            width=recipe["width"], depth=depth, rng=rng)
    return MultiExitTransformer(task.input_shape[1], task.num_classes, task.input_shape[0],
                                d_model=recipe["width"], nhead=2, dim_feedforward=2 *
                                recipe["width"], num_layers=depth, rng=rng)


def _sweep(model, temps, method, val, test, knobs, cascade=None):
    """Rows (one per knob) of accuracy, mean layers and FLOPs on test, plus val accuracy."""
    rows = []
    for v in knobs:
        r = {}
        for split, (z, f, y, x) in (("val", val), ("test", test)):
            if cascade is None:
                policy = METHODS[method][1](model, temps, v)
                exits, preds = exit_decisions(z, policy, f)
                decision = "learned" if isinstance(policy, LearnedPolicy) else "softmax"
                flops = exit_flops(model, exits, decision=decision).mean()
            else:
                small, sizes = cascade
                res = run_cascade([small.runner(), model.runner()], v, x, sizes)
                preds, flops = res.predictions, res.flops.mean()
                exits = np.where(res.stage == 0, small.depth, small.depth + model.depth)
            r[split] = ((preds == y).mean(), exits.mean(), flops)
        rows.append({"method": method, "value": float(v), "accuracy": float(r["test"][0]),
                     "val_accuracy": float(r["val"][0]), "mean_layers": float(r["test"][1]),
                     "flops": float(r["test"][2]), "val_flops": float(r["val"][2])})
    return rows


def _operating(rows, full_val):
    ok = [r for r in rows if r["val_accuracy"] >= full_val - TARGETS["val_margin"]]
    return min(ok or rows, key=lambda r: (r["val_flops"], -r["val_accuracy"]))


def _one_task(task_name, seed, quick, log, keep):
    recipe = TASKS[task_name]
    task = _task(task_name, seed)
    steps = recipe["quick_steps" if quick else "steps"]
    names = QUICK[task_name] if quick else tuple(METHODS)
    if recipe["model"] == "transformer" and not quick:
        names = ("PABEE (patience)", "DeeBERT (entropy)", "entropy on PABEE model",
                 "cascade 1 -> L layers")
    trained, rows, info = {}, [], {}
    splits = {s: (task.splits[s].fields[0], task.splits[s].fields[1]) for s in ("val", "test")}
    for method in names:
        rec = METHODS[method][0]
        if rec not in trained:
            model = _model(task, recipe, seed)
            start = time.perf_counter()
            out = train_multi_exit(model, task, rec, steps=steps, rng=np.random.default_rng(
                2000 + seed))
            outs = {s: all_exit_outputs(model, x) for s, (x, _) in splits.items()}
            trained[rec] = (model, out["temperatures"], outs, time.perf_counter() - start)
        model, temps, outs, train_s = trained[rec]
        data = {s: (*outs[s], splits[s][1], splits[s][0]) for s in splits}
        depth, n_cls = model.depth, model.num_classes
        cascade = None
        if method.startswith("cascade"):
            small = _model(task, recipe, seed, depth=1)
            train_multi_exit(small, task, "joint", steps=steps, rng=np.random.default_rng(
                3000 + seed))
            cascade = (small, [static_flops(small), static_flops(model)])
        sweep = _sweep(model, temps, method, data["val"], data["test"],
                       METHODS[method][3](depth, n_cls), cascade)
        z_test, y_test = outs["test"][0], splits["test"][1]
        truncated = [float((z_test[i].argmax(1) == y_test).mean()) for i in range(depth)]
        ref_flops = [static_flops(model, i + 1) for i in range(depth)]
        full_val = float((outs["val"][0][-1].argmax(1) == splits["val"][1]).mean())
        op = _operating(sweep, full_val)
        fc, fa = front_curve([r["flops"] for r in sweep], [r["accuracy"] for r in sweep])
        rows += [{**r, "task": task_name, "operating": False} for r in sweep]
        rows.append({"method": method, "value": "operating point", "task": task_name,
                     "knob_value": op["value"], "accuracy": op["accuracy"],
                     "mean_layers": op["mean_layers"], "flops": op["flops"],
                     "val_flops": op["val_flops"], "full_accuracy": truncated[-1],
                     "full_flops": static_flops(model),
                     "depth": depth, "elue_points": 100 * elue_score(fc, fa, ref_flops,
                                                                     truncated),
                     "train_s": train_s, "params": int(sum(p.data.size for p in
                                                           model.parameters()))})
        info[method] = {"truncated": truncated, "truncated_flops": ref_flops}
        if keep is not None:
            keep[(task_name, method)] = (model, temps, op["value"], task, cascade, sweep)
        if log:
            log(f"  seed {seed} {task_name:<12} {method:<24} op {METHODS[method][2]}="
                f"{op['value']:.3g}: test {100 * op['accuracy']:.1f}% (full "
                f"{100 * truncated[-1]:.1f}%), {op['mean_layers']:.2f}/{depth} layers")
    return rows, info


# ---- timing -------------------------------------------------------------------------------


def _static_batched(runner, x, batch):
    def run():
        for a in range(0, len(x), batch):
            state = runner.embed(x[a:a + batch])
            for i in range(runner.num_layers):
                state = runner.layer(i, state)
            runner.head(runner.num_layers - 1, state)
    return run


def _fused(runner, x, policy):
    if runner.mix is not None:
        raise ValueError("_fused: the compiled batch-1 loop has no Right Tool layer mixing")
    thr, temps, w, b = (0.0, np.ones(runner.num_layers), np.zeros(1), 0.0) if policy is None \
        else policy.params(runner.num_layers)
    code = NEVER if policy is None else policy.code
    xs = np.ascontiguousarray(x.reshape(len(x), -1), dtype=runner.dtype)

    def run():
        return mlp_exit_batch1(xs, runner.stem_w, runner.stem_b, runner.w1, runner.b1,
                               runner.w2, runner.b2, runner.head_w, runner.head_b, code, thr,
                               temps, w, b)
    return run


def timing_clock():
    """(clock, name): with one thread (``--threads 1``) the process's CPU time, which other
    processes' load on a shared machine does not inflate (on a quiet machine it equals the
    wall-clock of a single-threaded run); otherwise wall-clock time."""
    if os.environ.get("TINYDYN_BENCH_THREADS") == "1":
        return time.process_time, "CPU time of the single-threaded process"
    return time.perf_counter, "wall-clock time"


def _time_task(task_name, keep, best, quick, repeats, log) -> dict:
    """Seconds per input of every candidate on the first seed's models."""
    recipe = TASKS[task_name]
    mlp = recipe["model"] == "mlp"
    timing = {"batch1": {}, "batched": {}}
    opts = {"repeats": repeats, "block": 3, "warmup": 1, "clock": timing_clock()[0]}
    for method in [m for (t, m) in keep if t == task_name and not m.startswith("cascade")]:
        if not mlp and method != best:
            continue
        model, temps, knob, task, _, _ = keep[(task_name, method)]
        x = task.test.fields[0][:256 if mlp else 128]
        runner = model.runner()
        policy = METHODS[method][1](model, temps, knob)
        if mlp:
            fns = {"static": _fused(runner, x, None), "early exit": _fused(runner, x, policy)}
        else:
            fns = {"static": _static_batched(runner, x, 1),
                   "early exit": lambda r=runner, p=policy, x=x: run_engine("batch 1", r, p, x)}
        t = time_fns(fns, **opts)
        timing["batch1"][method] = {k: v.median / len(x) for k, v in t.items()}
        if method == best:
            for batch in BATCHES:
                fns = {"static": _static_batched(runner, x, batch)}
                for engine in ("wait-for-all", "compaction", "refill"):
                    fns[engine] = (lambda e=engine, b=batch, r=runner, p=policy, x=x:
                                   run_engine(e, r, p, x, batch_size=b))
                t = time_fns(fns, **opts)
                timing["batched"][str(batch)] = {k: v.median / len(x) for k, v in t.items()}
                if log:
                    log(f"  timed {task_name} {method} B={batch}: " + ", ".join(
                        f"{k} {1e6 * v:.1f} us" for k, v in
                        timing["batched"][str(batch)].items()))
    timing["spread"] = _time_spread(task_name, keep, opts)
    return timing


SPREAD_METHOD = "entropy on PABEE model"


def _time_spread(task_name, keep, opts) -> dict | None:
    """The engines at a knob whose exits spread over the layers (mean near 35% of L), where a
    batch's deepest exit is far from its mean: what wait-for-all loses there."""
    if (task_name, SPREAD_METHOD) not in keep:
        return None
    model, temps, _, task, _, sweep = keep[(task_name, SPREAD_METHOD)]
    row = min((r for r in sweep if r["mean_layers"] < model.depth),
              key=lambda r: abs(r["mean_layers"] - 0.35 * model.depth))
    x = task.test.fields[0][:256 if TASKS[task_name]["model"] == "mlp" else 128]
    runner, batch = model.runner(), max(BATCHES)
    policy = METHODS[SPREAD_METHOD][1](model, temps, row["value"])
    fns = {"static": _static_batched(runner, x, batch)}
    for engine in ("wait-for-all", "compaction", "refill"):
        fns[engine] = (lambda e=engine, r=runner, p=policy: run_engine(e, r, p, x, batch))
    t = time_fns(fns, **opts)
    return {"method": SPREAD_METHOD, "knob": row["value"], "mean_layers": row["mean_layers"],
            "flop_speedup": static_flops(model) / row["flops"], "batch": batch,
            "times": {k: v.median / len(x) for k, v in t.items()}}


# ---- the run ------------------------------------------------------------------------------


def run_early_exit(out_dir, *, quick=False, seed=0, seeds=None, repeats=15, log=print) -> dict:
    """Train, sweep, score and time; write early_exit.md/.json/.png; return the result."""
    seeds = (1 if quick else 3) if seeds is None else seeds
    seed_list = list(range(seed, seed + seeds))
    keep, infos = {}, {}

    def one_seed(s):
        rows = []
        for task_name in TASKS:
            r, info = _one_task(task_name, s, quick, log, keep if s == seed_list[0] else None)
            rows += r
            infos.setdefault(task_name, {})[s] = info
        return rows
    runs = run_seeds(one_seed, seed_list, log=log)
    rows = aggregate_rows(runs, key=("task", "method", "value"))
    result = {"machine": machine_line(), "seeds": seed_list, "quick": quick,
              "clock": timing_clock()[1],
              "targets": TARGETS, "tasks": {}, "recipes": TASKS}
    for task_name in TASKS:
        task_rows = [r for r in rows if r["task"] == task_name]
        ops = [r for r in task_rows if r["value"] == "operating point"]
        dynamic = [r for r in ops if not r["method"].startswith("cascade")]
        best = min(dynamic, key=lambda r: mean_of(r["val_flops"]))["method"]
        if log:
            log(f"timing {task_name} ({best}) ...")
        timing = _time_task(task_name, keep, best, quick, min(repeats, 5 if quick else 15), log)
        result["tasks"][task_name] = {"rows": task_rows, "best": best, "timing": timing,
                                      "curves": infos[task_name][seed_list[0]]}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return finish(result, out_dir)


def finish(result, out_dir) -> dict:
    """Verdicts, then the three files (also rebuilds them from a saved early_exit.json)."""
    out_dir = Path(out_dir)
    (out_dir / "early_exit.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    result["verdicts"] = verdicts(result)
    (out_dir / "early_exit.md").write_text(format_markdown(result), encoding="utf-8")
    (out_dir / "early_exit.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    plot(result, out_dir / "early_exit.png")
    return result


def _ops(result, task_name):
    return [r for r in result["tasks"][task_name]["rows"] if r["value"] == "operating point"]


def _speedups(result, task_name, method):
    """(batch-1 speed-up, best batched speed-up at the largest batch (32) and its engine,
    wait-for-all's there)."""
    t = result["tasks"][task_name]["timing"]
    b1 = t["batch1"].get(method)
    s1 = b1["static"] / b1["early exit"] if b1 else None
    largest = max(t["batched"], key=int) if t["batched"] else None
    bt = t["batched"].get(largest) if method == result["tasks"][task_name]["best"] else None
    if not bt:
        return s1, None, None, None
    engine = min(("compaction", "refill"), key=lambda e: bt[e])
    return s1, bt["static"] / bt[engine], engine, bt["static"] / bt["wait-for-all"]


def verdicts(result) -> list:
    out = []
    for task_name in TASKS:
        ops = _ops(result, task_name)
        good = [r for r in ops if mean_of(r["mean_layers"]) <= TARGETS["max_layers_fraction"] *
                mean_of(r["depth"]) and mean_of(r["full_accuracy"]) - mean_of(r["accuracy"]) <=
                TARGETS["max_accuracy_gap"]]
        names = ", ".join(r["method"] for r in good) or "none"
        out.append({"target": f"{task_name}: a policy at <= 50% of the layers within 1 point of "
                    "the full model", "measured": names, "met": bool(good)})
        best = result["tasks"][task_name]["best"]
        row = next(r for r in ops if r["method"] == best)
        s1, sb, engine, wait = _speedups(result, task_name, best)
        flop_sp = timed_flop_speedup(row)
        out.append({"target": f"{task_name}: batch-1 speed-up >= 1.6x ({best})",
                    "measured": f"{s1:.2f}x" if s1 else "not timed",
                    "met": bool(s1 and s1 >= TARGETS["min_speedup_batch1"])})
        out.append({"target": f"{task_name}: B={max(BATCHES)} speed-up >= 1.5x with compaction "
                    "or refill", "measured": f"{sb:.2f}x ({engine}; wait-for-all {wait:.2f}x)",
                    "met": sb >= TARGETS["min_speedup_batched"]})
        rb = realisation(sb, flop_sp)
        out.append({"target": f"{task_name}: realisation >= 0.7 for the best batched engine",
                    "measured": f"{rb:.2f} (FLOP speed-up of the timed model {flop_sp:.2f}x)",
                    "met": rb >= TARGETS["min_realisation"]})
        elue = mean_of(row["elue_points"])
        out.append({"target": f"{task_name}: positive ELUE-style score ({best})",
                    "measured": f"{elue:+.2f} points", "met": elue > 0})
    return out


def main(args) -> int:
    """`tinydyn bench early_exit [--quick] [--seed S] [--seeds N] [--repeats R] [--out DIR]`."""
    print(f"tinydyn bench early_exit — {machine_line()}")
    start = time.perf_counter()
    result = run_early_exit(args.out, quick=args.quick, seed=args.seed,
                            seeds=getattr(args, "seeds", None), repeats=args.repeats,
                            log=None if args.quiet else print)
    check_rows(table_rows(result), "early_exit")
    md = Path(args.out) / "early_exit.md"
    print()
    print(md.read_text(encoding="utf-8"))
    print(f"wrote {md}, early_exit.json and early_exit.png in {args.out} "
          f"({time.perf_counter() - start:.0f} s)")
    return 0
