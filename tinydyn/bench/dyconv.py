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

from tinydyn.autograd.function import no_grad
from tinydyn.autograd.tensor import Tensor
from tinydyn.bench.dyconv_report import format_markdown, table_rows, verdicts
from tinydyn.bench.harness import Skip, Workload, machine_line, row_record, run_workloads
from tinydyn.bench.seeds import aggregate_rows, run_seeds
from tinydyn.dynamic.dyconv import DynamicConv2d, dynamic_conv_cost, set_attention_mode
from tinydyn.dynamic.dyconv.models import DyConvNet, overhead_by_size
from tinydyn.dynamic.dyconv.training import evaluate, train_classifier
from tinydyn.measure.flops import count_flops
from tinydyn.measure.timing import time_fns
from tinydyn.nn.conv import Conv2d

__all__ = ["METHODS", "TASKS", "format_markdown", "layer_workload", "main", "network_timings",
           "overhead_by_size", "run_dyconv", "table_rows", "verdicts"]

# method -> (kind, options): what is trained. Every method gets the same steps, batch, data
# order and initial seed; the learning rate is each kind's best of {0.01, 0.02, 0.04, 0.08}
# in a sweep over seeds 0-2 on digits at 4000 steps (static CNN 88.3, 89.4, 91.9, 91.7% test;
# DY-Conv 92.1, 91.6, 90.8% for 0.01-0.04, 92.1% at 0.005). The static CNN at DY-Conv's lr is
# shown too: at that lr, the recipe of the previous table, the baseline was under-trained.
# Other checks of DY-Conv on digits (seeds 0-2, 4000 steps, test %): 16 hidden attention units
# 92.0, a linear router instead of the two-layer branch 92.6, 8000 steps 93.0 (static CNN at
# 0.04: 92.3); CondConv at 0.04 reaches 95.3, and 93.9 with its gates normalised to sum to 1.
STATIC_LR = 4e-2
METHODS = {
    "static CNN": ("static", {"lr": STATIC_LR}),
    "static CNN at DY-Conv's lr": ("static", {}),
    "DY-Conv K=4": ("dyconv", {}),
    "CondConv n=4": ("condconv", {}),
    "DY-Conv, tau = 1 throughout": ("dyconv", {"anneal_steps": 0}),
    "DY-Conv, batch-averaged attention": ("dyconv", {"attention_mode": "batch"}),
}
QUICK_METHODS = ("static CNN", "DY-Conv K=4", "DY-Conv, tau = 1 throughout")
# task -> recipe; width 4 keeps the networks capacity-bound (spec B.3: "narrow"). ``lr`` is
# the dynamic kinds'; DY-Conv anneals its temperature over the first ``anneal_fraction`` of the
# steps. The lengths were measured: at 600 digits steps (the previous recipe) both networks
# were far from fitting their training set (83% train accuracy), at 4000 they reach 93-97%;
# 500 steps already separate the two on oriented_bars, 2000 give the static CNN every chance.
TASKS = {
    "digits": {"width": 4, "steps": 4000, "quick_steps": 1500, "batch": 64, "lr": 1e-2,
               "anneal_fraction": 1 / 3, "options": {}},
    "oriented_bars": {"width": 4, "steps": 2000, "quick_steps": 1000, "batch": 64, "lr": 1e-2,
                      "anneal_fraction": 1 / 3, "options": {}},
}
TARGETS = {
    "digits_margin": 0.01,         # DY-Conv beats the static CNN by >= 1 point (mean of seeds)
    "oriented_bars_margin": 0.10,  # "large": we ask >= 10 points
    "flop_overhead": 0.05,         # DY-Conv FLOPs over the static network's
    "layer_vs_static": 1.5,        # forward + backward time ratio
    "layer_vs_torch": 2.0,
}
LAYER = {"batch": 64, "in": 16, "out": 32, "size": 16, "kernels": 4}
TIMING_BATCH = 256
NOTES = [
    "Same budget for every method: steps, batch, data order and initial seed; the learning "
    "rate is each kind's best in a sweep (static CNN 0.04, the dynamic kinds 0.01). At 600 "
    "steps (the previous recipe) both digits networks were far from fitting their training "
    "set, and the static CNN at lr 0.01 stays under-trained even at 4000 steps.",
    "oriented_bars: the background (+-0.07) is one standard error of the noise over the 5x5 "
    "window a two-layer static CNN sees, 3.2 over the whole image (what the attention pools); "
    "the train accuracy column shows whether a network can fit its own training set.",
    "The FLOP overhead is set by the map size, not the method: the aggregation is K / (Ho Wo) "
    "of each convolution, 6.25% on 8x8 maps with K = 4 (table above).",
]  # the batched inference time of the networks


