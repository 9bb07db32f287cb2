"""`tinydyn bench moe`: the MoE layer's speed and learned routing's quality, in one run.

* Layer timing (forward + backward, E = 8, top-2, S = 2048 tokens, d = 64, d_ff = 256, ReLU,
  dropless, Switch-style router with its balancing loss), in alternating warm blocks, against:
  the dense FFN with k·d_ff = 512 hidden units (the same active FLOPs); the experts' matrix
  products alone (the same per-expert products, forward and backward, on pre-sorted blocks: the
  layer's time minus theirs is its overhead: routing, gather, scatter, bookkeeping); PyTorch
  running the same MoE the usual way (a loop over experts with index_select and index_add).
  The slot form with capacity factor 1.25 is timed alongside (no target). The share of the
  layer's time spent outside the experts' products (routing, gather, scatter, bookkeeping)
  is measured inside the same calls (:func:`overhead_in_calls`), and also estimated from
  the separate run of the products alone.
* Inference time per input of the trained networks (first seed), at batch 1 and in batches
  of 256, for the cross-method table.
* Quality on the ``regions`` task (spec A.9) over seeds: dense residual MLPs with d_ff and
  2·d_ff hidden units (the active FLOPs of top-1 and top-2) against Switch top-1 (with and
  without its balancing loss), top-2 (Switch-style), GShard top-2 and noisy top-2 (Shazeer);
  and with the balancing coefficient alpha raised from the paper's 0.01 to 0.1 and 0.3;
  the per-expert load over training and its coefficient of variation (CV) over the last 10%
  of the training steps and at evaluation on the test split; the capacity-factor sweep
  (0.5, 1.0, 1.25, 2.0, and 1.0 with batch-prioritised routing): dropped fraction and accuracy.

Writes ``moe.md``, ``moe.json`` and ``moe.png`` (report: :mod:`tinydyn.bench.moe_report`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from tinydyn.autograd.ops_linalg import linear
from tinydyn.autograd.tensor import Tensor
from tinydyn.bench.harness import (
    Workload,
    machine_line,
    row_record,
    run_workloads,
    torch_or_skip,
)
from tinydyn.bench.moe_report import format_markdown, plot, table_rows, verdicts
from tinydyn.bench.seeds import aggregate_rows, run_seeds
from tinydyn.dynamic.moe.cost import dense_ffn_cost, moe_layer_cost
from tinydyn.dynamic.moe.layer import MoELayer
from tinydyn.dynamic.moe.models import DenseClassifier, MoEClassifier
from tinydyn.dynamic.moe.routers import SwitchRouter
from tinydyn.dynamic.moe.training import routing_summary, train_classifier
from tinydyn.measure.flops import count_flops
from tinydyn.measure.timing import time_fns
from tinydyn.nn import functional as F
from tinydyn.nn.layers import Linear

__all__ = ["LAYER", "METHODS", "TARGETS", "layer_workload", "main", "run_moe", "table_rows"]

LAYER = {"tokens": 2048, "d_model": 64, "d_ff": 256, "experts": 8, "k": 2}
TARGETS = {"overhead_share": 0.25, "layer_vs_dense": 1.3, "layer_vs_torch": 1.0,
           "margin": 0.05, "load_cv": 0.1}
MODEL = {"d_model": 32, "d_ff": 16, "experts": 8, "steps": 600, "quick_steps": 250,
         "batch": 128, "lr": 3e-3}
# method -> (kind, k, router, options); every model gets the same steps, batch and lr
METHODS = {
    "dense, d_ff hidden": ("dense", 1, None, {}),
    "dense, 2 d_ff hidden": ("dense", 2, None, {}),
    "Switch top-1": ("moe", 1, "switch", {}),
    "Switch top-1, no balancing loss": ("moe", 1, "switch", {"router": {"aux_coef": 0.0}}),
    "Switch top-1, alpha = 0.1": ("moe", 1, "switch", {"router": {"aux_coef": 0.1}}),
    "Switch top-1, alpha = 0.3": ("moe", 1, "switch", {"router": {"aux_coef": 0.3}}),
    "top-2 (Switch-style)": ("moe", 2, "switch", {}),
    "GShard top-2": ("moe", 2, "gshard", {}),
    "noisy top-2 (Shazeer)": ("moe", 2, "noisy_topk", {}),
    "Switch top-1, CF 0.5": ("moe", 1, "switch", {"cf": 0.5}),
    "Switch top-1, CF 1.0": ("moe", 1, "switch", {"cf": 1.0}),
    "Switch top-1, CF 1.25": ("moe", 1, "switch", {"cf": 1.25}),
    "Switch top-1, CF 2.0": ("moe", 1, "switch", {"cf": 2.0}),
    "Switch top-1, CF 1.0, batch-prioritised": ("moe", 1, "switch",
                                                {"cf": 1.0, "router": {"batch_prioritized": True}}),
}
QUICK_METHODS = ("dense, d_ff hidden", "dense, 2 d_ff hidden", "Switch top-1",
                 "Switch top-1, no balancing loss", "top-2 (Switch-style)", "Switch top-1, CF 0.5",
                 "Switch top-1, CF 1.25")
BASELINE = "dense, d_ff hidden"
TIMING_BATCH = 256


# ---- quality ---------------------------------------------------------------------------------


def _build(name, task, seed):
    kind, k, router, options = METHODS[name]
    rng = np.random.default_rng(1000 + seed)
    d, f = MODEL["d_model"], MODEL["d_ff"]
    d_in, n_out = task.input_shape[0], task.num_classes
    if kind == "dense":
        return DenseClassifier(d_in, d, f, n_out, k=k, rng=rng)
    return MoEClassifier(d_in, d, f, MODEL["experts"], n_out, router, k=k,
                         capacity_factor=options.get("cf"), router_kwargs=options.get("router"),
                         rng=rng)


def _one_method(name, task, seed, steps, keep=None) -> dict:
    model = _build(name, task, seed)
    if keep is not None:
        keep[name] = model
    start = time.perf_counter()
    out = train_classifier(model, task, steps=steps, batch=MODEL["batch"], lr=MODEL["lr"],
                           rng=np.random.default_rng(2000 + seed))
    row = {"method": name, "value": METHODS[name][0], "accuracy": out["test_accuracy"],
           "val_accuracy": out["val_accuracy"], "train_s": time.perf_counter() - start,
           "params": int(sum(p.data.size for p in model.parameters())),
           "flops": count_flops(model.eval(), Tensor(task.test.fields[0][:256])) / 256}
    model.train()
    if len(out["load"]):
        x_test, region = task.test.fields[0], task.test.region
        summary = routing_summary(model, x_test, region)
        row.update(load_cv=summary["load_cv"], eval_dropped=summary["dropped_fraction"],
                   train_dropped=float(out["dropped"].mean()),
                   train_load_cv=_cv(out["load"][-max(1, len(out["load"]) // 10):].mean(0)),
                   experts_used=int((summary["load"] > 0.02).sum()),
                   load_curve=_downsample(out["load"]).tolist(),
                   region_counts=summary["counts"].tolist())
    return row


def _cv(load: np.ndarray) -> float:
    """Coefficient of variation (population std / mean) of a load vector."""
    return float(load.std() / load.mean()) if load.mean() > 0 else 0.0


def _downsample(load: np.ndarray, points: int = 50) -> np.ndarray:
    """Per-step loads (steps, E) averaged in ``points`` consecutive windows."""
    chunks = np.array_split(load, min(points, len(load)))
    return np.stack([c.mean(axis=0) for c in chunks])


def _one_seed(seed, quick, log, keep=None) -> list:
    from tinydyn.data.tasks import load_task

    task = load_task("regions", seed=seed)
    steps = MODEL["quick_steps" if quick else "steps"]
    rows = []
    for name in (QUICK_METHODS if quick else METHODS):
        row = _one_method(name, task, seed, steps, keep)
        rows.append(row)
        if log:
            log(f"  seed {seed} {name:<42} test {row['accuracy']:.3f} "
                f"({row['train_s']:.1f} s)")
    return rows


def network_timing(models: dict, seed: int, repeats: int = 9) -> dict:
    """Inference time per input of each trained network (eval mode, no graph), at batch 1 and
    in batches of ``TIMING_BATCH`` test points, all candidates in alternating warm blocks;
    the fastest of the ``repeats`` samples (and the median)."""
    from tinydyn.autograd.function import no_grad
    from tinydyn.data.tasks import load_task

    x = load_task("regions", seed=seed).test.fields[0]

    def infer(model, batch):
        inputs = Tensor(x[:batch])

        def run():
            with no_grad():
                model(inputs)
        return run

    for model in models.values():
        model.eval()
    one = time_fns({name: infer(m, 1) for name, m in models.items()}, repeats=repeats)
    many = time_fns({name: infer(m, TIMING_BATCH) for name, m in models.items()},
                    repeats=repeats)
    # the fastest sample: on a loaded machine the median of these sub-millisecond calls is
    # mostly other processes' time (identical networks differed 4x); on a quiet one the two
    # agree. The medians are kept beside them.
    return {name: {"t_batch1_s": min(one[name].samples),
                   "t_batched_s": min(many[name].samples) / TIMING_BATCH,
                   "median_batch1_s": one[name].median,
                   "median_batched_s": many[name].median / TIMING_BATCH} for name in models}


# ---- layer timing ----------------------------------------------------------------------------


def _zero(params):
    for p in params:
        p.grad = None


def layer_workload() -> Workload:
    s, d, f, e, k = (LAYER[key] for key in ("tokens", "d_model", "d_ff", "experts", "k"))

    def setup():
        rng = np.random.default_rng(0)
        x = Tensor(rng.standard_normal((s, d)).astype(np.float32), requires_grad=True)
        moe = MoELayer(SwitchRouter(d, e, k=k, rng=rng), d, f, e, rng=rng)
        slots = MoELayer(SwitchRouter(d, e, k=k, rng=rng), d, f, e, capacity_factor=1.25,
                         form="slots", rng=rng)
        fc1, fc2 = Linear(d, k * f, rng=rng), Linear(k * f, d, rng=rng)

        def run_moe(layer):
            params = list(layer.parameters()) + [x]

            def step():
                _zero(params)
                (layer(x).sum() + layer.aux_loss).backward()
            return step

        def dense():
            _zero([fc1.weight, fc1.bias, fc2.weight, fc2.bias, x])
            hidden = F.relu(linear(x, fc1.weight, fc1.bias))
            linear(hidden, fc2.weight, fc2.bias).sum().backward()

        return {"tinydyn": run_moe(moe),
                f"dense FFN, {k * f} hidden (tinydyn)": dense,
                "the experts' matrix products alone (NumPy)": _matmuls_only(moe, x),
                "PyTorch loop over experts (index_select / index_add)": _torch_loop(moe, x),
                "slot form, CF 1.25 (tinydyn)": run_moe(slots)}

    return Workload(f"MoE layer fwd+bwd, S={s}, d={d}, d_ff={f}, E={e}, top-{k}", setup,
                    targets={f"dense FFN, {k * f} hidden (tinydyn)": TARGETS["layer_vs_dense"],
                             "PyTorch loop over experts (index_select / index_add)":
                                 TARGETS["layer_vs_torch"]},
                    note="the whole MoE layer (router, balancing loss, gather, experts, "
                         "weighted scatter) against a dense FFN with the same active hidden "
                         "units, and against PyTorch's usual loop over experts")


def _matmuls_only(layer, x):
    """The six per-expert products of the layer's forward + backward, nothing else."""
    layer(x)
    r = layer.last_routing
    order, offsets = r.sorted_by_expert()
    xe = np.ascontiguousarray(x.data[r.token[order]])
    w1, w2 = layer.w1.data, layer.w2.data
    h = np.empty((xe.shape[0], w1.shape[2]), np.float32)
    out = np.empty_like(xe)
    dh, dxe = np.empty_like(h), np.empty_like(xe)
    dw1, dw2 = np.empty_like(w1), np.empty_like(w2)

    def step():
        for e in range(w1.shape[0]):
            lo, hi = offsets[e], offsets[e + 1]
            np.matmul(xe[lo:hi], w1[e], out=h[lo:hi])
            np.matmul(h[lo:hi], w2[e], out=out[lo:hi])
            np.matmul(h[lo:hi].T, out[lo:hi], out=dw2[e])
            np.matmul(out[lo:hi], w2[e].T, out=dh[lo:hi])
            np.matmul(xe[lo:hi].T, dh[lo:hi], out=dw1[e])
            np.matmul(dh[lo:hi], w1[e].T, out=dxe[lo:hi])
    return step


