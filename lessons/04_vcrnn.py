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
# A recurrent network pays the same price for every token, filler or not. The **Variable
# Computation RNN** (VCRNN; Jernite, Grave, Joulin and Mikolov, ICLR 2017) lets it choose, at
# every step, *how much of its state to recompute*: a small scheduler reads the token and the
# state and outputs a ratio $m_t \in (0, 1)$, and the cell recomputes only the first
# $k_t \approx m_t d$ rows of the state and copies the rest. Top rows change often (fast
# memory), bottom rows rarely (slow memory). On music and language modelling the paper reports
# models that "require fewer operations" and "lead to better performance overall".
#
# What you will see: (1) the partial update by hand; (2) the scheduler, the soft mask that
# makes it trainable, and the properties that pin the model down; (3) the cost model; (4) the
# loss and one optimiser step; (5) training on a small task against an LSTM; (6) the hard
# inference loop and where the rows go; (7) FLOPs against measured time.

# %%
import inspect

import matplotlib.pyplot as plt
import numpy as np

import tinydyn as td
from tinydyn.course.figures import vcrnn as figures
from tinydyn.course.notebook import claim, pin_threads, plot_curve, say, show_table, time_table
from tinydyn.data import load_task
from tinydyn.dynamic import skimming as sk
from tinydyn.dynamic.skimming.vcrnn_experiment import vcrnn_predictor
from tinydyn.kernels import vcrnn as kernel
from tinydyn.kernels.lstm import lstm_forward
from tinydyn.measure import linear_flops, lstm_cell_flops, time_fns
from tinydyn.nn import functional as F
from tinydyn.optim import Adam, clip_grad_norm_

pin_threads(1)  # timings below compare kernels on one core
np.set_printoptions(precision=3, suppress=True)
rng = np.random.default_rng(0)
SEED = 0  # the seed of the task and of every model trained on this page

# %% [markdown]
# ## 1. The partial update
#
# VCRNN is built on the plain (Elman) RNN, whose step recomputes the whole state,
# $h_t = \tanh(W_{hh} h_{t-1} + W_{ih} x_t + b)$. VCRNN recomputes only rows
# $0 \dots k_t - 1$ and copies the others:
#
# $$h_t[i] = \begin{cases} \tanh\big(W_{hh}[i]\, h_{t-1} + W_{ih}[i]\, x_t + b[i]\big) &
# i < k_t \\ h_{t-1}[i] & i \ge k_t. \end{cases}$$
#
# Every recomputed row still reads *all* of $h_{t-1}$: the rows that were not updated feed the
# ones that are. Below, the step is computed by hand with NumPy for $k = 3$ of 8 rows, then by a
# `tinydyn` VCRNN layer whose ratio is pinned (`pin=` overrides the scheduler) at $m = 3/8$,
# and at $m = 0$ and $m = 1$.

# %%
d, dx = 8, 3
layer = sk.VCRNN(dx, d, sharpness=50.0, eps=0.01, rng=np.random.default_rng(0), dtype=np.float64)
x1, h0 = rng.normal(size=(1, 1, dx)), rng.uniform(-1, 1, size=(1, d))
W_hh, W_ih, b = layer.weight_hh.data, layer.weight_ih.data, layer.bias.data
plain = np.tanh(W_hh @ h0[0] + W_ih @ x1[0, 0] + b)  # the plain RNN step, every row
by_hand = h0[0].copy()
by_hand[:3] = plain[:3]  # k = 3: recompute rows 0..2, copy the rest
print("h_0              ", h0[0])
print("by hand, k = 3   ", by_hand)
for pin in (3 / 8, 0.0, 1.0):
    h1, _ = layer(td.tensor(x1), h0=td.tensor(h0), pin=pin)
    print(f"tinydyn, m = {pin:.3f}", h1.data[0], " rows changed:",
          np.flatnonzero(h1.data[0] != h0[0]).tolist())
assert np.allclose(layer(td.tensor(x1), h0=td.tensor(h0), pin=3 / 8)[0].data[0], by_hand)
assert np.allclose(layer(td.tensor(x1), h0=td.tensor(h0), pin=1.0)[0].data[0], plain)

