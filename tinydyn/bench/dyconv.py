"""`tinydyn bench dyconv`: dynamic convolution's accuracy, cost and speed, measured in one run.

* Accuracy over seeds (mean ± std, min–max) of narrow CNNs on scikit-learn's 8x8 digits and on
  the oriented-bars task (spec B.3): the static CNN of the same width trained with the same
  budget, DY-Conv (K = 4, temperature 30 -> 1), CondConv (4 experts), and two ablations of
  DY-Conv: tau = 1 throughout, and attention averaged over the batch (one kernel per batch).
* FLOPs per input, counted by the op-level counter, and DY-Conv's overhead over the static net.
* One layer's forward + backward (B = 64, 16 -> 32 channels, 3x3, 16x16 maps) against the
  static convolution layer and against PyTorch's per-sample convolution done the usual way
  (a grouped convolution over the batch), timed in alternating warm blocks.

Writes ``dyconv.md`` and ``dyconv.json`` into the output folder.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from tinydyn.autograd.tensor import Tensor
from tinydyn.bench.harness import Skip, Workload, format_table, machine_line, run_workloads
from tinydyn.bench.seeds import aggregate_rows, format_spread, mean_of, run_seeds
from tinydyn.dynamic.dyconv import DynamicConv2d, dynamic_conv_cost, set_attention_mode
from tinydyn.dynamic.dyconv.models import DyConvNet
from tinydyn.dynamic.dyconv.training import train_classifier
from tinydyn.measure.flops import count_flops
from tinydyn.nn.conv import Conv2d

__all__ = ["METHODS", "TASKS", "layer_workload", "main", "run_dyconv"]

# method -> (kind, options): what is trained, each with the same steps, batch and lr
METHODS = {
    "static CNN": ("static", {}),
    "DY-Conv K=4": ("dyconv", {}),
    "CondConv n=4": ("condconv", {}),
    "DY-Conv, tau = 1 throughout": ("dyconv", {"anneal_steps": 0}),
    "DY-Conv, batch-averaged attention": ("dyconv", {"attention_mode": "batch"}),
}
QUICK_METHODS = ("static CNN", "DY-Conv K=4", "DY-Conv, tau = 1 throughout")
# task -> recipe; width 4 keeps the networks capacity-bound (spec B.3: "narrow")
TASKS = {
    "digits": {"width": 4, "steps": 600, "quick_steps": 150, "batch": 64, "lr": 1e-2,
               "options": {}},
    "oriented_bars": {"width": 4, "steps": 500, "quick_steps": 150, "batch": 64, "lr": 1e-2,
                      "options": {}},
}
TARGETS = {
    "digits_margin": 0.01,         # DY-Conv beats the static CNN by >= 1 point (mean of seeds)
    "oriented_bars_margin": 0.10,  # "large": we ask >= 10 points
    "flop_overhead": 0.05,         # DY-Conv FLOPs over the static network's
    "layer_vs_static": 1.5,        # forward + backward time ratio
    "layer_vs_torch": 2.0,
}
LAYER = {"batch": 64, "in": 16, "out": 32, "size": 16, "kernels": 4}


def _params(model) -> int:
    return int(sum(p.data.size for p in model.parameters()))


def _one_method(task, name, seed, steps, recipe) -> dict:
    kind, options = METHODS[name]
    c, h, w = task.input_shape
    model = DyConvNet(c, task.num_classes, width=recipe["width"], kind=kind,
                      rng=np.random.default_rng(1000 + seed))
    if "attention_mode" in options:
        set_attention_mode(model, options["attention_mode"])
    start = time.perf_counter()
    out = train_classifier(model, task, steps=steps, batch=recipe["batch"], lr=recipe["lr"],
                           anneal_steps=options.get("anneal_steps"),
                           rng=np.random.default_rng(2000 + seed))
    train_s = time.perf_counter() - start
    x = Tensor(task.test.fields[0][:32])
    flops = count_flops(model.eval(), x) / len(x.data)
    return {"method": name, "value": kind, "accuracy": out["test_accuracy"],
            "val_accuracy": out["val_accuracy"], "flops": flops, "params": _params(model),
            "train_s": train_s,
            "final_entropy": out["entropy"][-1] if out["entropy"] else None}


def _one_seed(seed, quick, log) -> list:
    from tinydyn.data.tasks import load_task

    rows = []
    for task_name, recipe in TASKS.items():
        task = load_task(task_name, seed=seed, **recipe["options"])
        steps = recipe["quick_steps" if quick else "steps"]
        for name in (QUICK_METHODS if quick else METHODS):
            row = _one_method(task, name, seed, steps, recipe)
            row["task"] = task_name
            rows.append(row)
            if log:
                log(f"  seed {seed} {task_name:<14} {name:<34} test {row['accuracy']:.3f} "
                    f"({row['train_s']:.1f} s)")
    return rows


# ---- layer timing -------------------------------------------------------------------------


def _zero(params):
    for p in params:
        p.grad = None


def layer_workload() -> Workload:
    """DY-Conv layer vs the static layer vs PyTorch's grouped-conv-over-batch, fwd + bwd."""
    b, c, o, s, k = (LAYER[key] for key in ("batch", "in", "out", "size", "kernels"))

    def setup():
        rng = np.random.default_rng(0)
        data = rng.standard_normal((b, c, s, s)).astype(np.float32)
        x = Tensor(data, requires_grad=True)
        dy = DynamicConv2d(c, o, 3, num_kernels=k, padding=1, rng=rng)
        static = Conv2d(c, o, 3, padding=1, rng=rng)

        def run(layer):
            params = list(layer.parameters()) + [x]

            def step():
                _zero(params)
                layer(x).sum().backward()
            return step

        fns = {"tinydyn": run(dy), "static conv layer (tinydyn)": run(static)}
        fns["PyTorch grouped conv over the batch"] = _torch_per_sample(dy, data)
        return fns

    return Workload(f"DY-Conv layer fwd+bwd, B={b}, {c}->{o}, 3x3, {s}x{s}, K={k}", setup,
                    targets={"static conv layer (tinydyn)": TARGETS["layer_vs_static"],
                             "PyTorch grouped conv over the batch": TARGETS["layer_vs_torch"]},
                    note="the dynamic layer (attention, aggregation, per-sample conv) against "
                         "the static conv of the same shape and against PyTorch computing the "
                         "same layer with the per-sample kernels as one grouped convolution")


