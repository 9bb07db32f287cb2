# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 12 — Measuring dynamic networks
#
# Every method of this course promises to spend less on easy inputs. Papers measure the
# promise in FLOPs, sometimes in layers, rarely in seconds, and almost never with more than one
# input at a time; the survey behind this course names evaluation as an open problem of the
# field. ELUE (Liu et al., *Towards Efficient NLP: A Standard Evaluation and A Strong
# Baseline*, NAACL 2022) answered part of it with one score over (FLOPs, accuracy) points. This
# lesson measures every method of `tinydyn` on one harness and asks where the saving is real.

# %% [markdown]
# What you will see:
#
# 1. three speed-ups of one early-exit network, and why they disagree;
# 2. every method in one table and one figure, against its own baseline;
# 3. Pareto fronts and the ELUE-style score;
# 4. where a saving survives: model size and batch size;
# 5. a latency model with two numbers, and what it predicts;
# 6. what these measurements cannot tell.

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from tinydyn.bench.all import collect, method_suites
from tinydyn.bench.survival import add_ratios, latency_check
from tinydyn.bench.survival import skimming as skimming_sweep
from tinydyn.course.figures.measuring import (
    operating_points,
    plot_predictions,
    plot_speedup_map,
    plot_survival,
)
from tinydyn.course.notebook import claim, pin_threads, say, show_table, time_table
from tinydyn.data import load_task
from tinydyn.dynamic.early_exit import (
    EntropyPolicy,
    MultiExitMLP,
    exit_decisions,
    run_engine,
    training,
)
from tinydyn.dynamic.early_exit import cost as exit_cost
from tinydyn.dynamic.early_exit.kernels import NEVER, mlp_exit_batch1
from tinydyn.measure.elue import elue_score, front_curve
from tinydyn.measure.pareto import pareto_front

pin_threads(1)  # this page times code: one BLAS thread makes timings repeatable
np.set_printoptions(precision=3, suppress=True)

# %% [markdown]
# ## 1. Three speed-ups of one network
#
# An early-exit network (lesson 10) on the `easy_hard` task: eight residual blocks, a classifier
# after each, and an input leaves at the first exit whose prediction has normalised entropy
# below 0.05. Three numbers describe the saving of $N$ inputs leaving at layers $\ell_n$:
#
# $$\text{layers: } \frac{L N}{\sum_n \ell_n} \qquad
# \text{FLOPs: } \frac{F_\text{static}}{\tfrac1N \sum_n F(\ell_n)} \qquad
# \text{wall-clock: } \frac{t_\text{static}}{t_\text{dynamic}}$$

# %%
task = load_task("easy_hard", seed=0)
x_test, y_test = task.test.fields
model = MultiExitMLP(64, 2, width=64, depth=8, rng=np.random.default_rng(0))
training.train_multi_exit(model, task, "joint", steps=400, rng=np.random.default_rng(2))
logits, _ = training.all_exit_outputs(model, x_test)
policy = EntropyPolicy(0.05)
exits, predictions = exit_decisions(logits, policy)
ratios = exit_cost.speedups(model, exits)
say("accuracy {d:.1%} with exits, {s:.1%} for the full network; mean exit layer {m:.2f} of 8",
    d=(predictions == y_test).mean(), s=(logits[-1].argmax(1) == y_test).mean(),
    m=ratios["mean_layers"])

# %% [markdown]
# The FLOP speed-up counts the exit classifiers every input passes; the layer speed-up does
# not, so it is always the larger of the two (a head costing $h$ beside a layer costing $c$:
# $(Lc + h) / (\ell (c + h)) < L / \ell$ whenever $L > 1$).

# %%
_ = claim(ratios["layer"] > ratios["flop"], "layer speed-up {l:.2f}x, FLOP speed-up {f:.2f}x",
          l=ratios["layer"], f=ratios["flop"])

# %% [markdown]
# For the clock, the network runs two ways: one input at a time in a compiled loop that stops
# at the exit, and in batches of 32 that drop the rows that have left after each layer
# (compaction). Its static twin runs every layer and the last head, the same two ways.

# %%
runner, xs = model.runner(), x_test[:256]
weights = (runner.stem_w, runner.stem_b, runner.w1, runner.b1, runner.w2, runner.b2,
           runner.head_w, runner.head_b)
thr, temps, w_lte, b_lte = policy.params(8)


def batch1(code, threshold):  # the compiled batch-1 loop; NEVER: no exit, the static network
    flat = xs.reshape(len(xs), -1)
    return lambda: mlp_exit_batch1(flat, *weights, code, threshold, temps, w_lte, b_lte)


def static(batch):  # the same network with no exits: every layer, the last head
    def run():
        for a in range(0, len(xs), batch):
            state = runner.embed(xs[a:a + batch])
            for i in range(8):
                state = runner.layer(i, state)
            runner.head(7, state)
    return run


