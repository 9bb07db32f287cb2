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
# # Lesson 04 — VCRNN: update only part of the state
#
# A recurrent network pays the same price for every token, the filler and the words that
# matter alike. The **Variable Computation RNN** (VCRNN; Jernite, Grave, Joulin and Mikolov,
# ICLR 2017) lets the network choose, at every step, *how much of its hidden state to
# recompute*. A small scheduler looks at the token and the state and outputs a ratio
# $m_t \in (0, 1)$; the cell then recomputes only the first $k_t \approx m_t d$ rows of the
# hidden state and copies the rest. Rows near the top are updated often (fast memory), rows near
# the bottom rarely (slow memory).
#
# What you will see:
#
# 1. the partial update itself, on an 8-unit state;
# 2. the scheduler, the soft mask that makes the choice trainable, and its sharpness;
# 3. the cost model: what a step with $k$ rows costs, against a plain RNN and an LSTM;
# 4. VCRNN trained at three target ratios, against a plain RNN and an LSTM of the same size,
#    on the sparse-signal task;
# 5. where it spends its computation, token by token;
# 6. measured speed: why a large FLOP cut does not give an equally large speed-up;
# 7. the Pareto plot of the three VCRNNs against the LSTM and the RNN, and the course's
#    targets, met or missed.
#
# Timings on this page come from whatever machine runs it, often a small shared one. As in
# lesson 02, we ask for one BLAS thread before NumPy is imported:

# %%
# ruff: noqa: E402  (the thread settings must come before the imports)
import os
import sys

if "numpy" in sys.modules:
    print("note: NumPy was imported before this cell; BLAS keeps its threads")
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import time

import matplotlib.pyplot as plt
import numpy as np

import tinydyn as td
from tinydyn.data import load_task
from tinydyn.dynamic.skimming import (
    VCRNN,
    LSTMClassifier,
    VCRNNClassifier,
    compare,
    lstm_predictor,
    rnn_step_flops,
    scheduler_flops,
    vcrnn_flops,
)
from tinydyn.dynamic.skimming.vcrnn_experiment import (
    evaluate,
    train_classifier,
    train_vcrnn,
    vcrnn_predictor,
)
from tinydyn.kernels.lstm import lstm_forward
from tinydyn.kernels.vcrnn import rows_from_ratio, soft_mask, vcrnn_hard_forward
from tinydyn.measure import format_seconds, lstm_cell_flops, plot_pareto, time_fns

np.set_printoptions(precision=3, suppress=True)
rng = np.random.default_rng(0)
lesson_start = time.perf_counter()

# %% [markdown]
# ## 1. The partial update
#
# VCRNN is built on the plain (Elman) RNN, whose step recomputes the whole state:
#
# $$h_t = \tanh(W_{hh} h_{t-1} + W_{ih} x_t + b).$$
#
# VCRNN recomputes only rows $0 \dots k_t - 1$ and copies the others:
#
# $$h_t[i] = \begin{cases} \tanh\big(W_{hh}[i]\, h_{t-1} + W_{ih}[i]\, x_t + b[i]\big) &
# i < k_t \\ h_{t-1}[i] & i \ge k_t. \end{cases}$$
#
# Every recomputed row still reads *all* of $h_{t-1}$: the rows that were not updated feed the
# ones that are.
#
# *A note against the course's spec* (`specs/skimming.md`, written from the paper as recalled).
# There the candidate is $\tanh\big(W (e_t \odot h_{t-1}) + U x_t + b\big)$: the mask also zeroes
# the *columns* of the recurrent product, so a step with $k$ rows reads only the first $k$ entries
# of $h_{t-1}$ and its recurrent product costs $2k^2$ FLOPs instead of $2kd$. `tinydyn`
# (`tinydyn/dynamic/skimming/vcrnn.py`, which this page runs) does not truncate the columns: the
# rows $i \ge k_t$ are the slow memory that is copied from step to step, and we let the fast rows
# read it at every step rather than only at the rare steps that update it. It costs more per row;
# the cost model of section 3 counts what the code does.
#
# Below, an 8-unit layer with a sharp mask (section 2) takes one step with its ratio pinned
# (`pin=` overrides the scheduler) at 0, at 3/8 and at 1. Only the leading rows move, and at
# $m = 1$ the step is exactly the plain RNN's.