def _torch_per_sample(layer, data):
    """The same DY-Conv layer in PyTorch, per-sample kernels as a grouped conv (groups = B)."""
    try:
        import torch
    except ImportError:
        return Skip("PyTorch is not installed")
    t = {name: torch.tensor(p.data, requires_grad=True) for name, p in
         (("w", layer.weight), ("b", layer.bias), ("w1", layer.fc1_weight),
          ("b1", layer.fc1_bias), ("w2", layer.fc2_weight), ("b2", layer.fc2_bias))}
    x = torch.tensor(data, requires_grad=True)
    n, c, h, w = data.shape
    k, o = layer.weight.shape[:2]

    def step():
        for v in [*t.values(), x]:
            v.grad = None
        pooled = x.mean(dim=(2, 3))
        z = torch.relu(pooled @ t["w1"].T + t["b1"]) @ t["w2"].T + t["b2"]
        pi = torch.softmax(z / layer.temperature, dim=1)
        kernel = (pi @ t["w"].reshape(k, -1)).reshape(n * o, c, 3, 3)
        bias = (pi @ t["b"]).reshape(n * o)
        y = torch.nn.functional.conv2d(x.reshape(1, n * c, h, w), kernel, bias, padding=1,
                                       groups=n)
        y.sum().backward()
    return step


# ---- the run ------------------------------------------------------------------------------


