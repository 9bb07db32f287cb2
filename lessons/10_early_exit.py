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
# # Lesson 10 — Early exit
#
# A deep classifier spends all of its layers on every input, yet most inputs are easy. An
# **early-exit network** puts a small classifier (an *exit*, or internal classifier) after
# every layer and stops as soon as one is confident enough. DeeBERT (Xin et al., ACL 2020)
# stops when the exit's entropy is low and reports up to about 40% less inference time with
# little quality loss; the Right Tool (Schwartz et al., ACL 2020) uses a calibrated top
# probability; PABEE (Zhou et al., NeurIPS 2020) stops when several exits in a row agree;
# BERxiT (Xin et al., EACL 2021) learns when to stop; FastBERT (Liu et al., ACL 2020) distils
# the exits from the last layer. Their released code runs at batch size 1 only.

# %% [markdown]
# What you will see:
#
# 1. exits after every layer, and how confidence grows with depth;
# 2. the entropy rule by hand, made stable, checked against `tinydyn`;
# 3. the loss of all exits and one optimiser step, then training;
# 4. the exit policies side by side, and the properties that pin them down;
# 5. where easy and hard inputs exit;
# 6. the batch problem: wait-for-all against compaction and refill, in FLOPs and in time;
# 7. an ELUE-style score against the same backbone truncated.

# %%
import inspect

import matplotlib.pyplot as plt
import numpy as np

import tinydyn as td
from tinydyn.course.figures.early_exit import (
    plot_batch_occupancy,
    plot_exit_histograms,
    plot_layer_confidence,
    plot_policy_sweeps,
)
from tinydyn.course.notebook import claim, pin_threads, plot_curve, say, show_table, time_table
from tinydyn.data import load_task
from tinydyn.dynamic.early_exit import (
    EntropyPolicy,
    LearnedPolicy,
    MaxProbPolicy,
    MultiExitMLP,
    PatiencePolicy,
    cost,
    engines,
    exit_decisions,
    run_engine,
    stable_entropy,
    training,
)
from tinydyn.dynamic.early_exit.kernels import NEVER, mlp_exit_batch1
from tinydyn.measure.elue import elue_score, front_curve, plot_against_reference

pin_threads(1)  # this page times code: one BLAS thread makes timings repeatable
np.set_printoptions(precision=3, suppress=True)

# %% [markdown]
# ## 1. A network with an exit after every layer
#
# The backbone is a residual MLP on scikit-learn's 8x8 handwritten digits: a stem, then
# $L = 8$ blocks $h_i = h_{i-1} + W_2\,\mathrm{relu}(W_1 h_{i-1})$ of width 64. Exit $i$ is a
# linear classifier $z_i = c_i(h_i)$. The forward pass returns all $L$ exits' logits.

# %%
digits = load_task("digits", seed=0)
x_train, y_train = digits.train.fields
x_test, y_test = digits.test.fields
model = MultiExitMLP(64, 10, width=64, depth=8, rng=np.random.default_rng(0))
logits = model(x_test[:4])
say("{n} exits, each (4, 10): one prediction per layer for each of the 4 images",
    n=len(logits))

# %% [markdown]
# ## 2. The entropy rule by hand
#
# DeeBERT stops at the first layer with $H(p_i) = -\sum_c p_{i,c}\log p_{i,c} < S$. Its code
# computes $H$ as $\log\sum_c e^{z_c} - \sum_c z_c e^{z_c}/\sum_c e^{z_c}$, which overflows
# as soon as a logit passes about 710 in float64. Subtracting the row maximum first changes
# nothing mathematically and keeps every exponent $\le 0$.

# %%
z = np.array([[2.0, 0.5, -1.0], [1000.0, 0.0, -1000.0], [1000.0, 1000.0, 0.0]])
shifted = z - z.max(axis=1, keepdims=True)
log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
by_hand = -(np.exp(log_p) * log_p).sum(axis=1)
with np.errstate(over="ignore", invalid="ignore"):
    naive = np.log(np.exp(z).sum(1)) - (z * np.exp(z)).sum(1) / np.exp(z).sum(1)
show_table([[str(row), f"{h:.4f}", f"{n:.4f}"] for row, h, n in zip(z, by_hand, naive)],
           ["logits", "stable H", "DeeBERT's formula"])
assert np.allclose(by_hand, stable_entropy(z))