# %%
d, dx = 8, 3
layer = VCRNN(dx, d, sharpness=50.0, eps=0.01, rng=np.random.default_rng(0), dtype=np.float64)
x1 = td.tensor(rng.normal(size=(1, 1, dx)))
h0 = td.tensor(rng.uniform(-1, 1, size=(1, d)))
plain = np.tanh(layer.weight_hh.data @ h0.data[0] + layer.weight_ih.data @ x1.data[0, 0]
                + layer.bias.data)
print("h_0          ", h0.data[0])
print("plain RNN h_1", plain)
for pin in (0.0, 3 / 8, 1.0):
    h1, _ = layer(x1, h0=h0, pin=pin)
    changed = np.flatnonzero(h1.data[0] != h0.data[0])
    print(f"m = {pin:<5.3f}  h_1 {h1.data[0]}   rows changed: {changed.tolist()}, equal to the "
          f"plain step there: {np.allclose(h1.data[0, changed], plain[changed])}")

# %% [markdown]
# ## 2. The scheduler and the soft mask
#
# The ratio comes from a scheduler, one logistic unit on the token and the state:
#
# $$m_t = \sigma(u \cdot h_{t-1} + v \cdot x_t + b_s).$$
#
# "Update the first $\lceil m_t d \rceil$ rows" is a step function of $m_t$: its gradient is zero
# almost everywhere, so the scheduler could never learn from it. VCRNN trains with a **soft
# mask** instead, a sigmoid ramp over the row index $j = 0 \dots d-1$ centred at $m_t d$:
#
# $$e_t^j = \mathrm{thres}_\varepsilon\Big(\sigma\big(\lambda\,(m_t d - (j + \tfrac12))\big)\Big),
# \qquad h_t = e_t \odot \tilde h_t + (1 - e_t) \odot h_{t-1},$$
#
# where $\tilde h_t$ is the full candidate and $\mathrm{thres}_\varepsilon$ sets values below
# $\varepsilon$ to 0 and above $1-\varepsilon$ to 1. The **sharpness** $\lambda$ sets the width
# of the ramp: small $\lambda$ gives a gentle slope that passes gradient to $m_t$ from many rows,
# large $\lambda$ a cliff that is almost the hard decision. Training raises $\lambda$ over time
# (here geometrically from 1 to 10), so the model learns with a soft mask and ends up with one
# that a hard path can reproduce.
#
# *A second difference from the spec*, which writes the ramp over $i = 1 \dots d$ as
# $\sigma(\lambda(m_t d - i))$ and the hard decision as $k = \lceil m_t d \rceil$. Those two do
# not agree with each other: a sharp ramp centred on the integers keeps the rows with
# $i < m_t d$, which is $\lceil m_t d \rceil - 1$ rows when $m_t d$ is not an integer, and at
# $m_t = 1$ its last row stays at $\sigma(0) = \frac12$ however large $\lambda$ is. `tinydyn`
# centres the ramp on the half-integers, $j + \frac12 = \frac12 \dots d - \frac12$ (a shift
# of the spec's centres by $-\frac12$), and rounds to match: a sharp mask keeps the rows with
# $j + \frac12 < m_t d$, which is $k_t = \mathrm{clip}(\lceil m_t d - \frac12 \rceil, 0, d)$
# rows ($m_t d$ rounded to the nearest integer, ties down), the count the hard path uses. The
# mask sums to about $m d$, and $m = 0$ updates nothing and $m = 1$ everything, but the soft
# mask does so only once it is sharp enough: at $m = 0$ the first row's mask is
# $\sigma(-\lambda/2)$ (at $m = 1$ the last row's is $\sigma(\lambda/2)$), cut to exactly 0
# (1) only when it is within $\varepsilon$ of it, i.e. for
# $\lambda > 2\ln\frac{1-\varepsilon}{\varepsilon}$ ($\approx 9.19$ for $\varepsilon = 0.01$).
# At the start of training ($\lambda = 1$) a ratio of 0 still updates the first rows a little;
# by the end ($\lambda = 10$) it updates none, like the hard path, for which $m = 0$ always means
# $k = 0$:

# %%
d, m = 32, 0.4
fig, axes = plt.subplots(1, 2, figsize=(10, 3.3))
for lam in (0.5, 2.0, 8.0, 50.0):
    e = soft_mask(np.array([m]), d, lam, 0.0)[0]
    axes[0].plot(e, ".-", label=f"λ = {lam:g}: Σe = {e.sum():.2f}")
    print(f"sharpness {lam:>4g}: mask sum {e.sum():6.3f}   (m d = {m * d:.1f}); fractional "
          f"entries (0.01 < e < 0.99): {int(((e > 0.01) & (e < 0.99)).sum())}")
k = int(rows_from_ratio(np.array(m), d))
print(f"hard decision k = clip(ceil(m d - 1/2), 0, d) = {k} rows")
eps = 0.01
print(f"m = 0 updates no row and m = 1 every row once lambda > 2 ln((1 - eps)/eps) = "
      f"{2 * np.log((1 - eps) / eps):.2f} (eps = {eps}):")
for lam in (1.0, 5.0, 10.0):
    e0 = soft_mask(np.array([0.0]), d, lam, eps)[0]
    e1 = soft_mask(np.array([1.0]), d, lam, eps)[0]
    print(f"  lambda {lam:>4g}: m = 0 -> first rows {e0[:3].round(3)}, mask sum {e0.sum():.3f};"
          f"  m = 1 -> last rows {e1[-3:].round(3)}, mask sum {e1.sum():.3f}")
axes[0].axvline(m * d - 0.5, color="gray", ls=":")
axes[0].set(xlabel="row j", ylabel="mask $e^j$", title=f"soft mask, m = {m}, d = {d}, ε = 0")
axes[0].legend(fontsize=8)
e_thr = soft_mask(np.array([m]), d, 2.0, 0.05)[0]
axes[1].bar(np.arange(d), e_thr, color=np.where((e_thr > 0) & (e_thr < 1), "tab:orange",
                                                 "tab:blue"))
axes[1].set(xlabel="row j", title="λ = 2, ε = 0.05: exact 0s and 1s outside the ramp")
plt.tight_layout()
plt.show()
print("thresholded mask, λ = 2, ε = 0.05:", e_thr.round(2))

# %% [markdown]
# The threshold matters for the cost: rows whose mask is exactly 0 need no candidate at all,
# even in training (our trainer still computes every row, as the paper's training does: it is
# inference that skips). A mask with no exact zeros saves nothing, however small its values.
#
# Training also needs a reason to *save*. The loss adds a penalty pulling the mean ratio
# towards a target $\bar m$: $\mathcal L = \mathcal L_{\text{task}} + \lambda_m \cdot
# \text{mean}_t |m_t - \bar m|$. Without it the scheduler happily updates everything.
#
# ## 3. The cost model
#
# We count a multiply-add as 2 FLOPs (as everywhere in `tinydyn.measure`). A hard step that
# recomputes $k$ rows costs
#
# * the candidate rows: $2k(d + d_x)$ for $W_{hh}[{:}k]\,h$ and $W_{ih}[{:}k]\,x$, plus $2k$ for
#   the bias and the tanh (the spec's column-truncated variant would pay $2k^2$, not $2kd$, for
#   the recurrent product);
# * the scheduler, paid at every step whatever it decides: $2(d + d_x) + 4$.
#
# An LSTM step computes four gates for each of its $d$ rows, so *one LSTM row costs about four
# RNN rows*. With the sizes trained below ($d = 64$, $d_x = 32$):

# %%
d, dx = 64, 32
lstm_step = lstm_cell_flops(dx, d)
print(f"{'rows k':>6} {'VCRNN step':>11} {'% of RNN step':>14} {'% of LSTM step':>15}")
for k in (0, 4, 8, 16, 32, 64):
    f = scheduler_flops(dx, d) + rnn_step_flops(dx, d, k)
    print(f"{k:>6} {f:>11,} {100 * f / rnn_step_flops(dx, d):>13.1f}% "
          f"{100 * f / lstm_step:>14.1f}%")
print(f"plain RNN step {rnn_step_flops(dx, d):,} FLOPs, LSTM step {lstm_step:,} FLOPs "
      f"({lstm_step / rnn_step_flops(dx, d):.2f}x)")