def run_dyconv(out_dir, *, quick=False, seed=0, seeds=None, repeats=15, log=print) -> dict:
    """Train, count and time; write ``dyconv.md`` and ``dyconv.json``; return the result."""
    seeds = (1 if quick else 3) if seeds is None else seeds
    seed_list = list(range(seed, seed + seeds))
    runs = run_seeds(lambda s: _one_seed(s, quick, log), seed_list, log=log)
    by_task = {}
    for task_name in TASKS:
        task_runs = {s: [r for r in rows if r["task"] == task_name] for s, rows in runs.items()}
        by_task[task_name] = aggregate_rows(task_runs)
    if log:
        log("timing the layer ...")
    timing_rows = run_workloads([layer_workload()], repeats=5 if quick else repeats,
                                log=log or (lambda *a: None))
    layer = DynamicConv2d(LAYER["in"], LAYER["out"], 3, num_kernels=LAYER["kernels"], padding=1)
    layer_cost = dynamic_conv_cost(layer, (LAYER["size"], LAYER["size"]))
    result = {"machine": machine_line(), "seeds": seed_list, "quick": quick,
              "tasks": by_task, "targets": TARGETS, "recipes": TASKS,
              "layer": {**LAYER, "cost": layer_cost,
                        "overhead": layer_cost["total"] / layer_cost["conv"] - 1},
              "timing": [_timing_record(r) for r in timing_rows]}
    result["verdicts"] = verdicts(result, timing_rows)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "dyconv.md").write_text(format_markdown(result, timing_rows), encoding="utf-8")
    (out_dir / "dyconv.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


def _timing_record(r) -> dict:
    return {"workload": r.workload, "baseline": r.baseline,
            "tinydyn_s": r.tinydyn.median if r.tinydyn else None,
            "baseline_s": r.baseline_time.median if r.baseline_time else None,
            "ratio": r.ratio, "target": r.target, "verdict": r.verdict, "skipped": r.skipped}


def _row(rows, method):
    return next((r for r in rows if r["method"] == method), None)


def verdicts(result, timing_rows) -> list:
    """(target, measured, met?) for each target, in words."""
    out = []
    for task_name, key in (("digits", "digits_margin"), ("oriented_bars", "oriented_bars_margin")):
        rows = result["tasks"][task_name]
        dy, st = _row(rows, "DY-Conv K=4"), _row(rows, "static CNN")
        margin = mean_of(dy["accuracy"]) - mean_of(st["accuracy"])
        out.append({"target": f"{task_name}: DY-Conv - static >= {100 * TARGETS[key]:.0f} points",
                    "measured": f"{100 * margin:+.1f} points", "met": margin >= TARGETS[key]})
    for task_name, rows in result["tasks"].items():
        dy, st = _row(rows, "DY-Conv K=4"), _row(rows, "static CNN")
        over = mean_of(dy["flops"]) / mean_of(st["flops"]) - 1
        out.append({"target": f"{task_name} network: FLOP overhead <= 5%",
                    "measured": f"{100 * over:.1f}%", "met": over <= TARGETS["flop_overhead"]})
    over = result["layer"]["overhead"]
    out.append({"target": "timed layer (16->32, 16x16): FLOP overhead <= 5%",
                "measured": f"{100 * over:.1f}%", "met": over <= TARGETS["flop_overhead"]})
    for r in timing_rows:
        if r.target is not None:
            measured = f"{r.ratio:.2f}x" if r.ratio is not None else f"skipped: {r.skipped}"
            out.append({"target": f"layer fwd+bwd vs {r.baseline} <= {r.target:g}x",
                        "measured": measured, "met": r.ratio is not None and r.ratio <= r.target})
    return out


def format_markdown(result, timing_rows) -> str:
    seeds = result["seeds"]
    lines = [f"# tinydyn bench dyconv{' (quick)' if result['quick'] else ''}", "",
             f"Measured on: {result['machine']}", "",
             f"Seeds {seeds}; accuracy on the test split, mean ± std over seeds (min–max).", ""]
    for task_name, rows in result["tasks"].items():
        recipe = result["recipes"][task_name]
        steps = recipe["quick_steps" if result["quick"] else "steps"]
        lines += [f"## {task_name} (width {recipe['width']}, 2 conv layers, {steps} Adam steps "
                  f"of {recipe['batch']}, lr {recipe['lr']})", "",
                  "| method | test accuracy % | range | params | FLOPs / input | vs static |",
                  "|---|---|---|---|---|---|"]
        static = mean_of(_row(rows, "static CNN")["flops"])
        for r in rows:
            flops = mean_of(r["flops"])
            lines.append(f"| {r['method']} | {format_spread(r['accuracy'], 100)} | "
                         f"{format_spread(r['accuracy'], 100, style='range').split(' ', 1)[-1]} "
                         f"| {int(mean_of(r['params']))} | {flops:,.0f} | "
                         f"{100 * (flops / static - 1):+.1f}% |")
        lines.append("")
    cost = result["layer"]["cost"]
    lines += ["## The timed layer's cost per input (FLOPs)", "",
              "| pool | routing | aggregation | conv | total | overhead over the conv |",
              "|---|---|---|---|---|---|",
              f"| {cost['pool']:,} | {cost['routing']:,} | {cost['aggregation']:,} | "
              f"{cost['conv']:,} | {cost['total']:,} | {100 * result['layer']['overhead']:.1f}% |",
              "", "## Layer timing (forward + backward)", "", format_table(timing_rows), "",
              "## Targets", "", "| target | measured | |", "|---|---|---|"]
    for v in result["verdicts"]:
        lines.append(f"| {v['target']} | {v['measured']} | {'met' if v['met'] else 'MISSED'} |")
    lines += ["", "FLOPs: 2 per multiply-add, counted by tinydyn.measure.FlopCounter in eval mode "
              "(BatchNorm, ReLU, pooling and the head included, the same in every method). "
              "Small maps make the aggregation (independent of the map size) a larger share "
              "than on ImageNet-sized maps."]
    return "\n".join(lines) + "\n"


def main(args) -> int:
    """`tinydyn bench dyconv [--quick] [--seed S] [--seeds N] [--repeats R] [--out DIR]`."""
    print(f"tinydyn bench dyconv — {machine_line()}")
    start = time.perf_counter()
    run_dyconv(args.out, quick=args.quick, seed=args.seed, seeds=getattr(args, "seeds", None),
               repeats=args.repeats, log=None if args.quiet else print)
    md = Path(args.out) / "dyconv.md"
    print()
    print(md.read_text(encoding="utf-8"))
    print(f"wrote {md} and dyconv.json in {args.out} ({time.perf_counter() - start:.0f} s)")
    return 0