# %% [markdown]
# With $m = 3/8$ the layer agrees with the hand computation (the `assert`s check it): only the
# first three rows move. At $m = 0$ nothing moves, and at $m = 1$ the step is exactly the
# plain RNN's.
#
# ## 2. The scheduler and the soft mask
#
# The ratio comes from a scheduler, one logistic unit on the token and the state:
# $m_t = \sigma(u \cdot h_{t-1} + v \cdot x_t + b_s)$. The number of rows it asks for is a
# staircase in $m_t$ (here for $d = 8$; the properties below say why it rounds this way):

# %%
m_grid = np.linspace(0, 1, 17)
print("m     ", m_grid)
print("k(m)  ", kernel.rows_from_ratio(m_grid, 8))

# %% [markdown]
# A staircase is flat between its jumps: its gradient is zero almost everywhere, so the
# scheduler could never learn from it. VCRNN trains with a **soft mask** instead, a sigmoid
# ramp over the row index $j$ centred at $m_t d$, and blends the candidate $\tilde h_t$ (every
# row) with the old state:
#
# $$e_t^j = \mathrm{thres}_\varepsilon\Big(\sigma\big(\lambda\,(m_t d - (j + \tfrac12))\big)
# \Big), \qquad h_t = e_t \odot \tilde h_t + (1 - e_t) \odot h_{t-1}.$$
#
# $\mathrm{thres}_\varepsilon$ sets values below $\varepsilon$ to 0 and above $1-\varepsilon$
# to 1. The **sharpness** $\lambda$ sets the width of the ramp:

# %%
figures.plot_soft_mask(0.4, 32, sharpness=[0.5, 2.0, 8.0, 50.0])
plt.show()

# %% [markdown]
# The gentle curves sum to $m d = 12.8$ rows, the sharpest to 13, the hard decision
# $k = \lceil m d - \frac12 \rceil$ (the legend). A small $\lambda$ is a gentle slope
# that passes gradient to $m_t$ through many rows; a large $\lambda$ is a cliff, almost the
# hard decision $k_t$. Training raises $\lambda$ (here from 1 to 10), so the model learns with a
# soft mask and ends with one the hard path reproduces. The threshold matters for the cost: only
# rows whose mask is exactly 0 can be skipped.
#
# The whole trainable model is this loop over time, vectorised over the batch. It is shown
# whole because it *is* the model in training (the backward, in the same module, is its mirror
# image); `W_ih x_t + b` and `v . x_t + b_s` arrive precomputed for all steps as `xp` and `sp`:

# %%
print(inspect.getsource(kernel.vcrnn_soft_forward))

# %% [markdown]
# Note the two lines that make it VCRNN: the mask `e` from the ratio `m`, and the blend
# `h + e * (c - h)`, which leaves a row exactly as it was wherever its mask is exactly 0.
#
# Three properties pin the model down. (a) A pinned $m = 1$ is the plain RNN (section 1).
# (b) The two ends are exact: $m = 0$ updates no row and $m = 1$ all $d$ once the first row's
# $\sigma(-\lambda/2)$ is within $\varepsilon$ of 0, that is for
# $\lambda > 2\ln\frac{1-\varepsilon}{\varepsilon}$. (c) With a sharp mask, the soft path —
# scheduler included — computes exactly what the hard path computes with
# $k_t = \mathrm{clip}(\lceil m_t d - \frac12 \rceil, 0, d)$ rows. First (b), at the
# sharpness training starts with and the one it ends with:

# %%
eps = 0.01
for lam in (1.0, 10.0):
    e0, e1 = kernel.soft_mask(np.array([0.0, 1.0]), 64, lam, eps)
    print(f"λ = {lam:>4g}: m = 0 updates {e0.sum():.3f} rows' worth, m = 1 {e1.sum():.3f} of 64")
_ = say("the ends are exact for λ > 2 ln((1 - ε)/ε) = {v:.2f} (ε = {eps})",
        v=2 * np.log((1 - eps) / eps), eps=eps)

# %% [markdown]
# At $\lambda = 1$ a ratio of 0 still nudges the first rows, so early in training the soft
# model never quite freezes its state; by $\lambda = 10$ it does, like the hard path, for which
# $m = 0$ always means $k = 0$. Then (c), on a small layer with a very sharp mask:

# %%
sharp = sk.VCRNN(3, 8, sharpness=1e4, eps=eps, scheduler_bias=0.0, rng=np.random.default_rng(1),
              dtype=np.float64)