# the cost of whole sequences comes from the decisions: check it against the hand count
ks = rng.integers(0, d + 1, size=(2, 5))
mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool)
by_hand = [sum(scheduler_flops(dx, d) + rnn_step_flops(dx, d, int(k))
               for k, real in zip(ks[b], mask[b]) if real) for b in range(2)]
print("decisions k:", ks.tolist(), " padding mask:", mask.astype(int).tolist())
print("vcrnn_flops:", vcrnn_flops(ks, dx, d, mask).tolist(), " by hand:", by_hand)

# %% [markdown]
# Two consequences to keep in mind. A VCRNN step with $k = d$ costs *more* than a plain RNN
# step (the scheduler), so the saving depends entirely on $k$ staying small. And against an
# LSTM the FLOP saving is large from the start: even a VCRNN updating every row costs a quarter
# of an LSTM step.
#
# ## 4. Training against a plain RNN and an LSTM
#
# The task is `sparse_signal`: sequences of filler tokens with one to three signal tokens,
# whose majority class is the label. A model that skims should spend on the signal and coast on
# the filler. To keep this page under a minute we use a smaller version than the benchmark's
# (1,000 training sequences of 50 to 100 tokens, 8 epochs); `tinydyn bench skimming` runs the
# full size. Every model has an embedding of 32, a hidden state of 64 and the same optimizer,
# data order and number of steps (a fixed number of epochs, not a time limit, so a run repeats
# on any machine).
#
# VCRNN's knob is the **target ratio** $\bar m$ of its penalty, and it is a training-time knob:
# we train one VCRNN for each of $\bar m$ = 0.05, 0.1 and 0.2, which section 7 puts on a Pareto
# plot. (Why not one model and an inference-time knob, such as adding a constant to the
# scheduler's logit? The rows a trained VCRNN leaves alone are the slow memory it learned to
# rely on; pushing $m_t$ away from what it was trained with changes what the state means, not
# only what it costs, and nothing makes such a knob trace a sensible front.) Sections 5 and 6
# look closely at the middle one, $\bar m = 0.1$.
#
# (The scheduler's bias starts at −2, a ratio of about 0.12: a choice of ours, not the
# paper's. Starting with few rows updated means most of the state is copied from step to step,
# which carries memory and gradient over long distances; started near a full RNN, the model
# trained much worse in our runs.)

# %%
task = load_task("sparse_signal", seed=0, n_train=1000, n_test=500, min_len=50, max_len=100)
config = dict(hidden_size=64, embed_dim=32, epochs=8)
targets = (0.05, 0.1, 0.2)
results, models, logs = {}, {}, {}
start = time.perf_counter()
for target in targets:
    name = f"VCRNN {target:g}"
    models[name], metrics = train_vcrnn(task, 0, target_ratio=target, penalty=0.2,
                                        time_limit=None, **config)
    logs[name] = metrics.pop("train")
    results[name] = metrics
baselines = {
    "RNN": VCRNNClassifier(task.vocab_size, task.num_classes, 32, 64, pin=1.0,
                           rng=np.random.default_rng(0)),
    "LSTM": LSTMClassifier(task.vocab_size, task.num_classes, 32, 64,
                           rng=np.random.default_rng(0)),
}
for name, model in baselines.items():
    logs[name] = train_classifier(model, task, epochs=config["epochs"], seed=0)
    models[name], results[name] = model, evaluate(model, task.test)
print(f"trained {len(models)} models in {time.perf_counter() - start:.1f} s")
print(f"  {'model':<10} {'test accuracy':>13} {'FLOPs per sequence':>19} {'rows updated':>13}")
for name, r in results.items():
    rows = f"{r['ratio']:.3f}" if "ratio" in r else "1 (all)"
    print(f"  {name:<10} {r['accuracy']:>13.3f} {r['flops']:>19,.0f} {rows:>13}")
print("(VCRNN x: target ratio x; 'rows updated' is the mean fraction of the state recomputed "
      "per step on the hard path)")
main = "VCRNN 0.1"  # the model sections 5 and 6 study

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))


def smooth(values, width=10):
    return np.convolve(values, np.ones(width) / width, mode="valid")


