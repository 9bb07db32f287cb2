"""`tinydyn bench padnet`: partially dynamic networks against fully dynamic and static ones.

On the two tasks of spec D.11, over seeds, each row from the same initial weights and with the
same training recipe as the others of its task:

* digits (the DY-Conv CNN, width 4, K = 4): the static CNN, fully dynamic DY-Conv, and PAD
  DY-Conv;
* piecewise (8 Gaussian clusters, one labelling rule each): a static FFN, a fully dynamic MoE
  (8 linear experts per FFN linear, noisy top-2), and PAD MoE;

PAD at kappa in {0.1, 0.3, 0.5, 0.7} with the mask chosen by IMP (5 rounds, exponential
schedule, one global threshold, 10 scoring batches of 64), by a random draw and by kernel
magnitude. Every PAD model is post-processed after training: the table reports the compressed
model's stored parameters and FLOPs, checks its outputs against the masked model, and times
both (batch 1 and batch 64) beside the fully dynamic network in alternating warm blocks.

Writes ``padnet.md``, ``padnet.json`` and ``padnet.png`` into the output folder; the report is
in :mod:`tinydyn.bench.padnet_report`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from tinydyn.autograd.function import no_grad
from tinydyn.autograd.ops_nn import cross_entropy
from tinydyn.autograd.tensor import Tensor
from tinydyn.bench.harness import machine_line
from tinydyn.bench.seeds import aggregate_rows, run_seeds
from tinydyn.dynamic.dyconv.models import DyConvNet
from tinydyn.dynamic.dyconv.training import train_classifier
from tinydyn.dynamic.padnet import (
    compress,
    imp,
    magnitude_partition,
    pad_dyconv_net,
    pad_layers,
    random_partition,
    stored_parameters,
)
from tinydyn.dynamic.padnet.moe_net import (
    MoENet,
    moe_loss,
    piecewise_task,
    train_moe_classifier,
)
from tinydyn.measure.flops import count_flops
from tinydyn.measure.timing import time_fns

__all__ = ["KAPPAS", "PARTITIONS", "TASKS", "main", "run_padnet", "table_rows"]

KAPPAS = (0.1, 0.3, 0.5, 0.7)
QUICK_KAPPAS = (0.1, 0.3)
# "IMP per layer": IMP with each layer thresholded on its own (every layer keeps kappa), the
# ablation that separates the saliency ranking from the global threshold's layer allocation
PARTITIONS = ("IMP", "IMP per layer", "random", "magnitude")
QUICK_PARTITIONS = ("IMP", "random")
# digits: the DY-Conv bench's recipe (width 4: capacity-bound); piecewise: the MoE network of
# tinydyn.dynamic.padnet.moe_net (8 experts, noisy top-2). Each with IMP's scoring set. The MoE
# is scored in train mode: its routers start at zero, so in eval mode every token would go to
# experts 0 and 1 and the other experts' entries would get no saliency (spec D.10).
TASKS = {
    "digits": {"family": "dyconv", "width": 4, "num_kernels": 4, "steps": 600,
               "quick_steps": 150, "batch": 64, "lr": 1e-2, "score_batches": 10,
               "score_batch": 64, "iterations": 5, "score_train_mode": False,
               "timed_batch": 64, "static": "static CNN", "full": "fully dynamic DY-Conv"},
    "piecewise": {"family": "moe", "num_kernels": 8, "steps": 400, "quick_steps": 150,
                  "batch": 64, "lr": 1e-2, "score_batches": 10, "score_batch": 64,
                  "iterations": 5, "score_train_mode": True, "timed_batch": 64,
                  "static": "static FFN", "full": "fully dynamic MoE"},
}
TARGETS = {"match_kappas": (0.3, 0.5), "small_kappa": 0.1, "output_rtol": 1e-5,
           "speed_ratio": 1.0}


def _load(name, seed):
    from tinydyn.data.tasks import load_task

    return piecewise_task(seed) if name == "piecewise" else load_task(name, seed=seed)


def _loss(model, batch):
    return cross_entropy(model(Tensor(batch[0])), batch[1])


def _scoring_set(task, seed, recipe):
    x, y = task.train.fields[0], task.train.fields[1]
    rng = np.random.default_rng(5000 + seed)
    step = recipe["score_batch"]
    idx = rng.choice(len(y), size=min(recipe["score_batches"] * step, len(y)), replace=False)
    return [(x[idx[i:i + step]], y[idx[i:i + step]]) for i in range(0, len(idx), step)]


def _build(name, task, seed, kind, partition=None, kappa=None):
    """The untrained model of a row (kind "static", "full" or "pad"), partitioned, and the
    IMP log for an IMP row. Every kind starts from the same initial weights (seeded rng)."""
    recipe = TASKS[name]
    rng = np.random.default_rng(1000 + seed)
    if recipe["family"] == "moe":
        model = MoENet(task.input_shape[0], task.num_classes,
                       n_experts=recipe["num_kernels"],
                       kind={"full": "moe"}.get(kind, kind), rng=rng)
        loss = moe_loss
    elif kind == "pad":
        model = pad_dyconv_net(task.input_shape[0], task.num_classes, width=recipe["width"],
                               rng=rng, static_rng=np.random.default_rng(3000 + seed))
        loss = _loss
    else:
        model = DyConvNet(task.input_shape[0], task.num_classes, width=recipe["width"],
                          kind="static" if kind == "static" else "dyconv", rng=rng)
    log = None
    if partition in ("IMP", "IMP per layer"):
        log = imp(model, loss, _scoring_set(task, seed, recipe), kappa, recipe["iterations"],
                  scope="global" if partition == "IMP" else "layer",
                  train_mode=recipe["score_train_mode"])
    elif partition == "random":
        random_partition(model, kappa, np.random.default_rng(4000 + seed))
    elif partition == "magnitude":
        magnitude_partition(model, kappa)
    return model, log


def _predict(model, x) -> np.ndarray:
    model.eval()
    with no_grad():
        return np.concatenate([model(Tensor(x[i:i + 256])).data for i in range(0, len(x), 256)])


def _one_row(name, task, seed, steps, method, kind, partition=None, kappa=None) -> tuple:
    recipe = TASKS[name]
    model, log = _build(name, task, seed, kind, partition, kappa)
    start = time.perf_counter()
    train = train_moe_classifier if recipe["family"] == "moe" else train_classifier
    out = train(model, task, steps=steps, batch=recipe["batch"], lr=recipe["lr"],
                rng=np.random.default_rng(2000 + seed))
    row = {"task": name, "method": method, "value": kappa if partition else 0.0,
           "train_s": time.perf_counter() - start}
    x, labels = task.test.fields[0], task.test.fields[1]
    served = model
    if partition is not None:
        served = compress(model).eval()
        masked, small = _predict(model, x), _predict(served, x)
        # relative to the largest logit: float32 rounding of the folded scales, amplified by
        # BatchNorm, is what is left
        row["max_output_diff"] = float(np.abs(masked - small).max() / np.abs(masked).max())
        row["same_predictions"] = float((masked.argmax(1) == small.argmax(1)).mean())
        row["masked_accuracy"] = out["test_accuracy"]
        layers = pad_layers(model)
        row["lambda_d"] = float(np.mean([layer.scale_values()[0] for layer in layers]))
        row["layer_ratios"] = [layer.dynamic_ratio for layer in layers]
        row["layer_sizes"] = [int(layer.mask.size) for layer in layers]
        row["index"] = stored_parameters(served)["index"]
        if log is not None:
            row["imp_achieved"] = log["achieved"]
        history = np.mean([layer.lambda_history for layer in layers], axis=0)
        row["lambda_history"] = history[::10].tolist()
        row["accuracy"] = float((small.argmax(1) == labels).mean())
    else:
        row["accuracy"] = out["test_accuracy"]
    row["params"] = stored_parameters(served)["values"]
    xs = Tensor(x[:32])
    served.eval()
    with no_grad():
        row["flops"] = count_flops(served, xs) / len(xs.data)
    return row, model, served


def _one_seed(seed, quick, log, keep) -> list:
    rows = []
    for name, recipe in TASKS.items():
        task = _load(name, seed)
        steps = recipe["quick_steps" if quick else "steps"]
        plan = [(recipe["static"], "static", None, None), (recipe["full"], "full", None, None)]
        for partition in (QUICK_PARTITIONS if quick else PARTITIONS):
            plan += [(f"PAD {partition}", "pad", partition, k)
                     for k in (QUICK_KAPPAS if quick else KAPPAS)]
        for method, kind, partition, kappa in plan:
            row, model, served = _one_row(name, task, seed, steps, method, kind, partition,
                                          kappa)
            rows.append(row)
            if keep is not None:
                keep.setdefault(name, {})[(method, row["value"])] = (model, served)
            if log:
                log(f"  seed {seed} {name:<10} {method:<22} {row['value']:<4} test "
                    f"{row['accuracy']:.3f} params {row['params']} ({row['train_s']:.1f} s)")
    return rows


def _timings(models, images, repeats, timed_batch, full_key) -> dict:
    """Seconds per input, per row: its served model, the masked model (PAD rows) and the fully
    dynamic network, timed together in alternating warm blocks (one run per row and batch
    size, so a change in machine load hits the candidates of a comparison alike)."""
    out = {}
    full = models[full_key][1].eval()
    for (method, value), (model, served) in models.items():
        model.eval()
        served.eval()
        entry = {}
        for label, size in (("batch1", 1), ("batched", timed_batch)):
            x = Tensor(images[:size])
            fns = {"served": lambda m=served, x=x: m(x)}
            if (method, value) != full_key:
                fns["full"] = lambda x=x: full(x)
            if served is not model:
                fns["masked"] = lambda m=model, x=x: m(x)
            with no_grad():
                timings = time_fns(fns, repeats=repeats, block=3)
            entry[label] = {name: t.median / size for name, t in timings.items()}
            entry[label].setdefault("full", entry[label]["served"])   # the baseline row
        out[f"{method}|{value}"] = entry
    return out


def run_padnet(out_dir, *, quick=False, seed=0, seeds=None, repeats=15, log=print) -> dict:
    """Train, partition, post-process, count and time; write padnet.md/.json/.png."""
    from tinydyn.bench import padnet_report

    seeds = (1 if quick else 3) if seeds is None else seeds
    seed_list = list(range(seed, seed + seeds))
    keep = {}
    runs = run_seeds(lambda s: _one_seed(s, quick, log, keep if s == seed_list[0] else None),
                     seed_list, log=log)
    rows = aggregate_rows(runs, key=("task", "method", "value"))
    timing = {}
    for name, models in keep.items():
        if log:
            log(f"timing the first seed's {name} models ...")
        images = _load(name, seed_list[0]).test.fields[0]
        timing[name] = _timings(models, images, 5 if quick else repeats,
                                TASKS[name]["timed_batch"], (TASKS[name]["full"], 0.0))
    result = {"machine": machine_line(), "seeds": seed_list, "quick": quick, "recipes": TASKS,
              "kappas": list(QUICK_KAPPAS if quick else KAPPAS), "rows": rows,
              "timing": timing, "targets": TARGETS}
    result["verdicts"] = padnet_report.verdicts(result)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "padnet.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    padnet_report.plots(result, out_dir)
    (out_dir / "padnet.md").write_text(padnet_report.format_markdown(result), encoding="utf-8")
    return result


def table_rows(result: dict) -> list[dict]:
    """The shared rows of :mod:`tinydyn.bench.rows` (baseline: the fully dynamic network)."""
    from tinydyn.bench import padnet_report

    return padnet_report.table_rows(result)


def main(args) -> int:
    """`tinydyn bench padnet [--quick] [--seed S] [--seeds N] [--repeats R] [--out DIR]`."""
    print(f"tinydyn bench padnet — {machine_line()}")
    start = time.perf_counter()
    run_padnet(args.out, quick=args.quick, seed=args.seed, seeds=getattr(args, "seeds", None),
               repeats=args.repeats, log=None if args.quiet else print)
    md = Path(args.out) / "padnet.md"
    print()
    print(md.read_text(encoding="utf-8"))
    print(f"wrote {md}, padnet.json and padnet.png in {args.out} "
          f"({time.perf_counter() - start:.0f} s)")
    return 0
