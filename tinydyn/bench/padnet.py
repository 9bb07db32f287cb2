"""`tinydyn bench padnet`: partially dynamic networks against fully dynamic and static ones.

On the digits CNN of DY-Conv (spec D.11), over seeds, all from the same initial weights and with
the same training recipe: the static CNN, the fully dynamic DY-Conv CNN (K = 4), and PAD-Net at
kappa in {0.1, 0.3, 0.5, 0.7} with the mask chosen by IMP (5 rounds, exponential schedule, one
global threshold, eval mode, 10 scoring batches of 64), by a random draw and by kernel
magnitude. Every PAD model is post-processed after training; the table reports the compressed
model's stored parameters and FLOPs, checks its outputs against the masked model, and times
both (batch 1 and batch 64) against the fully dynamic network in alternating warm blocks.
The PAD MoE rows come from :mod:`tinydyn.bench.padnet_moe` when that task is run.

Writes ``padnet.md``, ``padnet.json`` and ``padnet.png`` into the output folder.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from tinydyn.autograd.ops_nn import cross_entropy
from tinydyn.autograd.tensor import Tensor
from tinydyn.bench.harness import machine_line
from tinydyn.bench.seeds import aggregate_rows, run_seeds
from tinydyn.dynamic.dyconv.models import DyConvNet
from tinydyn.dynamic.dyconv.training import predict, train_classifier
from tinydyn.dynamic.padnet import (
    compress,
    imp,
    magnitude_partition,
    pad_dyconv_net,
    pad_layers,
    random_partition,
    stored_parameters,
)
from tinydyn.measure.flops import count_flops
from tinydyn.measure.timing import time_fns

__all__ = ["KAPPAS", "PARTITIONS", "RECIPE", "main", "run_padnet", "table_rows"]

KAPPAS = (0.1, 0.3, 0.5, 0.7)
QUICK_KAPPAS = (0.1, 0.3)
PARTITIONS = ("IMP", "random", "magnitude")
QUICK_PARTITIONS = ("IMP", "random")
# the DY-Conv bench's digits recipe (width 4: capacity-bound), with IMP's scoring set
RECIPE = {"task": "digits", "width": 4, "num_kernels": 4, "steps": 600, "quick_steps": 150,
          "batch": 64, "lr": 1e-2, "score_batches": 10, "score_batch": 64, "iterations": 5,
          "timed_batch": 64}
FULL, STATIC = "fully dynamic DY-Conv", "static CNN"
TARGETS = {"match_kappas": (0.3, 0.5), "small_kappa": 0.1, "output_atol": 1e-5,
           "speed_ratio": 1.0}


def _method(partition, kappa) -> str:
    return f"PAD {partition}"


def _loss(model, batch):
    return cross_entropy(model(Tensor(batch[0])), batch[1])


def _scoring_set(task, seed):
    images, labels = task.train.fields[0], task.train.fields[1]
    rng = np.random.default_rng(5000 + seed)
    size = RECIPE["score_batches"] * RECIPE["score_batch"]
    idx = rng.choice(len(labels), size=min(size, len(labels)), replace=False)
    step = RECIPE["score_batch"]
    return [(images[idx[i:i + step]], labels[idx[i:i + step]]) for i in range(0, len(idx), step)]


def _build(task, seed, partition=None, kappa=None):
    """The untrained model of a row, and the IMP log for an IMP row."""
    c = task.input_shape[0]
    rng = np.random.default_rng(1000 + seed)
    if partition is None:
        kind = "static" if kappa == "static" else "dyconv"
        return DyConvNet(c, task.num_classes, width=RECIPE["width"], kind=kind, rng=rng), None
    model = pad_dyconv_net(c, task.num_classes, width=RECIPE["width"], rng=rng,
                           static_rng=np.random.default_rng(3000 + seed))
    log = None
    if partition == "IMP":
        log = imp(model, _loss, _scoring_set(task, seed), kappa, RECIPE["iterations"])
    elif partition == "random":
        random_partition(model, kappa, np.random.default_rng(4000 + seed))
    else:
        magnitude_partition(model, kappa)
    return model, log


def _one_row(task, seed, steps, method, partition=None, kappa=None) -> tuple:
    model, log = _build(task, seed, partition, kappa)
    start = time.perf_counter()
    out = train_classifier(model, task, steps=steps, batch=RECIPE["batch"], lr=RECIPE["lr"],
                           rng=np.random.default_rng(2000 + seed))
    row = {"method": method, "value": kappa if partition else 0.0,
           "train_s": time.perf_counter() - start}
    images, labels = task.test.fields[0], task.test.fields[1]
    served = model
    if partition is not None:
        served = compress(model).eval()
        masked, small = predict(model, images), predict(served, images)
        row["max_output_diff"] = float(np.abs(masked - small).max())
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
        row["accuracy"] = float((predict(served, images).argmax(1) == labels).mean())
    else:
        row["accuracy"] = out["test_accuracy"]
    row["params"] = stored_parameters(served)["values"]
    x = Tensor(images[:32])
    row["flops"] = count_flops(served.eval(), x) / len(x.data)
    return row, model, served


def _one_seed(seed, quick, log, keep) -> list:
    from tinydyn.data.tasks import load_task

    task = load_task(RECIPE["task"], seed=seed)
    steps = RECIPE["quick_steps" if quick else "steps"]
    plan = [(STATIC, None, "static"), (FULL, None, None)]
    for partition in (QUICK_PARTITIONS if quick else PARTITIONS):
        plan += [(_method(partition, k), partition, k) for k in (QUICK_KAPPAS if quick
                                                                  else KAPPAS)]
    rows = []
    for method, partition, kappa in plan:
        row, model, served = _one_row(task, seed, steps, method, partition, kappa)
        row["task"] = RECIPE["task"]
        rows.append(row)
        if keep is not None:
            keep[(method, row["value"])] = (model, served)
        if log:
            log(f"  seed {seed} {method:<24} {row['value']:<4} test {row['accuracy']:.3f} "
                f"params {row['params']} ({row['train_s']:.1f} s)")
    return rows


def _timings(models, images, repeats) -> dict:
    """Seconds per input at batch 1 and at the timed batch for every served model, plus the
    masked (not post-processed) PAD models, all in one alternating run per batch size."""
    from tinydyn.autograd.function import no_grad

    out = {}
    for label, size in (("batch1", 1), ("batched", RECIPE["timed_batch"])):
        x = Tensor(images[:size])
        fns = {}
        for (method, value), (model, served) in models.items():
            model.eval()
            served.eval()
            fns[f"{method}|{value}"] = (lambda m=served, x=x: m(x))
            if served is not model:
                fns[f"{method}|{value}|masked"] = (lambda m=model, x=x: m(x))
        with no_grad():
            timings = time_fns(fns, repeats=repeats, block=3)
        out[label] = {name: t.median / size for name, t in timings.items()}
    return out


def run_padnet(out_dir, *, quick=False, seed=0, seeds=None, repeats=15, log=print) -> dict:
    """Train, partition, post-process, count and time; write padnet.md/.json/.png."""
    from tinydyn.bench import padnet_report

    seeds = (1 if quick else 3) if seeds is None else seeds
    seed_list = list(range(seed, seed + seeds))
    keep = {}
    runs = run_seeds(lambda s: _one_seed(s, quick, log, keep if s == seed_list[0] else None),
                     seed_list, log=log)
    rows = aggregate_rows(runs, key=("method", "value"))
    if log:
        log("timing the first seed's models ...")
    from tinydyn.data.tasks import load_task

    images = load_task(RECIPE["task"], seed=seed_list[0]).test.fields[0]
    timing = _timings(keep, images, 5 if quick else repeats)
    result = {"machine": machine_line(), "seeds": seed_list, "quick": quick, "recipe": RECIPE,
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