def _torch_loop(layer, x):
    """The same MoE (Switch-style top-k router with its loss) written the usual PyTorch way."""
    torch = torch_or_skip()
    if not hasattr(torch, "tensor"):
        return torch  # the Skip
    t = {name: torch.tensor(p.data, requires_grad=True) for name, p in
         (("wr", layer.router.weight), ("w1", layer.w1), ("b1", layer.b1), ("w2", layer.w2),
          ("b2", layer.b2))}
    xt = torch.tensor(x.data, requires_grad=True)
    e, k, coef = layer.n_experts, layer.router.k, layer.router.aux_coef

    def step():
        for v in [*t.values(), xt]:
            v.grad = None
        probs = torch.softmax(xt @ t["wr"], dim=1)
        gates, chosen = probs.topk(k, dim=1)
        y = torch.zeros_like(xt)
        for i in range(e):
            token, rank = (chosen == i).nonzero(as_tuple=True)
            xe = xt.index_select(0, token)
            out = torch.relu(xe @ t["w1"][i] + t["b1"][i]) @ t["w2"][i] + t["b2"][i]
            y = y.index_add(0, token, out * gates[token, rank].unsqueeze(1))
        fraction = torch.zeros(e).index_add(0, chosen.reshape(-1),
                                            torch.ones(chosen.numel())) / xt.shape[0]
        aux = coef * e * (fraction * probs.mean(dim=0)).sum()
        (y.sum() + aux).backward()
    return step


