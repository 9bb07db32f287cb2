"""`tinydyn bench pruning`: token pruning (LTP, Transkimmer, PoWER-BERT) against the full
Transformer encoder, over seeds: accuracy, FLOPs, batch-1 and batched (B = 32) time.

Per seed: the sparse-signal task with 64-128 tokens (train and test; longer sequences would
not train inside the budget on 2 shared cores, and LTP's thresholds compare raw scores, which
shrink as 1/n, so a length shift between training and test would penalise it unfairly), the
full encoder classifier, then each method's sweep over its knob (LTP's and Transkimmer's
penalty lambda, PoWER-BERT's keep ratio), each model fine-tuned from the
baseline. Each row's times are paired with the baseline's in the same warm-block run
(:func:`tinydyn.measure.time_fns`), both models running on raw arrays
(:mod:`tinydyn.dynamic.pruning.fast`; at batch 1 also both through the autograd ops,
whose per-op dispatch is most of a small layer's time): batch 1 (sequences one by one) and
B = 32 with repack compaction; for the middle knob of each method also the other
compactions ("loop": one sequence at a time; "masked": nothing removed). On the first
seed, a scaling sweep: LTP's and Transkimmer's batch-1 speed-up and realisation against
sequence length 64..512.

Writes ``pruning.md``, ``pruning.json``, ``pruning.png`` (accuracy against FLOPs and against
batch-1 time, one front per method) and ``pruning_scaling.png``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from tinydyn.autograd.function import no_grad
from tinydyn.bench.harness import machine_line
from tinydyn.bench.pruning_report import format_markdown, plots, table_rows, verdicts
from tinydyn.bench.seeds import aggregate_rows, run_seeds
from tinydyn.dynamic.pruning import full_cost, hard_forward, pad_tokens, pruning_cost
from tinydyn.dynamic.pruning.inference import fast_forward
from tinydyn.dynamic.pruning.training import (
    evaluate,
    load_pruning_task,
    train_baseline,
    train_ltp,
    train_power_bert,
    train_transkimmer,
)
from tinydyn.measure.timing import time_fns

__all__ = ["RECIPE", "SWEEPS", "main", "run_pruning", "table_rows"]

# method -> (knob, full sweep, quick sweep); the middle value also times every compaction
SWEEPS = {
    "LTP": ("lambda", (0.05, 0.1, 0.3), (0.1,)),
    "Transkimmer": ("lambda", (0.005, 0.007, 0.01), (0.007,)),
    "PoWER-BERT": ("keep ratio", (0.3, 0.15, 0.05), (0.15,)),
}
RECIPE = {"batch": 16, "baseline_steps": 800, "baseline_decay": 0.1, "ltp_soft": 150,
          "ltp_hard": 100,
          "transkimmer": 200, "power_bert": 100, "quick_factor": 0.5,
          "train_len": (64, 128), "eval_len": (64, 128), "n_eval": 500, "n_eval_quick": 200,
          "n_timed_b1": 8,
          "batch_timed": 32, "scaling_lengths": (64, 128, 256, 512), "n_scaling": 4}


def _steps(key, quick):
    return max(1, int(RECIPE[key] * (RECIPE["quick_factor"] if quick else 1)))


def _train(method, value, baseline, task, seed, quick):
    batch = RECIPE["batch"]
    if method == "LTP":
        return train_ltp(baseline, task, penalty=value, soft_steps=_steps("ltp_soft", quick),
                         hard_steps=_steps("ltp_hard", quick), batch=batch, seed=seed,
                         soft_lr=3e-3)
    if method == "Transkimmer":
        return train_transkimmer(baseline, task, penalty=value, batch=batch, seed=seed,
                                 steps=_steps("transkimmer", quick), keep_bias=1.0,
                                 predictor_lr=3e-3)
    ratios = [value] * (baseline.num_layers - 1)
    return train_power_bert(baseline, task, keep_ratios=ratios, batch=batch, seed=seed,
                            steps=_steps("power_bert", quick))


def _plain_fn(model, tokens, lengths, fast=True):
    """The full encoder: on raw arrays (``fast``) or through the autograd ops."""
    if fast:
        return lambda: fast_forward(model, tokens, lengths)

    def run():
        with no_grad():
            model(tokens, lengths)
    return run


def _one_by_one(fn_for, sequences):
    """One call runs every sequence alone (batch 1, no padding)."""
    parts = [fn_for(*pad_tokens([s])) for s in sequences]

    def run():
        for p in parts:
            p()
    return run


def _hard_fn(model, compaction, fast=True):
    return lambda tokens, lengths: (
        lambda: hard_forward(model, tokens, lengths, compaction, fast=fast))


def _flop_ratio(baseline, model, sequences) -> float:
    full = sum(full_cost(baseline, len(s)) for s in sequences)
    pruned = 0
    for s in sequences:
        counts = hard_forward(model, *pad_tokens([s])).counts[0]
        pruned += pruning_cost(model, counts)["total"]
    return full / pruned


def _time_pair(baseline, model, b1_seqs, batch_seqs, repeats, all_compactions):
    """Paired times: both models on raw arrays (the main numbers), and at batch 1 also both
    through the autograd ops (``*_ops``: what the engine's per-op cost does to the saving)."""
    tokens, lengths = pad_tokens(batch_seqs)
    fns = {"base_b1": _one_by_one(lambda t, n: _plain_fn(baseline, t, n), b1_seqs),
           "b1": _one_by_one(_hard_fn(model, "repack"), b1_seqs),
           "base_b1_ops": _one_by_one(lambda t, n: _plain_fn(baseline, t, n, False), b1_seqs),
           "b1_ops": _one_by_one(_hard_fn(model, "repack", False), b1_seqs),
           "base_batched": _plain_fn(baseline, tokens, lengths),
           "batched": _hard_fn(model, "repack")(tokens, lengths)}
    if all_compactions:
        fns["batched_loop"] = _hard_fn(model, "loop")(tokens, lengths)
        fns["batched_masked"] = _hard_fn(model, "masked")(tokens, lengths)
    t = time_fns(fns, repeats=repeats, block=max(1, repeats // 2), warmup=1)
    n1, nb = len(b1_seqs), len(batch_seqs)
    out = {"t_b1": t["b1"].median / n1, "base_t_b1": t["base_b1"].median / n1,
           "t_batched": t["batched"].median / nb,
           "base_t_batched": t["base_batched"].median / nb}
    out["speedup_b1"] = out["base_t_b1"] / out["t_b1"]
    out["speedup_b1_ops"] = t["base_b1_ops"].median / t["b1_ops"].median
    out["speedup_batched"] = out["base_t_batched"] / out["t_batched"]
    if all_compactions:
        for c in ("loop", "masked"):
            out[f"speedup_batched_{c}"] = out["base_t_batched"] / (
                t[f"batched_{c}"].median / nb)
    return out


def _layer_times(baseline, length, repeats) -> dict:
    """One encoder layer at batch 1 on 2 tokens and on ``length`` + 1, through the autograd
    ops (``layer_t_*``) and on raw arrays (``fast_layer_t_*``): the fixed cost every layer
    pays whatever the tokens, against the full layer."""
    from tinydyn.autograd.tensor import Tensor
    from tinydyn.dynamic.pruning import encoder_layer
    from tinydyn.dynamic.pruning.fast import fast_layer

    layer = baseline.encoder.layers[1]
    rng = np.random.default_rng(0)
    fns = {}
    for n in (2, length + 1):
        data = rng.standard_normal((1, n, baseline.d_model)).astype(np.float32)
        x, pad = Tensor(data), np.zeros((1, n), bool)

        def run(x=x, pad=pad):
            with no_grad():
                encoder_layer(layer, x, pad)
        fns[f"ops {n}"] = run
        fns[f"fast {n}"] = lambda data=data, pad=pad: fast_layer(layer, data, pad)
    t = time_fns(fns, repeats=repeats, warmup=1, block=max(1, repeats // 2))
    full = length + 1
    return {"layer_t_2": t["ops 2"].median, "layer_t_full": t[f"ops {full}"].median,
            "fast_layer_t_2": t["fast 2"].median, "fast_layer_t_full": t[f"fast {full}"].median}


def _scaling(baseline, models, seed, repeats, log, quick=False) -> list:
    rows = []
    lengths = RECIPE["scaling_lengths"]
    for length in (lengths[1:-1] or lengths) if quick else lengths:  # quick: the middle ones
        layer = _layer_times(baseline, length, repeats)
        task = load_pruning_task(seed=10_000 + seed, min_len=length, max_len=length,
                                 n_train=1, n_val=0, n_test=RECIPE["n_scaling"])
        seqs = list(task.test.fields[0])
        for method, model in models.items():
            fns = {"base": _one_by_one(lambda t, n: _plain_fn(baseline, t, n), seqs),
                   "pruned": _one_by_one(_hard_fn(model, "repack"), seqs),
                   "base_ops": _one_by_one(lambda t, n: _plain_fn(baseline, t, n, False), seqs),
                   "pruned_ops": _one_by_one(_hard_fn(model, "repack", False), seqs)}
            t = time_fns(fns, repeats=repeats, block=max(1, repeats // 2), warmup=1)
            speedup = t["base"].median / t["pruned"].median
            flop = _flop_ratio(baseline, model, seqs)
            rows.append({"method": method, "length": length, "speedup_b1": speedup,
                         "flop_speedup": flop, "realisation": speedup / flop,
                         "speedup_b1_ops": t["base_ops"].median / t["pruned_ops"].median,
                         **layer})
            if log:
                log(f"  scaling T={length} {method}: speed-up {speedup:.2f}x, FLOPs "
                    f"{flop:.2f}x")
    return rows


def _one_seed(seed, quick, repeats, log, scaling: dict) -> list:
    lo, hi = RECIPE["train_len"]
    train_task = load_pruning_task(seed, min_len=lo, max_len=hi)
    lo, hi = RECIPE["eval_len"]
    eval_task = load_pruning_task(seed, min_len=lo, max_len=hi, n_test=RECIPE["n_eval"])
    start = time.perf_counter()
    baseline = train_baseline(train_task, steps=_steps("baseline_steps", quick),
                              batch=RECIPE["batch"], seed=seed, decay=RECIPE["baseline_decay"])
    limit = RECIPE["n_eval_quick"] if quick else None
    base = evaluate(baseline, eval_task.test, limit=limit)
    params = int(sum(p.data.size for p in baseline.parameters()))
    rows = [{"method": "Transformer", "knob": None, "value": 0.0, "accuracy": base["accuracy"],
             "flops": base["flops"], "params": params, "train_s": time.perf_counter() - start}]
    if log:
        log(f"  seed {seed} baseline: test {base['accuracy']:.3f}")
    seqs = list(eval_task.test.fields[0])
    b1_seqs, batch_seqs = seqs[:RECIPE["n_timed_b1"]], seqs[:RECIPE["batch_timed"]]
    middle = {}
    for method, (knob, full, short) in SWEEPS.items():
        values = short if quick else full
        for value in values:
            start = time.perf_counter()
            model = _train(method, value, baseline, train_task, seed, quick)
            train_s = time.perf_counter() - start
            metrics = evaluate(model, eval_task.test, limit=limit)
            is_middle = value == values[len(values) // 2]
            row = {"method": method, "knob": knob, "value": float(value),
                   "accuracy": metrics["accuracy"], "flops": metrics["flops"],
                   "flop_speedup": base["flops"] / metrics["flops"],
                   "kept_per_layer": metrics["kept_per_layer"],
                   "params": int(sum(p.data.size for p in model.parameters())),
                   "train_s": train_s,
                   "flop_speedup_b1": _flop_ratio(baseline, model, b1_seqs)}
            row.update(_time_pair(baseline, model, b1_seqs, batch_seqs, repeats, is_middle))
            row["realisation"] = row["speedup_b1"] / row["flop_speedup_b1"]
            if method != "PoWER-BERT" and is_middle:
                middle[method] = model
            rows.append(row)
            if log:
                log(f"  seed {seed} {method} {knob}={value:g}: test {row['accuracy']:.3f}, "
                    f"FLOPs {100 / row['flop_speedup']:.0f}%, batch-1 "
                    f"{row['speedup_b1']:.2f}x, B=32 {row['speedup_batched']:.2f}x "
                    f"({train_s:.0f} s)")
    if not scaling:
        scaling["rows"] = _scaling(baseline, middle, seed, repeats, log, quick)
        scaling["seed"] = seed
    return rows


def run_pruning(out_dir, *, quick=False, seed=0, seeds=None, repeats=None, log=print) -> dict:
    """Train, count and time; write pruning.md/.json/.png; return the result dict."""
    seeds = (1 if quick else 3) if seeds is None else seeds
    repeats = (4 if quick else 6) if repeats is None else repeats
    seed_list = list(range(seed, seed + seeds))
    scaling: dict = {}
    runs = run_seeds(lambda s: _one_seed(s, quick, repeats, log, scaling), seed_list, log=log)
    result = {"machine": machine_line(), "seeds": seed_list, "quick": quick,
              "recipe": {**{k: list(v) if isinstance(v, tuple) else v for k, v in RECIPE.items()},
                         "quick": quick},
              "sweeps": {m: {"knob": k, "values": list(s if quick else f)}
                         for m, (k, f, s) in SWEEPS.items()},
              "rows": aggregate_rows(runs), "scaling": scaling}
    result["verdicts"] = verdicts(result)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "pruning.md").write_text(format_markdown(result), encoding="utf-8")
    (out_dir / "pruning.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    try:
        plots(result, out_dir)
    except ImportError as error:  # matplotlib is optional
        if log:
            log(f"no plots: {error}")
    return result


def main(args) -> int:
    """`tinydyn bench pruning [--quick] [--seed S] [--seeds N] [--out DIR] [--from-results]`
    (the last rewrites pruning.md, the verdicts and the plots from pruning.json)."""
    print(f"tinydyn bench pruning — {machine_line()}")
    start = time.perf_counter()
    if getattr(args, "from_results", False):  # re-render pruning.md and the plots
        path = Path(args.out) / "pruning.json"
        result = json.loads(path.read_text(encoding="utf-8"))
        result["verdicts"] = verdicts(result)
        path.write_text(json.dumps(result, indent=2), encoding="utf-8")
        (Path(args.out) / "pruning.md").write_text(format_markdown(result), encoding="utf-8")
        plots(result, args.out)
        print((Path(args.out) / "pruning.md").read_text(encoding="utf-8"))
        return 0
    repeats = None if args.repeats == 15 else args.repeats  # 15 is the CLI's generic default
    run_pruning(args.out, quick=args.quick, seed=args.seed, seeds=getattr(args, "seeds", None),
                repeats=repeats, log=None if args.quiet else print)
    md = Path(args.out) / "pruning.md"
    print()
    print(md.read_text(encoding="utf-8"))
    print(f"wrote {md} and pruning.json in {args.out} ({time.perf_counter() - start:.0f} s)")
    return 0