# %%
times = time_table({"static, batch 1": batch1(NEVER, 0.0),
                    "early exit, batch 1": batch1(policy.code, thr),
                    "static, B = 32": static(32),
                    "early exit, compaction, B = 32": lambda: run_engine("compaction", runner,
                                                                         policy, xs, 32)},
                   repeats=5, block=2)
b1 = times["static, batch 1"].median / times["early exit, batch 1"].median
b32 = times["static, B = 32"].median / times["early exit, compaction, B = 32"].median
say("wall-clock on this machine: {a:.2f}x at batch 1, {b:.2f}x at B = 32 with compaction; "
    "realisation (wall-clock / FLOP speed-up) {ra:.2f} and {rb:.2f}", a=b1, b=b32,
    ra=b1 / ratios["flop"], rb=b32 / ratios["flop"])

# %% [markdown]
# Three honest numbers, three different answers. Layers are what papers on early exit often
# report; FLOPs add the decision-makers' cost; only the clock adds everything else: Python
# calls, memory traffic, the bookkeeping that moves unfinished inputs into a smaller batch.
# The *realisation ratio* is the share of the FLOP saving that the clock keeps.

# %% [markdown]
# ## 2. Every method, one table
#
# `tinydyn bench all` runs each family's benchmark (each trains its baseline with the same
# budget and recipe care as its methods, over three seeds) and joins their rows. This page
# reads the tables it wrote to `bench-results/`; the machine they were measured on is named
# in each file. For each family and task, the row below is the method that saves the most
# FLOPs while staying within one accuracy point of its baseline; where no method saves FLOPs
# that way, it is the most accurate method.

# %%
results = Path("bench-results")
rows, status = collect(results, method_suites())
machine = json.loads((results / "skimming.json").read_text())["machine"]
print(f"{len(rows)} rows from {sum(s == 'ok' for s in status.values())} suites; {machine}")
chosen = operating_points(rows, max_drop=0.01)
show_table([[r["family"], r["task"], r["method"] + (f" ({r['knob']})" if r["knob"] and
                                                    r["knob"].split(" =")[0] not in r["method"]
                                                    else ""),
             f"{-100 * r['accuracy_drop']:+.1f}", f"{r['flop_speedup']:.2f}x",
             "-" if r["speedup_batch1"] is None else f"{r['speedup_batch1']:.2f}x",
             "-" if r["realisation"] is None else f"{r['realisation']:.2f}"] for r in chosen],
           ["family", "task", "method", "accuracy vs baseline (points)", "FLOP speed-up",
            "batch-1 speed-up", "realisation"])

# %% [markdown]
# A FLOP speed-up below 1 is not a failure: dynamic convolution and mixtures of experts spend
# the same or slightly more per input, and buy accuracy with it. The next figure puts every
# row of every family on one map.

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
plot_speedup_map(rows, ax=axes[0])
plot_speedup_map(rows, ax=axes[1], batched=True)
plt.show()
measured = [r for r in rows if not r["baseline"] and r["realisation"] is not None]
below = sum(r["realisation"] < 1 for r in measured)
_ = say("{b} of {n} rows lie below the diagonal at batch 1: their clock kept less than their "
        "FLOP count promised", b=below, n=len(measured))

# %% [markdown]
# Points on the dashed diagonal turn every saved FLOP into saved time; points below it lose
# some of the saving on the way. Batching (right) moves points in both directions: it shares
# the fixed cost of a call among many inputs, but a batch can only skip work that *all* of its
# rows skip unless the method regroups them.

# %% [markdown]
# ## 3. Pareto fronts and the ELUE-style score
#
# A method with a knob draws a curve of (cost, accuracy) points. Its **Pareto front** keeps the
# points that no other point beats in both; the **ELUE-style score** is the mean height of a
# method's points above a *reference* curve of static models, read by linear interpolation:
#
# $$\text{score} = \frac1m \sum_i \big(a_i - a_\text{ref}(f_i)\big)$$
#
# Its reference must be the same backbone made cheaper statically. The early-exit network
# above has one built in: cut it after $\ell$ layers and use exit $\ell$ for every input.

# %%
ref_flops = [exit_cost.static_flops(model, depth) for depth in range(1, 9)]
ref_acc = [float((logits[d - 1].argmax(1) == y_test).mean()) for d in range(1, 9)]
points = []
for threshold in np.linspace(0.0, 0.6, 10):
    e, p = exit_decisions(logits, EntropyPolicy(threshold))
    points.append((exit_cost.exit_flops(model, e).mean(), (p == y_test).mean()))
costs, accs = np.array(points).T
front = pareto_front(costs, accs)
score = elue_score(costs, accs, ref_flops, ref_acc)
say("{k} of the {n} thresholds are on the front; ELUE-style score against the truncated "
    "network: {s:+.3f} (accuracy)", k=len(front), n=len(costs), s=score)