def overhead_in_calls(calls: int = 21) -> dict:
    """The layer's share of time outside the experts' products, measured inside the same
    calls: each forward + backward is timed whole while :func:`time_products` clocks its
    per-expert products and their whole FFN (products, biases, activation), over ``calls``
    calls after two warm-up calls. For each of the two inner parts: the share outside it
    from each part's fastest call, ``outside_min / (outside_min + inner_min)``, and the
    median and quartiles of the per-call shares."""
    from tinydyn.kernels.moe import time_products

    s, d, f, e, k = (LAYER[key] for key in ("tokens", "d_model", "d_ff", "experts", "k"))
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((s, d)).astype(np.float32), requires_grad=True)
    layer = MoELayer(SwitchRouter(d, e, k=k, rng=rng), d, f, e, rng=rng)
    params = list(layer.parameters()) + [x]
    wholes, products, ffns = [], [], []
    for i in range(calls + 2):
        _zero(params)
        with time_products() as clock:
            start = time.perf_counter()
            (layer(x).sum() + layer.aux_loss).backward()
            whole = time.perf_counter() - start
        if i >= 2:
            wholes.append(whole)
            products.append(clock.seconds)
            ffns.append(clock.ffn_seconds)
    wholes, products, ffns = np.array(wholes), np.array(products), np.array(ffns)
    # A descheduling adds milliseconds to whichever part it hits. Each part's fastest call is
    # its time undisturbed, so each share is estimated from the minima (on a quiet machine
    # this is also the median).
    out = {"calls": calls}
    for name, inner in (("products", products), ("ffn", ffns)):
        outside = float((wholes - inner).min())
        shares = 1 - inner / wholes
        q1, median, q3 = np.percentile(shares, [25, 50, 75])
        out[name] = {"from_minima": outside / (outside + float(inner.min())),
                     "outside_min_s": outside, "inner_min_s": float(inner.min()),
                     "median": float(median), "q1": float(q1), "q3": float(q3)}
    return out