for name, log in logs.items():
    axes[0].plot(smooth(log["loss"]), label=name, lw=1)
axes[0].set(xlabel="step", ylabel="training loss (smoothed)", title="loss")
axes[0].legend(fontsize=8)
for target, color in zip(targets, ("tab:blue", "tab:orange", "tab:green")):
    axes[1].plot(logs[f"VCRNN {target:g}"]["ratio"], color=color, lw=1,
                 label=f"VCRNN {target:g}")
    axes[1].axhline(target, color=color, ls=":")
axes[1].set(xlabel="step", ylabel="mean $m_t$ in the batch",
            title="VCRNN computation ratio (dotted: targets)")
axes[1].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 5. Where does it spend?
#
# `infer` runs the hard path and returns its decisions: $k_t$ for every token. Each strip below
# is one test sequence, coloured by the fraction of the state updated at each step; the signal
# tokens are circled.

# %%
n_show = 5
tokens_show = [np.asarray(task.test[i][0]) for i in range(n_show)]
signal_positions = task.test.meta["signal_positions"]
width = max(len(t) for t in tokens_show)
padded_show = np.stack([np.pad(t, (0, width - len(t))) for t in tokens_show])
out = models[main].infer(padded_show, np.array([len(t) for t in tokens_show]))
strip = np.where(np.arange(width)[None] < np.array([len(t) for t in tokens_show])[:, None],
                 out["ks"] / 64, np.nan)
fig, ax = plt.subplots(figsize=(10, 2.6))
image = ax.imshow(strip, aspect="auto", cmap="viridis", vmin=0, vmax=max(0.3, np.nanmax(strip)),
                  interpolation="nearest")
for row in range(n_show):
    for p in signal_positions[row]:
        if p >= 0:
            ax.plot(p, row, "o", mfc="none", mec="red", ms=9, mew=1.5)
ax.set(xlabel="token position", ylabel="test sequence", title="rows updated / d, per token "
       "(red circles: signal tokens)")
fig.colorbar(image, ax=ax, fraction=0.03)
plt.show()

# the same question over the whole test set
tokens_all, lengths_all = [], []
for i in range(len(task.test)):
    tokens_all.append(np.asarray(task.test[i][0]))
lengths_all = np.array([len(t) for t in tokens_all])
padded_all = np.stack([np.pad(t, (0, lengths_all.max() - len(t))) for t in tokens_all])
out_all = models[main].infer(padded_all, lengths_all)
is_signal = np.zeros(padded_all.shape, bool)
for row, positions in enumerate(signal_positions):
    is_signal[row, positions[positions >= 0]] = True
real = np.arange(padded_all.shape[1])[None] < lengths_all[:, None]
after = np.zeros_like(is_signal)  # the token right after a signal (shift, no wrap-around)
after[:, 1:] = is_signal[:, :-1]
after &= real & ~is_signal
print(f"mean rows updated at signal tokens:        {out_all['ks'][is_signal].mean():5.2f} of 64")
print(f"mean rows updated on the token after one:  {out_all['ks'][after].mean():5.2f} of 64")
print(f"mean rows updated at other filler tokens:  "
      f"{out_all['ks'][real & ~is_signal & ~after].mean():5.2f} of 64")

# %% [markdown]
# ## 6. Measured speed
#
# The cost model promises a lot. The hard path (`tinydyn.kernels.vcrnn`) is a compiled loop
# that computes only $k_t$ rows at each step, so we can check. Each model's batch-1 inference
# path is timed on the same 50 test sequences (the LSTM on tinydyn's own fused LSTM kernel, the
# plain RNN on a loop written exactly like VCRNN's with $k = d$ and no scheduler). The five
# models are timed *interleaved* (`tinydyn.measure.time_fns`: one sample of each in turn, 15
# rounds; the median is kept and ± is the interquartile spread), so a change in the machine's
# load hits them all alike. The **realisation ratio** is the measured speed-up divided by the
# FLOP speed-up: 1 means the runtime delivers every FLOP saved.

# %%
sequences = tokens_all[:50]
lengths = lengths_all[:50]
padded_timed = padded_all[:50, :lengths.max()]
predictors = {name: vcrnn_predictor(models[name]) for name in results if "VCRNN" in name}
predictors["RNN"] = vcrnn_predictor(models["RNN"], full=True)
predictors["LSTM"] = lstm_predictor(models["LSTM"])