# %%
fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(ref_flops, ref_acc, "k--o", ms=4, label="static: first l layers")
ax.plot(costs, accs, "o", alpha=0.4, label="entropy exits")
ax.plot(*front_curve(costs, accs), "-", label="their Pareto front")
ax.set_xscale("log")
ax.set_xlabel("FLOPs per input")
ax.set_ylabel("test accuracy")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# A positive score means the exits beat the static networks of the same cost. A score is only
# as fair as its reference: against a weak baseline every method looks good, which is why each
# family's benchmark trains its baseline with the same care as its methods.

# %% [markdown]
# ## 4. Where a saving survives
#
# A FLOP saving turns into time only where the work skipped dominates the time. `tinydyn bench
# survival` measures that directly: each family's hard-decision path with its decisions
# *pinned* (half the tokens skimmed, a quarter of the rows updated, two of eight experts, ...)
# against its static baseline, over model size and batch size.

# %%
survival = json.loads((results / "survival.json").read_text())
families = {f: info for f, info in survival["families"].items() if info["status"] == "ok"}
for family, info in families.items():
    axes = plot_survival(info["points"])
    axes[0].figure.suptitle(f"{family}: realisation", fontsize=10)
    plt.show()

# %% [markdown]
# Read the left panels from left to right: as the model grows, the fixed cost of each step is
# shared by more FLOPs, which should let the realisation climb towards 1. The right panels are
# the batch question: a batched kernel is faster per input, for the baseline too, so the
# saving can shrink or grow. The measured trend, method by method:

# %%
by_size = {f: {p["method"]: [] for p in info["points"]} for f, info in families.items()}
for family, info in families.items():
    for p in (q for q in info["points"] if q["axis"] == "size"):
        by_size[family][p["method"]].append((p["x"], p["realisation"]))
rows_size = [[f, m, " -> ".join(f"{r:.2f}" for _, r in sorted(v))]
             for f, methods in by_size.items() for m, v in methods.items()]
show_table(rows_size, ["family", "method", "realisation, smallest to largest model"])
ends = [(min(v)[1], max(v)[1]) for methods in by_size.values() for v in methods.values()]
_ = say("{k} of {n} methods keep more of their FLOP saving at the largest size than at the "
        "smallest", k=sum(last > first for first, last in ends), n=len(ends))

# %% [markdown]
# ## 5. A latency model with two numbers
#
# Suppose a step (an RNN step, a layer) costs a fixed $a$ seconds whatever it computes, and
# every FLOP costs $b$: $t = a \cdot \text{steps} + b \cdot \text{FLOPs}$. Fit $a$ and $b$ on
# the **static baseline alone**, at a few sizes, then ask the model for the speed-ups of the
# dynamic methods, which it never saw. Here it is on this machine, for the skimming RNNs:

# %%
live = [add_ratios(p) for p in skimming_sweep.measure(quick=True, log=lambda *a: None)]
check = latency_check(live)
say("fitted on the LSTM alone: a = {a:.2f} µs per step, b = {b:.1f} ps per FLOP",
    a=1e6 * check["per_step_s"], b=1e12 * check["per_flop_s"])
show_table([[q["method"], q["x"], f"{q['flop_speedup']:.2f}x", f"{q['predicted']:.2f}x",
             f"{q['measured']:.2f}x"] for q in check["predictions"]],
           ["method", "hidden size", "FLOP speed-up", "predicted", "measured"])

# %% [markdown]
# And on the machine of `bench-results/`, every family with its own fit:

# %%
predictions = [{**q, "family": f} for f, info in families.items()
               for q in info["latency"]["predictions"]]
plot_predictions(predictions, label_key="family")
plt.show()
errors = np.abs([q["error"] for q in predictions])
_ = say("{w} of {n} predicted speed-ups are within 25% of the measured ones; the largest miss "
        "is {m:.0%}", w=int((errors <= 0.25).sum()), n=len(errors), m=errors.max())

# %% [markdown]
# Where the model misses, a method's steps cost something the baseline's do not: a kernel that
# runs fewer FLOPs per nanosecond (VCRNN's row loop against the LSTM's blocked product, lesson
# 04), or routing and regrouping that scale with neither steps nor FLOPs. Two numbers already
# say the main thing: a dynamic network pays off when the FLOPs it skips are large next to the
# fixed cost of the steps it keeps.

# %% [markdown]
# ## 6. What these numbers cannot tell
#
# - **One machine.** Every time here was measured on one CPU, with its cache, its vector width
#   and whatever else it was running; the FLOPs and accuracies do not depend on it, the times
#   do. Run `tinydyn bench all` on yours.
# - **Noise.** Times are medians of warm blocks that alternate between candidates, and trained
#   results are means over three seeds with their spread; a single seed proves nothing.
# - **What was tuned.** Each method's knob was swept, not tuned per seed; the baselines got the
#   same training budget. A different budget moves both.
# - **Small models.** Our models are small, which makes fixed costs loom large; section 4 shows
#   how realisation moves with size, and where your models sit on those curves.
#
# In exercise 12 you will write the four measurements this lesson rests on: the Pareto front,
# the ELUE-style score against a piecewise-linear reference, the realisation ratio from
# timing samples, and the two-number latency model fitted in relative error.
