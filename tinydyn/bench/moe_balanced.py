"""`tinydyn bench moe_balanced`: balanced and unlearned routing on the token_rules task.

One small token model (:class:`TokenRuleNet`: embeddings of the token and of the previous
token, one pre-LayerNorm feed-forward block with a residual, a linear head) trained with the
same budget with a dense feed-forward block and with an 8-expert MoE block whose experts each
have the dense block's width (the same active FLOPs per token), under each router: Switch top-1
(learned, balancing loss), Expert Choice (c = 1), BASE (balanced assignment), Hash (random and
balanced tables of the token id, and the oracle table of the task's hidden groups), and THOR
(random experts, consistency loss). Over seeds: test accuracy, the per-expert load's
coefficient of variation on the test split, FLOPs per sequence and inference time per sequence
(batch 1 and a batch of 64), all in one run.

Writes ``moe_balanced.md``, ``moe_balanced.json`` and ``moe_balanced.png`` into the output
folder.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from tinydyn._checks import check_int, fail
from tinydyn.autograd.function import no_grad
from tinydyn.autograd.ops_nn import cross_entropy
from tinydyn.autograd.tensor import Tensor
from tinydyn.bench.harness import machine_line
from tinydyn.bench.seeds import aggregate_rows, run_seeds
from tinydyn.dynamic.moe import MoELayer, SwitchRouter, aux_loss_of
from tinydyn.dynamic.moe.base_layers import BaseRouter
from tinydyn.dynamic.moe.expert_choice import ExpertChoiceRouter
from tinydyn.dynamic.moe.hashing import HashRouter, token_frequencies
from tinydyn.dynamic.moe.thor import ThorRouter, thor_loss
from tinydyn.nn import LayerNorm, Linear, Module, Parameter, init
from tinydyn.optim import Adam

__all__ = ["METHODS", "RECIPE", "TokenRuleNet", "evaluate", "flops_per_token", "main",
           "make_router", "run_moe_balanced", "table_rows", "train_token_model"]

# the model and the training budget, the same for every method
RECIPE = {"d_model": 16, "d_ff": 8, "n_experts": 8, "steps": 500, "quick_steps": 200,
          "batch": 32, "lr": 1e-2, "thor_alpha": 1.0, "eval_batch": 64}
METHODS = ("dense FFN", "Switch top-1", "Expert Choice c=1", "BASE", "Hash (random)",
           "Hash (balanced)", "Hash (oracle groups)", "THOR")
QUICK_METHODS = ("dense FFN", "Switch top-1", "Expert Choice c=1", "Hash (balanced)", "THOR")


def make_router(method: str, task, d_model: int, n_experts: int, rng):
    """The router of ``method`` for ``task`` (None for the dense model)."""
    if method == "dense FFN":
        return None
    if method == "Switch top-1":
        return SwitchRouter(d_model, n_experts, aux_coef=1e-2, rng=rng)
    if method == "Expert Choice c=1":
        return ExpertChoiceRouter(d_model, n_experts, capacity_factor=1.0, rng=rng)
    if method == "BASE":
        return BaseRouter(d_model, n_experts, rng=rng)
    if method == "Hash (random)":
        return HashRouter.random(d_model, n_experts, task.vocab_size, rng=rng)
    if method == "Hash (balanced)":
        # the frequencies of the training distribution
        freqs = token_frequencies(task.train.fields[0], task.vocab_size)
        return HashRouter.balanced(d_model, n_experts, freqs)
    if method == "Hash (oracle groups)":
        groups = task.info["group"] % n_experts
        return HashRouter(d_model, n_experts, groups, kind="oracle")
    if method == "THOR":
        return ThorRouter(d_model, n_experts, rng=rng)
    fail("make_router", f"method must be one of {METHODS}, got {method!r}")


class TokenRuleNet(Module):
    """Per position: ``h = emb[v_t] + emb_prev[v_{t-1}]``, ``h = h + ffn(LayerNorm(h))``,
    ``logits = head(h)``. ``ffn`` is a dense block (d -> d_ff -> d, ReLU) when ``router`` is
    None, else an :class:`MoELayer` of ``n_experts`` experts of width ``d_ff``.

    ``forward(tokens, previous)``: int arrays of one shape (B, T) or (S,) -> logits (B*T, K).
    """

    def __init__(self, vocab_size: int, num_classes: int, d_model: int = 16, d_ff: int = 8,
                 n_experts: int = 8, router=None, rng=None, dtype=np.float32):
        super().__init__()
        rng = rng if rng is not None else np.random.default_rng(0)
        self.emb = Parameter(np.empty((vocab_size, d_model), dtype=dtype))
        self.emb_prev = Parameter(np.empty((vocab_size, d_model), dtype=dtype))
        init.normal_(self.emb, std=1.0, rng=rng)
        init.normal_(self.emb_prev, std=1.0, rng=rng)
        self.norm = LayerNorm(d_model, dtype=dtype)
        if router is None:
            self.up = Linear(d_model, d_ff, rng=rng, dtype=dtype)
            self.down = Linear(d_ff, d_model, rng=rng, dtype=dtype)
            self.moe = None
        else:
            self.moe = MoELayer(router, d_model, d_ff, n_experts, rng=rng, dtype=dtype)
        self.head = Linear(d_model, num_classes, rng=rng, dtype=dtype)

    def forward(self, tokens: np.ndarray, previous: np.ndarray) -> Tensor:
        tokens = np.asarray(tokens).reshape(-1)
        previous = np.asarray(previous).reshape(-1)
        h = self.emb[tokens] + self.emb_prev[previous]
        u = self.norm(h)
        if self.moe is None:
            h = h + self.down(self.up(u).relu())
        else:
            h = h + self.moe(u, token_ids=tokens)
        return self.head(h)


def flops_per_token(method: str, d_model: int, d_ff: int, n_experts: int,
                    num_classes: int) -> int:
    """FLOPs (2 per multiply-add) per token at inference: the feed-forward products of the
    expert a token uses (1 on average for every method here), the router (each router's
    ``flops(1)``: logits 2dE and softmax 5E for Switch and Expert Choice, affinities 2dE and
    the gate 2d + 1 for BASE, nothing for the hashes and THOR), the head. Biases, activations,
    the combine, embedding lookups and LayerNorm are the same in every method and left out."""
    ffn = 2 * (d_model * d_ff + d_ff * d_model)
    head = 2 * d_model * num_classes
    router = 0
    if method in ("Switch top-1", "Expert Choice c=1", "BASE"):
        router = 2 * d_model * n_experts + 5 * n_experts
    if method == "BASE":
        router += 2 * d_model + 1 - 5 * n_experts
    return ffn + router + head


def train_token_model(model: TokenRuleNet, task, *, steps: int, batch: int, lr: float,
                      rng: np.random.Generator, thor_alpha: float | None = None) -> dict:
    """Adam on the task's training sequences, ``batch`` sequences a step. With ``thor_alpha``
    each step runs the batch twice (two random routings) and minimises :func:`thor_loss`.

    Returns ``{"losses": [...], "loads": (steps, E) per-expert load of each step, or None}``.
    """
    steps = check_int("train_token_model", "steps", steps, min_value=1)
    tokens, previous, label = task.train.fields
    opt = Adam(model.parameters(), lr=lr)
    losses, loads = [], []
    model.train()
    for _ in range(steps):
        idx = rng.integers(0, len(label), size=batch)
        target = label[idx].reshape(-1)
        logits = model(tokens[idx], previous[idx])
        if thor_alpha is not None:
            loss = thor_loss(logits, model(tokens[idx], previous[idx]), target, thor_alpha)
        else:
            loss = cross_entropy(logits, target)
            aux = aux_loss_of(model)
            if aux is not None:
                loss = loss + aux
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.data))
        if model.moe is not None:
            loads.append(model.moe.last_routing.load())
    return {"losses": losses, "loads": np.array(loads) if loads else None}


def evaluate(model: TokenRuleNet, split, batch: int = 64) -> dict:
    """Accuracy over every labelled position of ``split`` in eval mode, routed ``batch``
    sequences at a time (a routing group), and the per-expert load summed over the split."""
    tokens, previous, label = split.fields
    model.eval()
    correct, load = 0, None
    with no_grad():
        for start in range(0, len(label), batch):
            sl = slice(start, start + batch)
            logits = model(tokens[sl], previous[sl]).data
            correct += int((logits.argmax(1) == label[sl].reshape(-1)).sum())
            if model.moe is not None:
                step_load = model.moe.last_routing.load()
                load = step_load if load is None else load + step_load
    model.train()
    return {"accuracy": correct / label.size, "load": load}


def _load_cv(load) -> float | None:
    if load is None:
        return None
    load = np.asarray(load, dtype=np.float64)
    return float(load.std() / load.mean())


def _one_method(task, method, seed, steps, log_loads=False) -> dict:
    r = RECIPE
    rng = np.random.default_rng(1000 + seed)
    router = make_router(method, task, r["d_model"], r["n_experts"], rng)
    model = TokenRuleNet(task.vocab_size, task.num_classes, r["d_model"], r["d_ff"],
                         r["n_experts"], router=router, rng=rng)
    start = time.perf_counter()
    out = train_token_model(model, task, steps=steps, batch=r["batch"], lr=r["lr"],
                            rng=np.random.default_rng(2000 + seed),
                            thor_alpha=r["thor_alpha"] if method == "THOR" else None)
    train_s = time.perf_counter() - start
    test = evaluate(model, task.test, r["eval_batch"])
    seq_len = task.info["seq_len"]
    row = {"method": method, "value": None, "accuracy": test["accuracy"],
           "load_cv": _load_cv(test["load"]), "train_s": train_s,
           "flops": seq_len * flops_per_token(method, r["d_model"], r["d_ff"], r["n_experts"],
                                              task.num_classes),
           "params": int(sum(p.data.size for p in model.parameters())),
           "final_loss": float(np.mean(out["losses"][-20:]))}
    if log_loads and out["loads"] is not None:
        row["train_loads"] = out["loads"].tolist()
    return row, model


def _time_inference(models: dict, task, repeats: int) -> dict:
    """Seconds per sequence at batch 1 and in a batch of 64, every model in one run."""
    from tinydyn.measure import time_fns

    tokens, previous, _ = task.test.fields
    out = {}
    for size in (1, 64):
        fns = {}
        for name, model in models.items():
            model.eval()

            def run(model=model, size=size):
                with no_grad():
                    model(tokens[:size], previous[:size])
            fns[name] = run
        timings = time_fns(fns, repeats=repeats)
        for name, t in timings.items():
            out.setdefault(name, {})[size] = t.median / size
    return out


def _one_seed(seed, quick, repeats, log) -> list:
    from tinydyn.data.tasks import load_task

    task = load_task("token_rules", seed=seed)
    steps = RECIPE["quick_steps" if quick else "steps"]
    rows, models = [], {}
    for method in (QUICK_METHODS if quick else METHODS):
        row, model = _one_method(task, method, seed, steps, log_loads=seed == 0)
        rows.append(row)
        models[method] = model
        if log:
            log(f"  seed {seed} {method:<22} test {row['accuracy']:.3f} load cv "
                f"{row['load_cv'] if row['load_cv'] is None else round(row['load_cv'], 3)} "
                f"({row['train_s']:.1f} s)")
    times = _time_inference(models, task, repeats)
    for row in rows:
        row["t_batch1_s"], row["t_batched_s"] = times[row["method"]][1], times[row["method"]][64]
    return rows


def run_moe_balanced(out_dir, *, quick=False, seed=0, seeds=None, repeats=9,
                     log=print) -> dict:
    """Train, count and time; write the results; return them."""
    from tinydyn.bench import moe_balanced_report as report

    load_average = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    seeds = (1 if quick else 3) if seeds is None else seeds
    seed_list = list(range(seed, seed + seeds))
    runs = run_seeds(lambda s: _one_seed(s, quick, 5 if quick else repeats, log), seed_list,
                     log=log)
    loads = {r["method"]: r.pop("train_loads") for r in runs[seed_list[0]]
             if "train_loads" in r}
    for s in seed_list[1:]:
        for r in runs[s]:
            r.pop("train_loads", None)
    result = {"machine": machine_line(), "seeds": seed_list, "quick": quick,
              "recipe": RECIPE, "rows": aggregate_rows(runs), "train_loads": loads,
              "batch_size": 64, "load_average": load_average}
    result["verdicts"] = report.verdicts(result)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "moe_balanced.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    report.plot(result, out_dir / "moe_balanced.png")
    (out_dir / "moe_balanced.md").write_text(report.format_markdown(result), encoding="utf-8")
    return result


def table_rows(result: dict) -> list[dict]:
    """The shared rows of :mod:`tinydyn.bench.rows` (baseline: the dense model)."""
    from tinydyn.bench import moe_balanced_report

    return moe_balanced_report.table_rows(result)


def main(args) -> int:
    """`tinydyn bench moe_balanced [--quick] [--seed S] [--seeds N] [--repeats R] [--out D]`."""
    print(f"tinydyn bench moe_balanced — {machine_line()}")
    start = time.perf_counter()
    run_moe_balanced(args.out, quick=args.quick, seed=args.seed,
                     seeds=getattr(args, "seeds", None), repeats=min(args.repeats, 9),
                     log=None if args.quiet else print)
    md = Path(args.out) / "moe_balanced.md"
    print()
    print(md.read_text(encoding="utf-8"))
    print(f"wrote {md}, moe_balanced.json and moe_balanced.png in {args.out} "
          f"({time.perf_counter() - start:.0f} s)")
    return 0