def batch1(predict):
    def run():
        for seq in sequences:
            predict(seq)
    return run


timings = time_fns({name: batch1(p) for name, p in predictors.items()}, repeats=15, warmup=1)
timed_flops = {name: int(models[name].infer(padded_timed, lengths)["flops"].sum())
               for name in predictors if name != "LSTM"}
timed_flops["LSTM"] = int(models["LSTM"].flops(lengths).sum())
print(f"{'model':<10} {'batch-1 time per sequence':>26} {'FLOPs (50 seq)':>15}")
for name, timing in timings.items():
    results[name]["time_b1"] = timing.median / len(sequences)
    spread = f"±{100 * timing.spread:.0f}%"
    print(f"{name:<10} {format_seconds(results[name]['time_b1']):>20} {spread:>5} "
          f"{timed_flops[name]:>15,}")
versus = {}
for base in ("RNN", "LSTM"):
    versus[base] = compare(results[main], results[base], timed_flops[main], timed_flops[base])
    v = versus[base]
    print(f"{main} vs {base:<4}: FLOP speed-up {v['flop_speedup']:5.2f}x, measured speed-up "
          f"{v['speedup']:5.2f}x, realisation {v['realisation']:.2f}")

# %% [markdown]
# The measured speed-up is real, but far below the FLOP speed-up, and much further below it
# against the LSTM than against the RNN. Two reasons, both measurable.
#
# **Fixed work per step.** Whatever $k$ is, every step pays for the scheduler's two dot
# products, the loop, and reading the token's embedding. Below, the hard kernel runs one long
# sequence with its scheduler pinned (zero weights, a chosen bias) to a given $k$; the time per
# step is a straight line $a + b\,k$, and $a$, the price of deciding, is not small next to
# $b\,k$ at the few rows the trained model updates on average (the share is printed below).
#
# **A cheaper cell per row, but not a faster one per FLOP.** An LSTM row is about four RNN rows
# of arithmetic, so against the LSTM a quarter of the FLOP saving comes from the cell alone.
# Time does not follow: the LSTM kernel computes its four gates with one fused, blocked matrix
# product that keeps the vector units busy, while the VCRNN kernel walks a variable number of
# rows with dot products, a loop that does fewer FLOPs per nanosecond. Below, the two steps at
# full width are compared: the LSTM step does about four times the FLOPs of a full VCRNN step,
# and the printed ratio of their times shows how far from four times the time that is.

# %%
T = 400
d, dx = 64, 32
weights = models[main].rnn
w_ih, w_hh, b = (weights.weight_ih.data, weights.weight_hh.data, weights.bias.data)
x_long = rng.normal(size=(1, T, dx)).astype(np.float32)
h_start = np.zeros((1, d), np.float32)
zeros_d, zeros_x = np.zeros(d, np.float32), np.zeros(dx, np.float32)
ks_grid = np.array([0, 4, 8, 16, 32, 48, 64])
step_fns = {}
for k in ks_grid:
    logit = -30.0 if k == 0 else 30.0 if k == d else np.log(k / (d - k))
    b_s = np.array([logit], np.float32)

    def run(b_s=b_s):
        return vcrnn_hard_forward(x_long, np.array([T]), h_start, w_ih, w_hh, b, zeros_d,
                                  zeros_x, b_s)

    assert (run()[2] == k).all()
    step_fns[int(k)] = run
lstm_cell = models["LSTM"].lstm
lstm_w = (lstm_cell.weight_ih.data, lstm_cell.weight_hh.data, lstm_cell.bias.data)
step_fns["LSTM"] = lambda: lstm_forward(x_long, h_start, h_start, *lstm_w)
step_times = time_fns(step_fns, repeats=15)  # interleaved, like the models above
per_step = np.array([step_times[int(k)].median / T for k in ks_grid])
lstm_step_time = step_times["LSTM"].median / T
slope, intercept = np.polyfit(ks_grid, per_step, 1)
print(f"hard VCRNN step: {1e9 * intercept:.0f} ns fixed + {1e9 * slope:.1f} ns per row "
      f"(k = 64: {1e9 * per_step[-1]:.0f} ns)")