# ---- the run ---------------------------------------------------------------------------------


def run_moe(out_dir, *, quick=False, seed=0, seeds=None, repeats=15, log=print) -> dict:
    """Train, count and time; write ``moe.md``, ``moe.json``, ``moe.png``; return the result."""
    seeds = (1 if quick else 3) if seeds is None else seeds
    seed_list = list(range(seed, seed + seeds))
    models = {}  # the first seed's trained models, timed below
    runs = run_seeds(lambda s: _one_seed(s, quick, log, models if s == seed else None),
                     seed_list, log=log)
    methods = aggregate_rows(runs)
    if log:
        log("timing the trained networks ...")
    network = network_timing(models, seed, repeats=7 if quick else 21)
    if log:
        log("timing the layer ...")
    timing_rows = run_workloads([layer_workload()], repeats=5 if quick else repeats,
                                log=log or (lambda *a: None))
    overhead = overhead_in_calls(7 if quick else 31)
    s, d, f, e, k = (LAYER[key] for key in ("tokens", "d_model", "d_ff", "experts", "k"))
    layer = MoELayer(SwitchRouter(d, e, k=k), d, f, e)
    result = {"overhead_in_calls": overhead, "machine": machine_line(), "seeds": seed_list,
              "quick": quick, "model": MODEL,
              "layer": {**LAYER, "cost": moe_layer_cost(layer, s),
                        "dense_cost": dense_ffn_cost(d, k * f, s)},
              "methods": methods, "targets": TARGETS, "network_timing": network,
              "timing_batch": TIMING_BATCH,
              "timing": [row_record(r) for r in timing_rows]}
    result["verdicts"] = verdicts(result)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "moe.md").write_text(format_markdown(result), encoding="utf-8")
    (out_dir / "moe.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    plot(result, out_dir / "moe.png")
    return result


def main(args) -> int:
    """`tinydyn bench moe [--quick] [--seed S] [--seeds N] [--repeats R] [--out DIR]`."""
    print(f"tinydyn bench moe — {machine_line()}")
    start = time.perf_counter()
    run_moe(args.out, quick=args.quick, seed=args.seed, seeds=getattr(args, "seeds", None),
            repeats=args.repeats, log=None if args.quiet else print)
    md = Path(args.out) / "moe.md"
    print()
    print(md.read_text(encoding="utf-8"))
    print(f"wrote {md}, moe.json and moe.png in {args.out} "
          f"({time.perf_counter() - start:.0f} s)")
    return 0
