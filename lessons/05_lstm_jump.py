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
# # Lesson 05 — LSTM-Jump
#
# Skim-RNN (lesson 03) and VCRNN (lesson 04) still visit every token; they only spend less on
# some. LSTM-Jump (Yu, Lee and Le, ACL 2017, "Learning to Skim Text") does not even look at
# the tokens it skips: it reads R tokens, then a policy decides how far to jump ahead — or to
# stop reading altogether. The decision is discrete and sampled, so it cannot be trained by
# backpropagation; it is trained by REINFORCE with a learned baseline.
#
# What you will see:
#
# 1. the read-R-then-jump loop, and exactly which positions it reads;
# 2. REINFORCE with a baseline, and why the baseline reduces the variance — measured;
# 3. LSTM-Jump trained on `pointer_text`, where the first token says where the answer is;
# 4. the tokens read and jumped over, on a few examples;
# 5. the same model on `sparse_signal`, its speed/accuracy trade-off against the full LSTM,
#    and why jumping cannot win there;
# 6. what batching does to the savings (ragged positions, compaction).
#
# Timings use one BLAS thread (set before NumPy is imported, as in lesson 02).

# %%
# ruff: noqa: E402  (the thread settings must come before the imports)
import os
import sys

if "numpy" in sys.modules:
    print("note: NumPy was imported before this cell; BLAS keeps its threads")
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

import tinydyn as td
from tinydyn.data import load_task
from tinydyn.dynamic.skimming.common import (
    lstm_predictor,
    time_batch1,
    train_lstm_baseline,
)
from tinydyn.dynamic.skimming.lstm_jump import read_positions, reinforce_loss
from tinydyn.dynamic.skimming.lstm_jump_experiment import (
    evaluate,
    lstm_jump_predictor,
    time_batched,
    train_lstm_jump,
)
from tinydyn.measure import plot_pareto

# %% [markdown]
# ## 1. The read-R-then-jump loop
#
# Hyper-parameters: R tokens read between decisions, K the largest jump, N the most jumps.
# Starting at position 0, the LSTM reads R tokens; from its hidden state h the policy gives
# $p = \mathrm{softmax}(W_j h + b_j)$ over $k \in \{0, \dots, K\}$. $k = 0$ stops; $k > 0$
# skips the next k tokens, so after a segment ending at position p the next token read is
# $p + k + 1$. Reading also ends at the end of the sequence, or after the N-th jump and one
# last segment. The classifier reads the final h. At most $\min(T, R(N+1))$ tokens are read.
#
# `read_positions` is that rule as plain arithmetic:

# %%
for length, R, jumps in [(20, 3, [2, 4, 1]), (20, 3, [0]), (10, 2, [6]), (12, 5, [])]:
    print(f"T={length:2d} R={R} jumps={str(jumps):10s} -> reads {read_positions(length, R, jumps)}")

# %% [markdown]
# The second line stops at once and reads exactly R tokens; the third jumps past the end; the
# last has no jump budget (N = 0) and reads one segment. With N = 0 and R ≥ T, LSTM-Jump is
# the plain LSTM classifier (a test checks this, bit for bit).
#
# ## 2. REINFORCE with a baseline
#
# The reward is +1 if the prediction is right, −1 otherwise: not differentiable in the jumps.
# REINFORCE uses $\nabla_\theta E[r] = E[\,r\,\nabla_\theta \log p_\theta(k)\,]$, so minimising
# $-(r - b)\log p_\theta(k)$ over sampled episodes follows an unbiased estimate of the
# gradient, **for any baseline b that does not depend on the action** — because
# $E[\nabla \log p(k)] = \sum_k \nabla p(k) = \nabla 1 = 0$. The baseline changes nothing on
# average; it changes the noise. LSTM-Jump learns $b = w_b \cdot h + c$ by squared error to
# the reward.
#
# Measured on a 3-armed bandit whose rewards are all positive (so without a baseline every
# sample pushes *up* the arm it happened to pull):