x = rng.normal(size=(4, 30, 3))
h_soft, ms_soft = sharp(td.tensor(x))
h_hard, ms_hard, ks = sharp.hard_forward(x, np.full(4, 30))
assert np.allclose(h_soft.data, h_hard)
assert np.array_equal(kernel.rows_from_ratio(ms_soft.data, 8), ks)
_ = say("soft (λ = 10⁴) and hard paths agree on 4 sequences of 30 steps: largest state "
        "difference {diff:.1e}, the same k_t at all {n} steps (k ranged over {lo}..{hi} of 8)",
        diff=np.abs(h_soft.data - h_hard).max(), n=ks.size, lo=ks.min(), hi=ks.max())

# %% [markdown]
# So the hard path is not an approximation of the trained model: once $\lambda$ is large, it
# is the same function, computed without the rows whose mask is 0.
#
# *Differs from the paper.* The paper centres its ramp on the row indices themselves; we
# centre it on $j + \frac12$, so that $m = 0$ and $m = 1$ are exact and a sharp mask keeps the
# rows the hard path computes. The scheduler's bias starts at $-2$ ($m \approx 0.12$): most of
# the state is copied from step to step, carrying memory and gradient over long distances.
#
# ## 3. The cost model
#
# A multiply-add counts 2 FLOPs. A hard step with $k$ rows costs $2k(d + d_x) + 2k$ for the
# rows (`rnn_step_flops`) and $2(d + d_x) + 4$ for the scheduler, paid at every step
# (`scheduler_flops`). An LSTM step computes four gates per row (`lstm_cell_flops`). With
# the sizes trained below, $d = 64$ and $d_x = 32$:

# %%
d, dx = 64, 32
rnn_step, lstm_step = sk.rnn_step_flops(dx, d), lstm_cell_flops(dx, d)
rows = []
for k in (0, 4, 8, 16, 32, 64):
    f = sk.scheduler_flops(dx, d) + sk.rnn_step_flops(dx, d, k)
    rows.append([k, f, f"{100 * f / rnn_step:.1f}%", f"{100 * f / lstm_step:.1f}%"])
show_table(rows, ["rows k", "VCRNN step FLOPs", "of an RNN step", "of an LSTM step"])
_ = say("plain RNN step {r:,} FLOPs, LSTM step {l:,}: one LSTM row costs {x:.2f} RNN rows",
        r=rnn_step, l=lstm_step, x=lstm_step / rnn_step)

# %% [markdown]
# A whole sequence costs the sum of its steps; padding costs nothing. `vcrnn_flops` counts it
# from the decisions $k_t$; checked by hand on two made-up sequences:

# %%
ks = rng.integers(0, d + 1, size=(2, 5))
mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool)  # the second sequence has 3 steps
by_hand = [sum(sk.scheduler_flops(dx, d) + sk.rnn_step_flops(dx, d, int(k))
               for k, real in zip(ks[i], mask[i]) if real) for i in range(2)]
assert sk.vcrnn_flops(ks, dx, d, mask).tolist() == by_hand
print("decisions k:", ks.tolist(), "-> FLOPs per sequence", by_hand, "(by hand = vcrnn_flops)")

# %% [markdown]
# In the table, a step with $k = d$ costs *more* than a plain RNN step (the scheduler): the saving
# rests on $k$ staying small. Against an LSTM, a VCRNN saves a factor of about four before it skips
# a row, because its cell is cheaper: that saving multiplies two factors, the cheaper cell
# and the skipped rows.
#
# ## 4. The loss and one optimiser step
#
# Without a reason to save, the scheduler happily updates every row. The loss adds a penalty
# that pulls the mean ratio towards a target $\bar m$,
#
# $$\mathcal L = \mathrm{CE}(\text{logits}, y) + \lambda_m \cdot
# \operatorname{mean}_{t\,\text{real}} |m_t - \bar m|,$$
#
# for `VCRNNClassifier` (embedding, VCRNN, linear head on the last real state). One step of
# Adam on one batch of section 5's task, written out:

# %%
task = load_task("sparse_signal", seed=SEED, n_train=1000, n_test=500, min_len=50, max_len=100)
model = sk.VCRNNClassifier(task.vocab_size, task.num_classes, embed_dim=32, hidden_size=64,
                        rng=np.random.default_rng(SEED))
opt = Adam(model.parameters(), lr=3e-3)
tokens, mask, lengths, labels = next(iter(sk.make_loader(task.train, 32, SEED, shuffle=True)))