# %% [markdown]
# The stable entropy is 0 for a confident row and $\log 2$ for a two-way tie, whatever the
# logits' size; the unshifted formula returns `nan` on the large rows. `tinydyn`'s
# `stable_entropy` gives the same numbers as the hand computation.

# %% [markdown]
# ## 3. Training all the exits at once
#
# PABEE trains every exit jointly, weighting deeper exits more: $\mathcal{L} = \sum_j j\,
# \mathrm{CE}_j / \sum_j j$. Here is the library's loss, then one Adam step written out.

# %%
print(inspect.getsource(training.weighted_exit_loss))

# %%
opt = td.optim.Adam(model.parameters(), lr=3e-3)
idx = np.random.default_rng(1).integers(0, len(y_train), size=64)
loss = training.weighted_exit_loss(model(x_train[idx]), y_train[idx])
opt.zero_grad()
loss.backward()
opt.step()
say("one step: the weighted loss of the 8 exits is {v:.3f} (about log 10 = 2.303 at the "
    "start)", v=float(loss.data))

# %%
curve = []
out = training.train_multi_exit(model, digits, "joint", steps=500, rng=np.random.default_rng(2),
                                callback=lambda step, value: curve.append(value))
plot_curve(curve, ylabel="weighted loss of all exits")
plt.show()
z_test, h_test = training.all_exit_outputs(model, x_test)
z_val, h_val = training.all_exit_outputs(model, digits.val.fields[0])
full_acc = float((z_test[-1].argmax(1) == y_test).mean())
say("test accuracy of the last exit (the full model): {a:.1%}", a=full_acc)

# %% [markdown]
# ## 4. Confidence grows with depth

# %%
plot_layer_confidence(z_test, y_test)
plt.show()
top = np.exp(z_test - z_test.max(2, keepdims=True))
top = (top.max(2) / top.sum(2)).mean(1)
acc_1 = float((z_test[0].argmax(1) == y_test).mean())
say("mean top probability: {a:.3f} at exit 1, {b:.3f} at exit 8; accuracy: {c:.1%} at "
    "exit 1, {d:.1%} at exit 8", a=top[0], b=top[-1], c=acc_1, d=full_acc)
claim(bool(acc_1 > full_acc - 0.03 and top[-1] > top[0]),
      "On these small digits the first exit is within 3 points of the last one; what the "
      "later layers add is mostly confidence, which is what an exit rule reads.")

# %% [markdown]
# ## 5. The policies side by side
#
# Each policy has one knob. Entropy (DeeBERT): stop when $H(p_i) < S$, larger $S$ stops
# earlier. Max-probability (Right Tool): stop when $\max_c p_{i,c} > \tau$, larger $\tau$
# stops later. Patience (PABEE): stop when $t$ consecutive exits repeat the previous
# prediction, so never before layer $t + 1$. With all $L$ exits' outputs computed once, a
# sweep over a knob costs nothing: `exit_decisions` replays the rule layer by layer.

# %%
def sweep(make, knobs, z=z_test, h=h_test, y=y_test):
    rows = []
    for v in knobs:
        exits, preds = exit_decisions(z, make(v), h)
        rows.append((exits.mean(), float((preds == y).mean()), v))
    return rows


sweeps = {
    "entropy S": sweep(EntropyPolicy, np.linspace(0.0, 2.2, 12)),
    "max-prob threshold": sweep(MaxProbPolicy, [0.3, 0.5, 0.7, 0.9, 0.95, 0.99, 0.999, 1.0]),
    "patience t": sweep(PatiencePolicy, range(1, 9)),
}
plot_policy_sweeps({k: ([r[0] for r in v], [r[1] for r in v]) for k, v in sweeps.items()},
                   full_acc, 8)
plt.show()

# %% [markdown]
# Each curve runs from "stop at once" to "never stop early" (the full model, at 8 layers).
# Patience cannot go below two layers. The properties below pin the rules down: they hold for
# any trained model, so they are checked on this one.

# %%
never = [EntropyPolicy(0.0), MaxProbPolicy(1.0), PatiencePolicy(8)]
for policy in never:  # a rule that never fires reproduces the full model
    exits, preds = exit_decisions(z_test, policy)
    assert (exits == 8).all() and (preds == z_test[-1].argmax(1)).all()