def _params(model) -> int:
    return int(sum(p.data.size for p in model.parameters()))


def _model(task, name, recipe, seed):
    kind, options = METHODS[name]
    c = task.input_shape[0]
    model = DyConvNet(c, task.num_classes, width=recipe["width"], kind=kind,
                      rng=np.random.default_rng(1000 + seed))
    if "attention_mode" in options:
        set_attention_mode(model, options["attention_mode"])
    return model


def _one_method(task, name, seed, steps, recipe) -> dict:
    options = METHODS[name][1]
    model = _model(task, name, recipe, seed)
    anneal = options.get("anneal_steps", int(round(recipe["anneal_fraction"] * steps)))
    start = time.perf_counter()
    lr = options.get("lr", recipe["lr"])
    out = train_classifier(model, task, steps=steps, batch=recipe["batch"], lr=lr,
                           anneal_steps=anneal, rng=np.random.default_rng(2000 + seed))
    train_s = time.perf_counter() - start
    train_x, train_y = task.train.fields[0][:1000], task.train.fields[1][:1000]
    x = Tensor(task.test.fields[0][:32])
    flops = count_flops(model.eval(), x) / len(x.data)
    train_accuracy = evaluate(model, train_x, train_y)
    return {"method": name, "value": model.kind, "lr": lr, "accuracy": out["test_accuracy"],
            "val_accuracy": out["val_accuracy"], "train_accuracy": train_accuracy,
            "flops": flops, "params": _params(model), "train_s": train_s,
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
                    f"train {row['train_accuracy']:.3f} ({row['train_s']:.1f} s)")
    return rows


# ---- network inference time and the overhead against the map size ------------------------


def network_timings(methods, *, batch=None, repeats=7) -> dict:
    """Inference time per input of every method's network on every task, batch 1 and
    ``batch`` (default TIMING_BATCH), timed in alternating warm blocks (the weights do not
    matter for the time)."""
    from tinydyn.data.tasks import load_task

    batch = TIMING_BATCH if batch is None else batch
    out = {}
    for task_name, recipe in TASKS.items():
        task = load_task(task_name, seed=0, **recipe["options"])
        images = task.test.fields[0]
        x1, xb = Tensor(images[:1]), Tensor(np.resize(images, (batch,) + images.shape[1:]))
        fns = {}
        for name in methods:
            model = _model(task, name, recipe, 0).eval()
            for size, x in (("1", x1), ("b", xb)):
                def run(model=model, x=x):
                    with no_grad():
                        model(x)
                fns[(name, size)] = run
        timed = time_fns(fns, repeats=repeats)
        out[task_name] = {name: {"t_batch1_s": timed[(name, "1")].median,
                                 "t_batched_s": timed[(name, "b")].median / batch}
                          for name in methods}
    return out


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
        log("timing the networks and the layer ...")
    methods = QUICK_METHODS if quick else tuple(METHODS)
    net_times = network_timings(methods, repeats=5 if quick else min(9, repeats))
    timing_rows = run_workloads([layer_workload()], repeats=5 if quick else repeats,
                                log=log or (lambda *a: None))
    layer = DynamicConv2d(LAYER["in"], LAYER["out"], 3, num_kernels=LAYER["kernels"], padding=1)
    layer_cost = dynamic_conv_cost(layer, (LAYER["size"], LAYER["size"]))
    result = {"machine": machine_line(), "seeds": seed_list, "quick": quick,
              "tasks": by_task, "targets": TARGETS, "recipes": TASKS,
              "network_timing": net_times, "timing_batch": TIMING_BATCH,
              "overhead_by_size": overhead_by_size(),
              "layer": {**LAYER, "cost": layer_cost,
                        "overhead": layer_cost["total"] / layer_cost["conv"] - 1},
              "timing": [row_record(r) for r in timing_rows], "notes": NOTES}
    result["verdicts"] = verdicts(result, timing_rows)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "dyconv.md").write_text(format_markdown(result, timing_rows), encoding="utf-8")
    (out_dir / "dyconv.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


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