logits, ms = model(tokens, mask)  # the soft path: a ratio m_t for every token
task_loss = F.cross_entropy(logits, labels)
penalty = sk.vcrnn_penalty(ms, mask, target=0.05)  # mean over real steps of |m_t - 0.05|
loss = task_loss + 0.2 * penalty
opt.zero_grad()
loss.backward()
clip_grad_norm_(model.parameters(), 1.0)  # as the library's trainer does
b_before = float(model.rnn.sched_b.data[0])
opt.step()
print(f"cross-entropy {float(task_loss.data):.4f} + 0.2 x penalty {float(penalty.data):.4f} "
      f"= loss {float(loss.data):.4f}")
print(f"scheduler bias b_s: gradient {float(model.rnn.sched_b.grad.data[0]):+.4f}, "
      f"{b_before:.4f} -> {float(model.rnn.sched_b.data[0]):.4f} after the step")

# %% [markdown]
# The ratio starts near $\sigma(-2) \approx 0.12$, above the target 0.05, so the penalty
# pushes the scheduler's bias down; the cross-entropy pulls on it too. `train_vcrnn` repeats
# this step over the shuffled batches of a fixed number of epochs, raising $\lambda$
# geometrically from 1 to 10 before each step.
#
# ## 5. Training on `sparse_signal`
#
# Sequences of 50 to 100 filler tokens hold one to three signal tokens; their majority class is
# the label. VCRNN's knob, the target $\bar m$, acts in training, so each value is a separately
# trained model: we train $\bar m = 0.05$ and $0.2$, 8 epochs each, against an LSTM with the
# same embedding (32), state (64), data order and steps, trained by the library's recipe for a
# strong baseline (`train_lstm_baseline`: chrono-initialised gates, warm-up, cosine decay).

# %%
targets = (0.05, 0.2)
models, results, logs = {}, {}, {}
for target in targets:
    name = f"VCRNN {target:g}"
    models[name], metrics = sk.train_vcrnn(task, SEED, target_ratio=target, penalty=0.2, epochs=8,
                                        time_limit=None)
    logs[name] = metrics.pop("train")
    results[name] = metrics
models["LSTM"], results["LSTM"] = sk.train_lstm_baseline(task, SEED, epochs=8, time_limit=None)
show_table([[name, r["accuracy"], f"{r['flops']:,.0f}", f"{r.get('ratio', 1.0):.3f}"]
            for name, r in results.items()],
           ["model (VCRNN x: target x)", "test accuracy", "FLOPs per sequence",
            "rows updated / d"])
main = "VCRNN 0.05"  # the model sections 6 and 7 study

# %% [markdown]
# Accuracies are on the 500 test sequences, VCRNN on its hard path ("rows updated" is the mean
# fraction of the state its hard path recomputed per step). What this run shows, and what the
# next cell checks:

# %%
for name in targets:
    r = results[f"VCRNN {name:g}"]
    claim(r["accuracy"] > 0.6, "VCRNN {t:g}: accuracy {a:.3f}, well above the 0.5 of a guess, "
          "updating {p:.1%} of its rows per step (target {t:g})", t=name, a=r["accuracy"],
          p=r["ratio"])
ratios = [results[f"VCRNN {t:g}"]["ratio"] for t in targets]
_ = claim(ratios[1] / ratios[0] < targets[1] / targets[0], "the targets differ by a factor "
          "{ft:.0f}, the ratios reached by a factor {fr:.1f}", ft=targets[1] / targets[0],
          fr=ratios[1] / ratios[0])

# %% [markdown]
# The penalty pulls the ratio *towards* its target while the task loss pulls it wherever the
# task wants rows, so the ratios reached lie closer together than the targets: the knob is
# coarse. The training curves show how they got there:

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
plot_curve({n: figures.moving_average(log["loss"], 10) for n, log in logs.items()}, ax=axes[0],
           ylabel="loss (mean of 10 steps)", title="training loss")
plot_curve({n: log["ratio"] for n, log in logs.items()}, ax=axes[1],
           ylabel="mean $m_t$ of the batch", title="VCRNN's ratio during training")
plt.show()
start, end = ({n: np.mean(log["ratio"][s]) for n, log in logs.items()}
              for s in (slice(0, 10), slice(-10, None)))