exits_s = [exit_decisions(z_test, EntropyPolicy(s))[0] for s in np.linspace(0, 2.2, 12)]
assert all((b <= a).all() for a, b in zip(exits_s, exits_s[1:]))  # monotone in the knob
say("S = 0, threshold = 1 and patience = 8 all reproduce the full model on the {n} test "
    "images, and every sample's exit layer only moves earlier as S grows.", n=len(y_test))

# %% [markdown]
# Two more recipes change the exits themselves. The Right Tool trains with the plain sum of
# the exits' losses and then fits one temperature per exit on held-out data, so that "0.9"
# means 90% right. BERxiT alternates between the last exit's loss and the others', and trains
# a shared unit $u_i = \sigma(w^\top h_i + b)$ to predict whether exit $i$ is wrong; it stops
# when $u_i$ is small.

# %%
calibrated = MultiExitMLP(64, 10, width=64, depth=8, rng=np.random.default_rng(0))
temps = training.train_multi_exit(calibrated, digits, "sum", steps=500,
                                  rng=np.random.default_rng(2))["temperatures"]
zc, hc = training.all_exit_outputs(calibrated, x_test)
learned = MultiExitMLP(64, 10, width=64, depth=8, rng=np.random.default_rng(0))
training.train_multi_exit(learned, digits, "alternate", steps=500, rng=np.random.default_rng(2))
zl, hl = training.all_exit_outputs(learned, x_test)
print("fitted temperatures per exit:", temps)
sweeps["calibrated max-prob"] = sweep(lambda v: MaxProbPolicy(v, temps),
                                      [0.5, 0.7, 0.9, 0.95, 0.99, 0.999, 1.0], zc, hc)
sweeps["learned exit"] = sweep(lambda v: LearnedPolicy.from_model(learned, v),
                               [0.0, 0.01, 0.03, 0.1, 0.3, 0.5, 1.0], zl, hl)
show_table([[name, f"{v[0][2]:.3g} .. {v[-1][2]:.3g}", f"{min(r[0] for r in v):.2f}",
             f"{max(r[1] for r in v):.1%}"] for name, v in sweeps.items()],
           ["policy", "knob range", "fewest mean layers", "best accuracy"])

# %% [markdown]
# Read the table with the plot above: "fewest mean layers" is the cheapest point of each
# sweep, "best accuracy" its best point, and the two need not come from the same knob value.
# Calibration changes which threshold means what, not the order of the samples' confidences.

# %% [markdown]
# ## 6. Where easy and hard inputs exit
#
# The `easy_hard` task draws each sample's noise level from a wide range: a low-noise sample
# is settled by the first layer, a high-noise one by none. The same network and the entropy
# rule send them to different depths.

# %%
eh = load_task("easy_hard", seed=0)
eh_model = MultiExitMLP(64, 2, width=64, depth=8, rng=np.random.default_rng(0))
training.train_multi_exit(eh_model, eh, "joint", steps=400, rng=np.random.default_rng(2))
ze, he = training.all_exit_outputs(eh_model, eh.test.fields[0])
exits_eh, preds_eh = exit_decisions(ze, EntropyPolicy(0.05))
hard = eh.test.meta["hard"]
plot_exit_histograms({"easy (low noise)": exits_eh[~hard], "hard (high noise)": exits_eh[hard]},
                     8)
plt.show()
claim(bool(exits_eh[hard].mean() > exits_eh[~hard].mean() + 0.5),
      "Easy samples exit after {e:.2f} layers on average, hard ones after {h:.2f}.",
      e=exits_eh[~hard].mean(), h=exits_eh[hard].mean())

# %% [markdown]
# ## 7. The batch problem
#
# Run a batch of 32 through this model. Each sample wants to stop at its own layer, but a
# batch is one matrix. Waiting for the slowest sample (*wait-for-all*) keeps the decisions
# and loses the savings; *compaction* gathers the rows still running into a smaller batch
# after every layer (their hidden states, masks and counters with them); *refill* keeps 32
# slots and puts a new input into a slot as soon as its sample exits. Here is the compaction
# loop the engines share:

# %%
print(inspect.getsource(engines._compaction_chunk))

# %%
plot_batch_occupancy(exits_eh, 32, 8)
plt.show()
results = {name: run_engine(name, eh_model, EntropyPolicy(0.05), eh.test.fields[0], 32)
           for name in ("batch 1", "wait-for-all", "compaction", "refill")}