# %%
theta = np.array([0.2, -0.3, 0.4])
reward = np.array([2.0, 1.0, 3.0])
p = np.exp(theta) / np.exp(theta).sum()
exact = p * (reward - p @ reward)  # d E[r] / d theta for a softmax policy
actions = np.random.default_rng(0).choice(3, size=20_000, p=p)
for name, b in [("no baseline", 0.0), ("baseline = E[r]", p @ reward)]:
    logits = td.Tensor(np.tile(theta, (len(actions), 1)), requires_grad=True)
    logp = td.log_softmax(logits, -1)[np.arange(len(actions)), actions].reshape(-1, 1)
    policy, _ = reinforce_loss(logp, reward[actions], td.Tensor(np.full((len(actions), 1), b)))
    policy.backward()
    per_sample = -logits.grad.data * len(actions)  # one gradient estimate per episode
    print(f"{name:16s} mean {np.round(per_sample.mean(0), 3)}  total variance "
          f"{per_sample.var(0).sum():.3f}")
print(f"{'exact':16s} mean {np.round(exact, 3)}")

# %% [markdown]
# Both means match the exact gradient; the baseline divides the variance by several times,
# which is the number of samples REINFORCE needs for the same precision.
#
# ## 3. Training on `pointer_text`
#
# `pointer_text` is the paper's "number prediction": token 0 says "the answer is at position
# k", and the label is the digit there. The ideal reader reads token 0, jumps k − 1 tokens and
# reads the answer: 2 tokens. We use 32-token sequences, R = 1, K = 31, N = 1, and train with
# sampled jumps: loss = cross-entropy + REINFORCE + the baseline's squared error.

# %%
pointer = load_task("pointer_text", seed=0, length=32)
jumper, metrics = train_lstm_jump(pointer, 0, read=1, max_jump=31, max_jumps=1, epochs=30,
                                  time_limit=10.0)
print(f"{metrics['steps']} steps in {metrics['train_seconds']:.1f} s; test accuracy "
      f"{metrics['accuracy']:.3f}, tokens read {metrics['n_read']:.2f} of 32")
acc = np.array([step["accuracy"] for step in metrics["log"]])
smooth = np.convolve(acc, np.ones(50) / 50, mode="valid")
plt.figure(figsize=(6, 2.5))
plt.plot(smooth)
plt.xlabel("training step")
plt.ylabel("batch accuracy (sampled jumps)")
plt.title("pointer_text: the policy finds the pointer's target")
plt.show()

# %% [markdown]
# For a long time nothing happens: the jump lands on the right digit by luck 1 time in 32,
# and only then can the classifier learn that the digit read is the answer. Once it has, the
# reward tells the policy which jump was right, and accuracy climbs quickly.
#
# ## 4. Tokens read and jumped over
#
# Inference is greedy (argmax jumps) in a compiled kernel that only embeds and multiplies the
# tokens it reads. It returns its decisions: the positions read and the jumps.

# %%
def show_reads(task, model, n=6, title=""):
    tokens = np.stack([task.test[i][0] for i in range(n)])
    lengths = np.array([len(t) for t in tokens])
    out = model.infer(tokens, lengths)
    grid = np.zeros(tokens.shape)  # 0 jumped over, 1 read
    for b in range(n):
        grid[b, out["positions"][b][out["positions"][b] >= 0]] = 1
    for b, pos in enumerate(task.test.signal_positions[:n]):
        for q in pos[pos >= 0]:
            grid[b, q] += 2  # 2 a skipped signal, 3 a signal read
    fig, ax = plt.subplots(figsize=(min(12, 0.3 * tokens.shape[1] + 1), 0.45 * n + 0.8))
    ax.imshow(grid, cmap=ListedColormap(["#eeeeee", "#7fb3d5", "#e74c3c", "#1e8449"]),
              vmin=-0.5, vmax=3.5, aspect="auto")
    if tokens.shape[1] <= 40:
        for (b, t), v in np.ndenumerate(tokens):
            ax.text(t, b, str(v), ha="center", va="center", fontsize=6)
    ax.set_xlabel("position (grey: jumped over, blue: read, green: signal read, "
                  "red: signal jumped over)")
    ax.set_yticks(range(n))
    ax.set_title(title)
    plt.show()
    return out