_ = claim(end["VCRNN 0.2"] > end["VCRNN 0.05"], "mean ratio over the first 10 steps -> the last "
          "10: " + ", ".join(f"{n} {start[n]:.3f} -> {end[n]:.3f}" for n in logs))

# %% [markdown]
# On the left, the loss (cross-entropy plus penalty) stays near $\ln 2 \approx 0.69$, a guess
# between two classes, for a stretch before it falls: with one to three signals among up to
# 100 tokens, the model first has to find which tokens matter. On the right, the two ratios
# start together and part: the model with the higher target ends higher (the `claim` checks
# it), but neither ends at its target.
#
# ## 6. The hard inference loop, and where the rows go
#
# At inference nothing is soft: the compiled loop below (`tinydyn.kernels.vcrnn`) counts $k$ at
# every step, computes only those candidate rows, and overwrites only them. It is shown whole
# because it *is* the method at inference:

# %%
print(inspect.getsource(kernel.vcrnn_hard_numba))

# %% [markdown]
# `model.infer` runs this loop and returns its decisions $k_t$ for every token. Each strip below
# is one test sequence, coloured by the fraction of the state updated at each token; the
# signal tokens are circled.

# %%
test_tokens, test_lengths = sk.pad_tokens([task.test[i][0] for i in range(len(task.test))])
out = models[main].infer(test_tokens, test_lengths)
figures.plot_rows_updated(out["ks"][:5], test_lengths[:5], 64, task.test.signal_positions[:5])
plt.show()

# %% [markdown]
# Compare the circled signal tokens with the filler around them. Over the whole test set:

# %%
lo, hi = task.info["signal_ids"]
real = np.arange(test_tokens.shape[1])[None] < test_lengths[:, None]
is_signal = (test_tokens >= lo) & (test_tokens < hi) & real
k_signal, k_filler = out["ks"][is_signal].mean(), out["ks"][real & ~is_signal].mean()
_ = claim(k_signal > 2 * k_filler, "mean rows updated, of 64: {s:.1f} at the {n:,} signal "
          "tokens, {f:.1f} at the {m:,} filler tokens", s=k_signal, n=is_signal.sum(),
          f=k_filler, m=(real & ~is_signal).sum())

# %% [markdown]
# The scheduler has learned to look at the token: a signal token gets more than twice the rows
# of a filler token (the `claim` checks it). No one told it which tokens matter; the penalty
# made rows expensive, and the task made the signal worth paying for. The slow rows, rarely
# touched, keep what was written into them while the filler streams past.
#
# ## 7. The trade-off
#
# Section 3 said the FLOP saving against an LSTM multiplies two factors. On the test set:

# %%
f_vc, f_lstm = results[main]["flops"], results["LSTM"]["flops"]
head = linear_flops(d, task.num_classes)  # every model applies its head once per sequence
f_rnn = float((test_lengths * sk.rnn_step_flops(dx, d)).mean()) + head
say("Against the LSTM, {m} spends {t:.0f}x fewer FLOPs per sequence: a factor {c:.2f} from its "
    "cheaper cell (a plain RNN of the same size against the LSTM) times a factor {r:.1f} "
    "from the rows it skips (itself against that plain RNN, scheduler included).",
    m=main, t=f_lstm / f_vc, c=f_lstm / f_rnn, r=f_rnn / f_vc)

# %% [markdown]
# Does time follow? Each model's batch-1 inference path is timed on the same 50 test
# sequences, one sequence per call: the LSTM on `tinydyn`'s fused LSTM kernel, VCRNN on the
# hard loop above, and a plain RNN on a loop written exactly like VCRNN's but with $k = d$
# and no scheduler, run on the weights of the VCRNN studied here (its time does not depend on
# the weights, so it needs no training). The times are one machine's, with warm blocks that
# alternate between candidates (`tinydyn.measure.time_fns`); spread is the interquartile range.

# %%
sequences = [np.asarray(task.test[i][0]) for i in range(50)]


def batch1(predict):
    return lambda: [predict(s) for s in sequences]


candidates = {"LSTM": batch1(sk.lstm_predictor(models["LSTM"])),
              "plain RNN": batch1(vcrnn_predictor(models[main], full=True)),
              **{n: batch1(vcrnn_predictor(models[n])) for n in results if n != "LSTM"}}