print(f"LSTM step (fused kernel): {1e9 * lstm_step_time:.0f} ns = "
      f"{lstm_step_time / per_step[-1]:.2f}x a full-width VCRNN step, for "
      f"{lstm_cell_flops(dx, d) / (scheduler_flops(dx, d) + rnn_step_flops(dx, d)):.2f}x "
      f"its FLOPs")
print(f"FLOPs per nanosecond: LSTM kernel {lstm_cell_flops(dx, d) / (1e9 * lstm_step_time):.1f}, "
      f"VCRNN kernel per extra row {rnn_step_flops(dx, d, 1) / (1e9 * slope):.1f}")
k_mean = results[main]["ratio"] * d
fixed_share = intercept / (intercept + slope * k_mean)
step_flops_mean = scheduler_flops(dx, d) + rnn_step_flops(dx, d, 1) * k_mean
print(f"at the trained mean of {k_mean:.1f} rows, the fixed part is {100 * fixed_share:.0f}% of "
      f"a step's time, while the scheduler is "
      f"{100 * scheduler_flops(dx, d) / step_flops_mean:.0f}% of the step's FLOPs")
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(ks_grid, 1e9 * per_step, "o-", label="hard VCRNN step (measured)")
ax.plot(ks_grid, 1e9 * (intercept + slope * ks_grid), ":", color="tab:blue", label="fit a + b k")
flop_share = np.array([scheduler_flops(dx, d) + rnn_step_flops(dx, d, int(k)) for k in ks_grid])
ax.plot(ks_grid, 1e9 * lstm_step_time * flop_share / lstm_cell_flops(dx, d), "--",
        color="tab:green", label="LSTM time × FLOP fraction (ideal)")
ax.axhline(1e9 * lstm_step_time, color="black", lw=1, label="LSTM step (measured)")
ax.set(xlabel="rows recomputed k (of 64)", ylabel="ns per step", title="time of one step")
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# The gap between the green dashed line (time proportional to FLOPs) and the blue one is the
# realisation ratio's story: at small $k$ a VCRNN step costs a few per cent of an LSTM step in
# FLOPs, but a much larger share of its time — the fixed part $a$ at every $k$, and a slope $b$
# steeper than the LSTM's time per FLOP. Against the plain RNN, run by a loop written exactly
# like VCRNN's, only the fixed part is left, and the realisation ratio is correspondingly
# higher (the first table of this section).
#
# ## 7. The speed/accuracy picture
#
# The three VCRNNs of section 4 (target ratios 0.05, 0.1, 0.2) against the full LSTM and the
# plain RNN, on both axes the course uses: FLOPs per test sequence and the measured batch-1 time
# of section 6. The line joins the VCRNN points that no other VCRNN beats on both cost and
# accuracy (its Pareto front); the faint dots are the ones it leaves out.

# %%
vc_names = [f"VCRNN {t:g}" for t in targets]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for ax, key, scale, label in ((axes[0], "flops", 1.0, "FLOPs per sequence"),
                              (axes[1], "time_b1", 1e3, "batch-1 ms per sequence")):
    plot_pareto({"VCRNN (target ratio swept)": ([scale * results[n][key] for n in vc_names],
                                                [results[n]["accuracy"] for n in vc_names]),
                 "plain RNN": ([scale * results["RNN"][key]], [results["RNN"]["accuracy"]]),
                 "full LSTM": ([scale * results["LSTM"][key]], [results["LSTM"]["accuracy"]])},
                xlabel=label + " (log)", ax=ax, title=f"accuracy vs {label.split(' per')[0]}")
    for target, n in zip(targets, vc_names):
        ax.annotate(f"target {target:g}", (scale * results[n][key], results[n]["accuracy"]),
                    fontsize=7, textcoords="offset points", xytext=(4, -10))
    ax.get_legend().remove()
fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=8)
plt.tight_layout(rect=(0, 0.07, 1, 1))
plt.show()

# %% [markdown]
# The targets on this task, against the full LSTM: at most 1 accuracy point below it
# while spending at most half its FLOPs (test-set means); a measured batch-1 speed-up of at least
# 1.6x; a realisation ratio of at least 0.7 (both on the 50 timed sequences). For every swept
# point:

# %%
def verdict(value, limit, higher_is_better, unit=""):
    ok = value >= limit if higher_is_better else value <= limit
    return f"{value:.2f}{unit} " + ("met" if ok else f"MISSED by {abs(value - limit):.2f}{unit}")


print(f"{'model':<10} {'accuracy gap, points (<= 1)':>30} {'FLOPs / LSTM (<= 0.5)':>24} "
      f"{'speed-up (>= 1.6x)':>22} {'realisation (>= 0.7)':>22}")
for n in vc_names:
    v = compare(results[n], results["LSTM"], timed_flops[n], timed_flops["LSTM"])
    gap = 100 * (results["LSTM"]["accuracy"] - results[n]["accuracy"])
    fraction = results[n]["flops"] / results["LSTM"]["flops"]
    print(f"{n:<10} {verdict(gap, 1.0, False):>30} {verdict(fraction, 0.5, False):>24} "
          f"{verdict(v['speedup'], 1.6, True, 'x'):>22} "
          f"{verdict(v['realisation'], 0.7, True):>22}")
print(f"\nthis page ran in {time.perf_counter() - lesson_start:.0f} s")

# %% [markdown]
# What to take away:
#
# * The knob is coarse. The penalty pulls the mean ratio *towards* its target while the task loss
#   pulls it wherever the task wants, and in 8 epochs it does not get there (section 4's table and
#   ratio plot): in this run the ratios reached lie closer together than the targets, so the three
#   models span a narrow range of FLOPs, all a few per cent of the LSTM's, far within the FLOP
#   target. Accuracy does not move smoothly with the target either: each point is a separately
#   trained model, and on this small task VCRNN's training is sensitive to its target and length
#   (the notes of `sweep_vcrnn`, the benchmark's VCRNN sweep, report the same at full size), so the
#   front is jagged, not the smooth curve of lesson 03's threshold, which moves *one* trained model.
#   Where a point meets the accuracy target (the verdict above), the reason is the task: the signal
#   is sparse, and a state that is mostly *copied* from step to step keeps it well. The LSTM trains
#   for the same number of steps; with more training it might close some of a gap in its disfavour.
# * The speed-up at batch 1 is real at every swept point; the verdict lines above compare it with
#   the course's 1.6x target. It moves with the machine's load (all the more on a shared machine:
#   see the spreads in section 6), so read it as this run's measurement, not a constant.
# * The realisation ratio is not, at any point: against the LSTM the runtime delivers a small
#   fraction of the FLOP saving (0.7 was the target). Part of the FLOP saving is the cheaper cell —
#   an RNN row is a quarter of an LSTM row in FLOPs, but the fused LSTM kernel runs its FLOPs faster
#   than the row-by-row VCRNN loop (section 6 prints by how much) — and each step keeps a fixed cost
#   (the scheduler, the loop, the embedding lookup) that no choice of $k$ removes. A FLOP count that
#   leaves out the decision-maker, or assumes time proportional to FLOPs, would have promised far
#   more. This is why the course measures both. (Closing the gap would take a VCRNN kernel as
#   efficient per FLOP as the LSTM's — blocking several rows' dot products with SIMD — and less work
#   outside the rows; the fixed part bounds what any kernel can do at small $k$.)
#
# `tinydyn bench skimming` runs the full-size version of this comparison, sweeping the target
# ratio, next to Skim-RNN and LSTM-Jump.
#
# ## Exercise 04
#
# Open `exercises/04_vcrnn/student.py` and write the pieces of sections 2 and 3 yourself:
#
# * `vcrnn_soft_mask(m, d, sharpness, eps)` — the thresholded sigmoid ramp;
# * `vcrnn_rows(m, d)` — the hard decision $k = \mathrm{clip}(\lceil m d - \frac12 \rceil, 0, d)$,
#   careful at $m = 0$, $m = 1$ and at ties;
# * `vcrnn_step_hard(x, h, w_ih, w_hh, bias, k)` — one step that computes only the first $k$
#   rows and copies the rest, whatever the weights of the skipped rows hold;
# * `vcrnn_step_flops(k, input_size, hidden_size)` — the cost of that step, scheduler included.
#
# Grade them from the repository root with `tinydyn grade 04`.