out = show_reads(pointer, jumper, title="pointer_text: read token 0, jump, read the answer")
print("jumps:", out["jumps"][:, 0], " target positions:", pointer.test.target_position[:6])

# %% [markdown]
# A jump of k − 1 from position 0 lands on position k: each jump above is its target minus one.

# %% [markdown]
# ## 5. `sparse_signal`: the trade-off, and an honest miss
#
# The skimming benchmark task: 50–200 filler tokens with 1–3 signal tokens at random
# positions; the majority class of the signals is the label. To train within the course's
# minute we shorten the sequences to 30–60 tokens; LSTM-Jump reads segments of R = 5, jumps
# at most K = 5, up to N = 8 times. We train it and a full LSTM of the same size on the same
# short budget. (`tinydyn bench skimming` runs the full-length task with longer training.)

# %%
signal = load_task("sparse_signal", seed=0, n_train=1500, min_len=30, max_len=60)
jumper_s, m_s = train_lstm_jump(signal, 0, read=5, max_jump=5, max_jumps=8,
                                policy_weight=0.1, epochs=12, time_limit=7.0)
lstm, m_l = train_lstm_baseline(signal, 0, epochs=12, time_limit=7.0)
print(f"LSTM-Jump: accuracy {m_s['accuracy']:.3f}, reads {100 * m_s['read_fraction']:.0f}% "
      f"of the tokens ({m_s['steps']} steps)")
print(f"full LSTM: accuracy {m_l['accuracy']:.3f}")

# %% [markdown]
# N is also an inference-time knob: a smaller budget caps the tokens read at R(N+1), with the
# same trained model. We sweep it, timing batch-1 inference against tinydyn's own full-LSTM
# kernel on 30 test sequences (same process, same thread).

# %%
seqs = [np.asarray(signal.test[i][0]) for i in range(30)]
lens = np.array([len(s) for s in seqs])
t_lstm = time_batch1(lstm_predictor(lstm), seqs, repeats=3)
f_lstm = m_l["flops"]
rows = []
for n in (0, 2, 4, 6, 8):
    m = evaluate(jumper_s, signal.test, max_jumps=n)
    t = time_batch1(lstm_jump_predictor(jumper_s, n), seqs, repeats=3)
    padded = np.stack([np.pad(s, (0, lens.max() - len(s))) for s in seqs])
    f_timed = jumper_s.infer(padded, lens, max_jumps=n)["flops"].mean()
    flop_speedup = lstm.flops(lens).mean() / f_timed
    rows.append((n, m["accuracy"], m["flops"], t, flop_speedup, t_lstm / t))
print(" N  accuracy  FLOPs/LSTM  FLOP speed-up  measured speed-up  realisation")
for n, a, f, _t, fs, s in rows:
    print(f"{n:2d}  {a:8.3f}  {f / f_lstm:10.2f}  {fs:13.2f}  {s:17.2f}  {s / fs:11.2f}")
print(f"full LSTM: accuracy {m_l['accuracy']:.3f}, batch-1 {1e3 * t_lstm:.3f} ms per sequence")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
plot_pareto({"LSTM-Jump (N swept)": ([r[2] for r in rows], [r[1] for r in rows]),
             "full LSTM": ([f_lstm], [m_l["accuracy"]])}, ax=axes[0], xlabel="FLOPs / example")
plot_pareto({"LSTM-Jump (N swept)": ([1e3 * r[3] for r in rows], [r[1] for r in rows]),
             "full LSTM": ([1e3 * t_lstm], [m_l["accuracy"]])}, ax=axes[1],
            xlabel="batch-1 ms / sequence")