print("batch-1 time of the 50 sequences:")
timings = time_table(candidates, reference="LSTM", repeats=9, block=3, min_sample_s=0.02)

# %% [markdown]
# Split the same way as the FLOPs, the measured speed-up against the LSTM is a product of the
# cell's speed-up and the skipped rows' speed-up. The **realisation ratio** of each is its
# measured speed-up over its FLOP speed-up: 1 would mean time follows FLOPs.

# %%
padded, lens = sk.pad_tokens(sequences)
timed_flops = {"LSTM": models["LSTM"].flops(lens).sum(),
               "plain RNN": (lens * sk.rnn_step_flops(dx, d)).sum() + 50 * head,
               main: models[main].infer(padded, lens)["flops"].sum()}
t = {name: timings[name].median for name in timed_flops}
steps = [("cheaper cell", "LSTM", "plain RNN"), ("rows skipped", "plain RNN", main),
         ("both", "LSTM", main)]
rows = [[label, f"{timed_flops[a] / timed_flops[b]:.2f}x", f"{t[a] / t[b]:.2f}x",
         f"{(t[a] / t[b]) / (timed_flops[a] / timed_flops[b]):.2f}"] for label, a, b in steps]
show_table(rows, ["", "FLOP speed-up", "measured speed-up", "realisation"], align="lrrr")
claim(max(float(r[3]) for r in rows) < 1.0, "time falls short of FLOPs at every stage: each "
      "realisation ratio is below 1")

# %% [markdown]
# Both factors lose something. **The cell**: an LSTM step does about four times the FLOPs
# of a plain RNN step, but the fused LSTM kernel computes its four gates as one blocked
# matrix product that keeps the vector units busy, while the RNN loop walks its rows one dot
# product at a time. **The skipped rows**: whatever $k$ is, every step pays the scheduler's two
# dot products, the loop, and reading the token's embedding. Pinning the scheduler (zero
# weights, a chosen bias) to a fixed $k$ and timing one 1000-step sequence at several $k$
# measures that fixed part: the time per step is close to a line $a + b\,k$. (Each point is
# the lower quartile of 15 samples, which other load on the machine inflates least.)

# %%
T, k_grid = 1000, np.array([0, 4, 8, 16, 32, 48, 64])
w_cell = [p.data for p in models[main].rnn._weights()][:3]  # W_ih, W_hh, b
x_long, h_zero = rng.normal(size=(1, T, dx)).astype(np.float32), np.zeros((1, d), np.float32)
no_uv = np.zeros(d, np.float32), np.zeros(dx, np.float32)  # the scheduler's u = 0 and v = 0


def pinned(k):  # a bias of log(k / (d - k)) makes m = k/d at every step: exactly k rows
    b_s = np.array([-30.0 if k == 0 else 30.0 if k == d else np.log(k / (d - k))], np.float32)
    return lambda: kernel.vcrnn_hard_forward(x_long, np.array([T]), h_zero, *w_cell, *no_uv, b_s)


step_fns = {int(k): pinned(k) for k in k_grid}
assert all((fn()[2] == k).all() for k, fn in step_fns.items())
cell = models["LSTM"].lstm
step_fns["LSTM"] = lambda: lstm_forward(x_long, h_zero, h_zero, cell.weight_ih.data,
                                        cell.weight_hh.data, cell.bias.data)

# %%
timed = time_fns(step_fns, repeats=15, min_sample_s=0.02)  # samples of at least 20 ms
step_time = {k: timing.q25 / T for k, timing in timed.items()}
per_step = np.array([step_time[int(k)] for k in k_grid])
b_fit, a_fit = np.polyfit(k_grid, per_step, 1)
assert a_fit > 0 and b_fit > 0, "a noisy run: the fitted line needs a positive a and b"
flop_fraction = (sk.scheduler_flops(dx, d) + 2 * k_grid * (d + dx + 1)) / lstm_step
figures.plot_step_time(k_grid, per_step, (a_fit, b_fit), step_time["LSTM"], flop_fraction)
plt.show()

# %% [markdown]
# The dots follow a line, within the noise of the machine; its intercept $a$ is the price of
# deciding and moving on. The dashed line is what a VCRNN step would cost if it ran at the
# LSTM kernel's FLOPs per nanosecond; the gap between it and the dots is the time the FLOP
# count does not see. At the few rows the trained model updates on average, the fixed part's
# share of a step's time sits beside the scheduler's share of the step's FLOPs. How the two
# compare depends on the CPU (its cache, its vector width), so read them off this run:

# %%
k_avg = results[main]["ratio"] * d
sched = sk.scheduler_flops(dx, d)
fixed_time = a_fit / (a_fit + b_fit * k_avg)
sched_flops = sched / (sched + sk.rnn_step_flops(dx, d, 1) * k_avg)
claim(fixed_time > 0, "at the trained mean of {k:.1f} rows, the fixed part a is {fa:.0%} of a "
      "step's time on this machine; the scheduler is {fs:.0%} of the step's FLOPs",
      k=k_avg, fa=fixed_time, fs=sched_flops)
per_ns = {n: timed_flops[n] / (1e9 * t[n]) for n in ("LSTM", "plain RNN")}
_ = say("FLOPs per nanosecond on the 50 sequences: the LSTM kernel {l:.1f}, the plain RNN loop "
        "{r:.1f}", l=per_ns["LSTM"], r=per_ns["plain RNN"])

# %% [markdown]
# So two costs that a FLOP count leaves out, or scales wrongly, explain the gap: a fixed price
# per step that no choice of $k$ removes, and a row loop that runs fewer FLOPs per nanosecond
# than the LSTM's fused kernel (the "cheaper cell" realisation above is that ratio). A kernel
# that blocked several rows' dot products together could narrow the second; nothing narrows
# the first but less work outside the rows.
#
# The whole picture, accuracy against FLOPs and against measured time: each VCRNN is one
# trained model, the line joins the points no other VCRNN beats on both axes.

# %%
vc = [f"VCRNN {t:g}" for t in targets]
point = {n: (results[n]["flops"], timings[n].median / 50, results[n]["accuracy"])
         for n in [*vc, "LSTM"]}  # FLOPs and seconds per sequence, accuracy
figures.plot_tradeoff({"VCRNN (target swept)": list(zip(*(point[n] for n in vc))),
                       "LSTM": list(zip(point["LSTM"]))},
                      names={"VCRNN (target swept)": [f"target {t:g}" for t in targets]})
plt.show()
best = max(vc, key=lambda n: results[n]["accuracy"])
gap = 100 * (results["LSTM"]["accuracy"] - results[best]["accuracy"])
flop_cut = f_lstm / results[best]["flops"]
near_perfect = results["LSTM"]["accuracy"] > 0.97
_ = claim(gap > 0 and flop_cut > 10 and near_perfect, "On this seed the LSTM scores {l:.3f}, "
          "the better VCRNN ({n}) {v:.3f}: {g:.1f} points below it, for {f:.0f}x fewer FLOPs "
          "and {t:.1f}x less time.",
          l=results["LSTM"]["accuracy"], n=best, v=results[best]["accuracy"], g=gap,
          f=flop_cut, t=timings["LSTM"].median / timings[best].median)

# %% [markdown]
# On the FLOP axis (left) the VCRNNs sit more than an order of magnitude left of the LSTM; on
# the time axis (right) much less far, by the measured speed-ups of the table above. Accuracy
# is the price on this task: VCRNN is a plain RNN with a scheduler, trained for a few hundred
# steps, and its accuracy does not follow its target; the LSTM's gates, started as long
# memories, learn the task almost perfectly. What VCRNN buys is a state that is mostly
# *copied* from step to step, which keeps a sparse signal at a small cost per token.
#
# `tinydyn bench skimming` runs this comparison at full size, next to Skim-RNN and LSTM-Jump.

# %% [markdown]
# ## Exercise 04
#
# Open `exercises/04_vcrnn/student.py` and write the pieces of sections 1 to 3 yourself:
#
# * `vcrnn_soft_mask(m, d, sharpness, eps)` — the thresholded sigmoid ramp;
# * `vcrnn_rows(m, d)` — the hard decision $k = \mathrm{clip}(\lceil m d - \frac12 \rceil, 0, d)$,
#   careful at $m = 0$, $m = 1$ and at ties;
# * `vcrnn_step_hard(x, h, w_ih, w_hh, bias, k)` — one step that computes only the first $k$
#   rows and copies the rest, whatever the weights of the skipped rows hold;
# * `vcrnn_step_flops(k, input_size, hidden_size)` — the cost of that step, scheduler included.
#
# Grade them from the repository root with `tinydyn grade 04`.