for r in results.values():  # the same decisions, different work
    assert (r.exit_layers == exits_eh).all() and (r.predictions == preds_eh).all()
show_table([[name, r.layer_evals, f"{r.layer_evals / (8 * len(exits_eh)):.0%}"]
            for name, r in results.items()], ["engine", "row-layers run", "of the full model"])

# %% [markdown]
# All four engines return the same exit layers and predictions as batch size 1. Compaction
# and refill run exactly $\sum_n \ell_n$ row-layers; wait-for-all runs every row of a batch
# to the batch's deepest exit, and with a few hard samples in every batch of 32 that is
# close to all 8 layers. Now in time, against the static model run the same way:

# %%
runner = eh_model.runner()
xs = eh.test.fields[0][:256]
policy = EntropyPolicy(0.05)


def static(batch):
    def run():
        for a in range(0, len(xs), batch):
            st = runner.embed(xs[a:a + batch])
            for i in range(8):
                st = runner.layer(i, st)
            runner.head(7, st)
    return run


times = time_table({"static, B = 32": static(32),
                    **{f"{e}, B = 32": (lambda e=e: run_engine(e, runner, policy, xs, 32))
                       for e in ("wait-for-all", "compaction", "refill")}}, repeats=5, block=2)

# %%
flat = xs.reshape(len(xs), -1)
args = (runner.stem_w, runner.stem_b, runner.w1, runner.b1, runner.w2, runner.b2,
        runner.head_w, runner.head_b)
thr, tt, w, b = policy.params(8)
b1 = time_table({"static, batch 1": lambda: mlp_exit_batch1(flat, *args, NEVER, 0.0, tt, w, b),
                 "early exit, batch 1": lambda: mlp_exit_batch1(flat, *args, policy.code, thr,
                                                                tt, w, b)}, repeats=5, block=2)
sp = cost.speedups(eh_model, exits_eh[:256])
say("FLOP speed-up of the exits (heads included): {f:.2f}x; layer speed-up {l:.2f}x. "
    "Measured on this machine: batch 1 {m1:.2f}x, compaction at B = 32 {mc:.2f}x, "
    "wait-for-all {mw:.2f}x.", f=sp["flop"], l=sp["layer"],
    m1=b1["static, batch 1"].median / b1["early exit, batch 1"].median,
    mc=times["static, B = 32"].median / times["compaction, B = 32"].median,
    mw=times["static, B = 32"].median / times["wait-for-all, B = 32"].median)

# %% [markdown]
# Batch 1 runs the whole exit loop in one compiled function: an exit head and its test cost a
# few hundred FLOPs, and in plain NumPy the per-call overhead of each would cost more than the
# layer they let us skip. The layer speed-up ignores the heads; the FLOP speed-up counts them.

# %% [markdown]
# ## 8. Is it better than a smaller static model?
#
# A dynamic model should beat the static models of the same cost. The fair reference is the
# same backbone cut after $l$ layers (exit $l$ used for everyone). The ELUE-style score is the
# mean height of the dynamic points above that curve, in accuracy.

# %%
ref_flops = [cost.static_flops(model, l) for l in range(1, 9)]
ref_acc = [float((z_test[l - 1].argmax(1) == y_test).mean()) for l in range(1, 9)]
points = {}
for v in np.linspace(0.0, 2.2, 12):
    exits, preds = exit_decisions(z_test, EntropyPolicy(v))
    points[v] = (cost.exit_flops(model, exits).mean(), float((preds == y_test).mean()))
fc, fa = front_curve([p[0] for p in points.values()], [p[1] for p in points.values()])
plot_against_reference({"entropy rule (Pareto points)": (fc, fa)}, (ref_flops, ref_acc))
plt.show()
say("ELUE-style score of the entropy rule against the truncated backbone: {s:+.2f} points",
    s=100 * elue_score(fc, fa, ref_flops, ref_acc))

# %% [markdown]
# **Differs from the papers:** the backbones are an 8-block MLP (and, in the benchmark, a
# small Transformer) trained from scratch, not a pre-trained BERT; exits are single linear
# layers; the ELUE-style reference is our own truncated backbone, not ElasticBERT.
#
# `tinydyn bench early_exit` runs every recipe and policy over several seeds on three tasks.
#
# **Exercise 10** asks you to write the entropy and patience rules over a stack of per-layer
# logits, and one compaction step: which rows go on, with their hidden states, masks and
# counters.