plt.show()

# %% [markdown]
# The targets of the skimming issue were: within 1 accuracy point of the full LSTM at no more
# than half its FLOPs, a measured batch-1 speed-up of 1.6× and a realisation ratio of 0.7.
# The speed targets are within reach: the kernel does only the work of the tokens it reads,
# so the measured speed-up follows the FLOP speed-up (see the table's realisation column). The
# accuracy target is **missed**, and no tuning will fix it: nothing before a signal token says
# where it is, so a reader that skips a fraction q of the tokens misses a lone signal with
# probability q. An oracle that knows the label rule, given exactly the positions LSTM-Jump
# read, bounds what any classifier could do with them:

# %%
label_fn = signal.info["label_fn"]
for n in (2, 8):
    tokens = [np.asarray(signal.test[i][0]) for i in range(len(signal.test))]
    hits = []
    for b, seq in enumerate(tokens):
        pos = jumper_s.infer(seq[None], np.array([len(seq)]), max_jumps=n)["positions"][0]
        seen = seq[pos[pos >= 0]]
        lo, hi = signal.info["signal_ids"]
        if ((seen >= lo) & (seen < hi)).any():
            hits.append(label_fn(seen) == signal.test[b][1])
        else:
            hits.append(0.5)  # nothing seen: a coin flip
    frac = evaluate(jumper_s, signal.test, max_jumps=n)["read_fraction"]
    print(f"N = {n:2d}: reads {100 * frac:3.0f}% of tokens; the best possible accuracy from "
          f"those reads is {np.mean(hits):.3f}")

# %% [markdown]
# Reading half of the tokens caps accuracy far below the full LSTM's, whatever the classifier.
# LSTM-Jump shines where the text says where to look (`pointer_text`: 2 tokens of 32, at
# full accuracy, while the full LSTM has to carry the pointer across the whole sequence);
# on randomly placed evidence, skimming methods that *look* at every token cheaply (Skim-RNN,
# lesson 03) are the right tool.
#
# ## 6. What batching does
#
# In a batch every sequence is at its own position and stops at its own time. The kernel keeps
# the rows still reading in a contiguous block and, when a row stops, moves the last active
# row into its slot (*compaction*), so each round's matmul has only live rows. Without it,
# finished rows stay in the block and are computed for nothing, as in a padded batch: the
# cost is set by the longest reader.

# %%
for name, task, model in (("pointer_text", pointer, jumper), ("sparse_signal", signal,
                                                               jumper_s)):
    s = [np.asarray(task.test[i][0]) for i in range(30)]
    b1 = time_batch1(lstm_jump_predictor(model), s, repeats=3)
    packed = time_batched(model, s, compact=True, repeats=3)
    padded = time_batched(model, s, compact=False, repeats=3)
    print(f"{name:14s} per sequence: batch-1 {1e6 * b1:7.1f} µs, batch of 30 compacted "
          f"{1e6 * packed:7.1f} µs, not compacted {1e6 * padded:7.1f} µs")

# %% [markdown]
# Batching amortises the per-call overhead: for `pointer_text`, 2 tokens per sequence, the
# batch-1 time is nearly all overhead. Compaction matters when reading lengths vary, as on
# `sparse_signal`, where it keeps the work proportional to what each row reads; on
# `pointer_text` every row reads exactly 2 tokens, so there is nothing to compact and the two
# batched times differ only by bookkeeping and noise.
#
# ## Exercise 05
#
# Open `exercises/05_lstm_jump/student.py` and write:
#
# * `read_positions(length, read, jumps)` — section 1's rule (mind the `p + k + 1`);
# * `sample_jump(logits, u)` — a jump from a stable softmax by inverting its CDF at u;
# * `reinforce_loss(log_probs, rewards, baselines, mask)` and `reinforce_grads(...)` —
#   section 2's two losses and their gradients by hand.
#
# Grade them from the repository root with `tinydyn grade 05`.
