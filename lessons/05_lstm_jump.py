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
# 1. the read-R-then-jump loop, exactly which positions it reads, and what that costs;
# 2. REINFORCE with a baseline, and why the baseline reduces the variance — measured; and how
#    a jump is sampled;
# 3. LSTM-Jump trained on `pointer_text`, where the first token says where the answer is;
# 4. the tokens read and jumped over, on a few examples;
# 5. LSTM-Jump on `sparse_signal`, its speed/accuracy trade-off against the full LSTM,
#    the course's targets (met or missed), and why jumping loses accuracy there;
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

import time

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

import tinydyn as td
from tinydyn.data import load_task
from tinydyn.dynamic.skimming import (
    compare,
    lstm_jump_flops,
    lstm_predictor,
    read_positions,
    reinforce_loss,
    train_lstm_baseline,
    train_lstm_jump,
)

# the hard-path helpers the package does not re-export: greedy evaluation and the timed
# batch-1 predictor (weights laid out once)
from tinydyn.dynamic.skimming.lstm_jump_experiment import evaluate, lstm_jump_predictor
from tinydyn.kernels.lstm_jump import prepare_weights, run_prepared
from tinydyn.measure import linear_flops, lstm_cell_flops, plot_pareto, time_fns

np.set_printoptions(precision=4, suppress=True)
rng = np.random.default_rng(0)
lesson_start = time.perf_counter()

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
# **What a read costs.** The course counts a multiply-add as 2 FLOPs. An LSTM step with input
# size E and hidden size H costs $2 \cdot 4H(E + H)$ for the four gates' products plus $13H$
# for the bias adds and the gate nonlinearities and products (`lstm_cell_flops`); a linear
# layer from `a` to `b` features costs $2ab + b$ (`linear_flops`). Embedding lookups are free.
# So LSTM-Jump's cost (`lstm_jump_flops`) is
#
# $$\text{FLOPs} = n_\text{read}\,\big(8H(E+H) + 13H\big) + n_\text{decisions}\,\big(2H(K+1)
#   + K + 1\big) + \big(2HC + C\big):$$
#
# an LSTM step per token read, the policy's $W_j h + b_j$ at every decision taken, and the
# classifier head (C classes) once. The full LSTM pays the first term for all T tokens, plus
# the head. (The baseline $b$ of section 2 runs only in training and is not counted.) Checked
# by hand for the first line above — 12 tokens read, 3 decisions — with the sizes used in
# section 5, E = 32, H = 64, K = 5, C = 2:

# %%
E, H, K, C = 32, 64, 5, 2
by_hand = 12 * (8 * H * (E + H) + 13 * H) + 3 * (2 * H * (K + 1) + K + 1) + (2 * H * C + C)
print(f"by hand {by_hand:,}   lstm_jump_flops {int(lstm_jump_flops(12, 3, E, H, K, C)):,}   "
      f"(= 12 x {lstm_cell_flops(E, H):,} + 3 x {linear_flops(H, K + 1):,} + "
      f"{linear_flops(H, C):,})")
print(f"the full LSTM on those 20 tokens: {20 * lstm_cell_flops(E, H) + linear_flops(H, C):,}")

# %% [markdown]
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
actions = rng.choice(3, size=20_000, p=p)
variance = {}
for name, b in [("no baseline", 0.0), ("baseline = E[r]", p @ reward)]:
    logits = td.Tensor(np.tile(theta, (len(actions), 1)), requires_grad=True)
    logp = td.log_softmax(logits, -1)[np.arange(len(actions)), actions].reshape(-1, 1)
    policy, _ = reinforce_loss(logp, reward[actions], td.Tensor(np.full((len(actions), 1), b)))
    policy.backward()
    per_sample = -logits.grad.data * len(actions)  # one gradient estimate per episode
    variance[name] = per_sample.var(0).sum()
    stderr = per_sample.std(0) / np.sqrt(len(actions))  # of the mean of 20,000 episodes
    off = np.abs(per_sample.mean(0) - exact) / stderr  # in standard errors
    print(f"{name:16s} mean {np.round(per_sample.mean(0), 3)} ± {np.round(stderr, 3)} "
          f"(at most {off.max():.1f} s.e. from exact)  total variance {variance[name]:.3f}")
print(f"{'exact':16s} mean {np.round(exact, 3)}")
print(f"variance without / with the baseline: "
      f"{variance['no baseline'] / variance['baseline = E[r]']:.1f}")

# %% [markdown]
# Both means agree with the exact gradient to within sampling noise: the standard error of
# each mean of 20,000 episodes is printed after the ±, and no component is more than a few
# standard errors (s.e.) from the exact value. The variance ratio on the last line is also the
# ratio of the numbers of episodes the two estimators need for the same precision, since the
# standard error of a mean falls as $1/\sqrt{n}$. (Training calls `reinforce_loss` with
# `normalize=True`, which also centres the advantages $r - b$ over the batch and divides them
# by their spread: it keeps the step size steady while the learned baseline is still wrong.)
#
# **Sampling a jump.** In training the jump is drawn from p by inverting its cumulative
# distribution: with $u$ uniform in $[0, 1)$, $k$ is the number of cumulative sums
# $P_j = p_0 + \dots + p_j$ that are $\le u$, that is, the first $k$ with $P_k > u$. The
# softmax is computed stably, from $z - \max z$, so that no exponential overflows:

# %%
z = np.array([1.0, 3.0, 0.5, 2.0])  # the policy's logits over k = 0..3
p_jump = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
cdf = np.cumsum(p_jump)
print("p  ", p_jump, "\ncdf", cdf)
for u in (0.05, 0.3, 0.9):
    print(f"u = {u:4.2f} -> k = {int((cdf <= u).sum())}")
draws = np.minimum((cdf[None] <= rng.random((100_000, 1))).sum(1), len(z) - 1)
print("frequencies of 100,000 draws", np.bincount(draws, minlength=len(z)) / len(draws))

# %% [markdown]
# The frequencies reproduce p. (The `minimum` guards against the last cumulative sum rounding
# to just below 1.)
#
# ## 3. Training on `pointer_text`
#
# `pointer_text` is the paper's "number prediction": token 0 says "the answer is at position
# k", and the label is the digit there. The ideal reader reads token 0, jumps k − 1 tokens and
# reads the answer: 2 tokens. We use 32-token sequences, R = 1, K = 31, N = 1, and train for
# 12 epochs with sampled jumps: loss = cross-entropy + REINFORCE + the baseline's squared
# error.

# %%
pointer = load_task("pointer_text", seed=0, length=32)
jumper, metrics = train_lstm_jump(pointer, 0, read=1, max_jump=31, max_jumps=1, epochs=12,
                                  time_limit=None)
print(f"{metrics['steps']} steps in {metrics['train_seconds']:.1f} s; test accuracy "
      f"{metrics['accuracy']:.3f}, tokens read {metrics['n_read']:.2f} of 32")
acc = np.array([step["accuracy"] for step in metrics["log"]])
smooth = np.convolve(acc, np.ones(50) / 50, mode="valid")
print("batch accuracy (mean of 50 steps) every 100 steps:", np.round(smooth[::100], 2))
plt.figure(figsize=(6, 2.5))
plt.plot(smooth)
plt.xlabel("training step")
plt.ylabel("batch accuracy (sampled jumps)")
plt.title("pointer_text: the policy finds the pointer's target")
plt.show()

# %% [markdown]
# For a long time little happens: a random jump lands on the right digit 1 time in 32 (K + 1
# choices), so the classifier rarely sees the digit that is the answer, and accuracy stays
# near the 10% of a guess among ten digits. Once it has learned that the digit read is the
# answer, the reward tells the policy which jump was right, and accuracy climbs quickly.
#
# ## 4. Tokens read and jumped over
#
# Inference is greedy (argmax jumps) in a compiled kernel that only embeds and multiplies the
# tokens it reads. It returns its decisions: the positions read and the jumps.

# %%
def pad(sequences):
    """Ragged token sequences -> a (B, T) batch padded with 0, and the lengths."""
    lengths = np.array([len(s) for s in sequences], np.int64)
    return np.stack([np.pad(np.asarray(s, np.int64), (0, lengths.max() - len(s)))
                     for s in sequences]), lengths


def show_reads(task, model, n=6, title=""):
    tokens, lengths = pad([task.test[i][0] for i in range(n)])
    out = model.infer(tokens, lengths)
    grid = np.where(np.arange(tokens.shape[1])[None] < lengths[:, None], 0.0, -1.0)
    for b in range(n):  # -1 padding, 0 jumped over, 1 read
        grid[b, out["positions"][b][out["positions"][b] >= 0]] = 1
    for b, pos in enumerate(task.test.signal_positions[:n]):
        for q in pos[pos >= 0]:
            grid[b, q] += 2  # 2 a signal jumped over, 3 a signal read
    fig, ax = plt.subplots(figsize=(min(12, 0.3 * tokens.shape[1] + 1), 0.45 * n + 0.8))
    ax.imshow(grid, cmap=ListedColormap(["white", "#eeeeee", "#7fb3d5", "#e74c3c", "#1e8449"]),
              vmin=-1.5, vmax=3.5, aspect="auto")
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
# A jump of k − 1 from position 0 lands on position k: where the model is right, each jump
# above is its target minus one.
#
# ## 5. `sparse_signal`: the trade-off, and an honest miss
#
# The skimming benchmark task: 50–200 filler tokens with 1–3 signal tokens at random
# positions; the majority class of the signals is the label. To train within the course's
# minute we shorten the sequences to 30–60 tokens; LSTM-Jump reads segments of R = 5, jumps
# at most K = 5, up to N = 8 times. We train it and a full LSTM of the same size for the same
# 6 epochs. The policy loss is weighted 0.1, as in the benchmark's defaults
# (`lstm_jump_experiment.DEFAULTS`), so that the noisy policy gradient, which flows into the
# LSTM the classifier shares, is a small part of the loss. (`tinydyn bench skimming` runs the
# full-length task with longer training.)

# %%
signal = load_task("sparse_signal", seed=0, n_train=1500, min_len=30, max_len=60)
jumper_s, m_s = train_lstm_jump(signal, 0, read=5, max_jump=5, max_jumps=8,
                                policy_weight=0.1, epochs=6, time_limit=None)
lstm, m_l = train_lstm_baseline(signal, 0, epochs=6, time_limit=None)
print(f"LSTM-Jump: accuracy {m_s['accuracy']:.3f}, reads {100 * m_s['read_fraction']:.0f}% "
      f"of the tokens ({m_s['steps']} steps, {m_s['train_seconds']:.1f} s)")
print(f"full LSTM: accuracy {m_l['accuracy']:.3f} ({m_l['train_seconds']:.1f} s)")

test_tokens, test_lengths = pad([signal.test[i][0] for i in range(len(signal.test))])
positions = jumper_s.infer(test_tokens, test_lengths)["positions"]
sig = signal.test.signal_positions
was_read = [np.isin(sig[b][sig[b] >= 0], positions[b]) for b in range(len(sig))]
print(f"signal tokens read: {100 * np.concatenate(was_read).mean():.0f}%; examples with no "
      f"signal read: {100 * np.mean([not r.any() for r in was_read]):.0f}%")
_ = show_reads(signal, jumper_s, n=8, title="sparse_signal: signals read (green) and missed (red)")

# %% [markdown]
# The policy reads about the same share of the signal tokens as of all tokens: it cannot know
# where they are before it reads them, so it can decide *how much* to read but not *where*.
# The red cells are its misses.
#
# N is also an inference-time knob: a smaller budget caps the tokens read at R(N+1), with the
# same trained model. We sweep it, timing batch-1 inference against tinydyn's own full-LSTM
# kernel on 50 test sequences (same process, same thread). `time_fns` samples the candidates
# interleaved (one sample of each in turn, 31 rounds), so a change in the machine's load hits
# them all alike; the table shows medians.

# %%
seqs = [np.asarray(signal.test[i][0]) for i in range(50)]
padded, lens = pad(seqs)
f_lstm = m_l["flops"]
budgets = range(0, 9)


def batch1(predict, sequences):
    """One call per sequence, one after the other (what `time_batch1` times)."""
    def run():
        for s in sequences:
            predict(s)
    return run


candidates = {"LSTM": batch1(lstm_predictor(lstm), seqs)}
candidates.update({n: batch1(lstm_jump_predictor(jumper_s, n), seqs) for n in budgets})
timing = time_fns(candidates, repeats=31)
t_lstm = timing["LSTM"].median / len(seqs)
rows = []
for n in budgets:
    m = evaluate(jumper_s, signal.test, max_jumps=n)
    timed = jumper_s.infer(padded, lens, max_jumps=n)  # FLOPs of the timed sequences
    v = compare({"accuracy": m["accuracy"], "time_b1": timing[n].median / len(seqs)},
                {"accuracy": m_l["accuracy"], "time_b1": t_lstm},
                timed["flops"].mean(), lstm.flops(lens).mean())
    rows.append({"N": n, "accuracy": m["accuracy"], "flops": m["flops"],
                 "fraction": m["flops"] / f_lstm, "read_fraction": m["read_fraction"],
                 "time": timing[n].median / len(seqs), "n_read_timed": timed["n_read"].mean(),
                 **v})
print(" N  accuracy  FLOPs/LSTM  FLOP speed-up  measured speed-up  realisation")
for r in rows:
    print(f"{r['N']:2d}  {r['accuracy']:8.3f}  {r['fraction']:10.2f}  {r['flop_speedup']:13.2f}  "
          f"{r['speedup']:17.2f}  {r['realisation']:11.2f}")
print(f"full LSTM: accuracy {m_l['accuracy']:.3f}, batch-1 {1e6 * t_lstm:.0f} µs per sequence")
print(f"timing noise: interquartile spread {100 * timing['LSTM'].spread:.0f}% for the LSTM, up to "
      f"{100 * max(t.spread for t in timing.values()):.0f}% over all candidates")

# time per sequence = a + b * tokens read, fitted over the sweep
b_fit, a_fit = np.polyfit([r["n_read_timed"] for r in rows], [r["time"] for r in rows], 1)
print(f"LSTM-Jump batch-1 time ≈ {1e6 * a_fit:.1f} µs per call + {1e6 * b_fit:.2f} µs per "
      f"token read; the full LSTM: {1e6 * t_lstm / lens.mean():.2f} µs per token, all included")
print(f"realisation: {rows[0]['realisation']:.2f} at N = 0 ({rows[0]['n_read_timed']:.0f} "
      f"tokens read), {rows[-1]['realisation']:.2f} at N = 8 "
      f"({rows[-1]['n_read_timed']:.0f} tokens read)")

fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
plot_pareto({"LSTM-Jump (N swept)": ([r["flops"] for r in rows], [r["accuracy"] for r in rows]),
             "full LSTM": ([f_lstm], [m_l["accuracy"]])}, ax=axes[0], xlabel="FLOPs / example")
plot_pareto({"LSTM-Jump (N swept)": ([1e3 * r["time"] for r in rows],
                                     [r["accuracy"] for r in rows]),
             "full LSTM": ([1e3 * t_lstm], [m_l["accuracy"]])}, ax=axes[1],
            xlabel="batch-1 ms / sequence")
for ax in axes:
    ax.xaxis.set_minor_formatter(plt.NullFormatter())  # log axes: label the decades only
plt.tight_layout()
plt.show()

# %% [markdown]
# The kernel does only the work of the tokens it reads, so the measured time falls with the
# budget as the FLOPs do — but not in proportion. The straight-line fit splits each call into
# a part per token read and a part every call pays whatever it reads (the Python call, setting
# up the outputs, the head), while the cost per token read is close to the full LSTM's cost
# per token. A reader of few tokens is mostly that fixed part, so the realisation ratio is
# lowest at small N and rises as the fixed part is shared by more tokens (the last line; in a
# noisy run single rows of the table can break the pattern, the fit much less so). The full
# LSTM pays a fixed part too, but spreads it over every token of the sequence.
#
# The targets of the skimming issue were: within 1 accuracy point of the full LSTM at no more
# than half its FLOPs, a measured batch-1 speed-up of at least 1.6× and a realisation ratio
# of at least 0.7. We check them at two budgets: the largest N whose FLOPs are at most half the
# LSTM's, and the N with the best accuracy.

# %%
n_half = max(r["N"] for r in rows if r["fraction"] <= 0.5)
n_best = max(rows, key=lambda r: (r["accuracy"], -r["N"]))["N"]


def verdict(value, target, at_least, unit=""):
    ok = value >= target if at_least else value <= target
    return "met" if ok else f"MISSED by {abs(value - target):.2f}{unit}"


for label, n in (("the largest N with FLOPs <= 50%", n_half), ("the best accuracy", n_best)):
    r = rows[n]
    gap = 100 * r["accuracy_gap"]
    print(f"N = {n}, {label}:")
    print(f"  accuracy gap   {gap:5.1f} points (<= 1)    {verdict(gap, 1.0, False, ' points')}")
    print(f"  FLOPs fraction {r['fraction']:5.2f}        (<= 0.5)  "
          f"{verdict(r['fraction'], 0.5, False)}")
    print(f"  speed-up       {r['speedup']:5.2f}x       (>= 1.6)  "
          f"{verdict(r['speedup'], 1.6, True)}")
    print(f"  realisation    {r['realisation']:5.2f}        (>= 0.7)  "
          f"{verdict(r['realisation'], 0.7, True)}")

# %% [markdown]
# Timings move with the machine's load (this page may run beside other work), so read the
# speed lines as this run's measurement, with the spread printed under the table: a speed
# target that lands near its threshold can flip between runs. The accuracy target is the hard
# one. Nothing before a signal token says where it is, so a reader that skips a fraction q of
# the tokens without regard to what it has read misses a lone signal with probability about
# q. To measure what the unread tokens cost, we hand exactly the tokens LSTM-Jump read at a
# budget N to an oracle that knows the task's label rule (it flips a coin when no signal was
# read): its score is about the best any classifier could do with those reads.

# %%
label_fn = signal.info["label_fn"]
lo, hi = signal.info["signal_ids"]
oracle = {}
for n in sorted({2, n_half, 8}):
    pos = jumper_s.infer(test_tokens, test_lengths, max_jumps=n)["positions"]
    hits = []
    for b in range(len(signal.test)):
        seen = test_tokens[b, pos[b][pos[b] >= 0]]
        if ((seen >= lo) & (seen < hi)).any():
            hits.append(label_fn(seen) == signal.test[b][1])
        else:
            hits.append(0.5)  # no signal seen: a coin flip between the two classes
    oracle[n] = np.mean(hits)
    r = rows[n]
    print(f"N = {n}: reads {100 * r['read_fraction']:3.0f}% of the tokens at "
          f"{100 * r['fraction']:3.0f}% of the LSTM's FLOPs; the oracle scores {oracle[n]:.3f}, "
          f"{100 * (m_l['accuracy'] - oracle[n]):4.1f} points below the full LSTM's "
          f"{m_l['accuracy']:.3f}")
print(f"(the largest N within 50% of the FLOPs is N = {n_half})")

# %% [markdown]
# Even at the full budget of N = 8 (the last line) the tokens read cap accuracy below the full
# LSTM's, whatever the classifier; at the at-most-50% FLOPs the target allows, the cap is many
# points short of the 1-point gap it asks. Training the classifier longer cannot change that.
#
# The policy could do better in one way: it sees what it has read, so it could *stop* once it
# has read a signal and leave the unread tokens to the sequences whose signals come late — the
# FLOPs target is an average. The learned policy has no reason to: its reward is only right
# or wrong, and reading on never costs it anything, so its savings come from the budget N
# alone. Here is what that stopping rule gets with the same R = 5 and K = 5 and at most 8
# jumps, skipping the fewest tokens it can (k = 1) until it stops, with the same oracle
# classifier:

# %%
def stop_at_first_signal(seq, max_jumps=8):
    """The positions read and decisions taken by 'stop once a signal was read, else jump 1'."""
    jumps = []
    while True:
        pos = read_positions(len(seq), 5, jumps)
        end = pos[-1] + 1
        if end >= len(seq) or len(jumps) == max_jumps:
            return pos, len(jumps)  # no decision left to take
        if ((seq[pos] >= lo) & (seq[pos] < hi)).any():
            return pos, len(jumps) + 1  # the last decision is k = 0, stop
        jumps.append(1)
        if end + 1 >= len(seq):
            return pos, len(jumps)  # that jump left the sequence


hits, flops, n_read = [], [], 0
for b in range(len(signal.test)):
    seq, label = signal.test[b]
    pos, decisions = stop_at_first_signal(np.asarray(seq))
    seen = seq[pos]
    hits.append(label_fn(seen) == label if ((seen >= lo) & (seen < hi)).any() else 0.5)
    flops.append(lstm_jump_flops(len(pos), decisions, E, H, K, C))
    n_read += len(pos)
rule_fraction = np.mean(flops) / f_lstm
rule_gap = 100 * (m_l["accuracy"] - np.mean(hits))
print(f"stop at the first signal: reads {100 * n_read / test_lengths.sum():.0f}% of the tokens "
      f"at {100 * rule_fraction:.0f}% of the LSTM's FLOPs; the oracle scores {np.mean(hits):.3f}, "
      f"{rule_gap:.1f} points below the full LSTM")
rule_met = rule_gap <= 1 and rule_fraction <= 0.5
print("accuracy within 1 point at <= 50% of the FLOPs: "
      + ("met" if rule_met else f"MISSED by {rule_gap - 1:.1f} points"))

# %% [markdown]
# Stopping is the better use of a budget: compare this line with the learned policy's at
# N = 8 above, which reads more and scores less. A policy rewarded for reading less could
# learn it (the signal is in its state when it decides). But on this task even the rule, with
# a perfect classifier behind it, is short of the target in this run: stopping at the first
# signal gets a 3-signal example wrong whenever that signal is the odd one out, and every jump
# skips a token that may hold a signal. So the miss here is not a matter of more epochs.
# LSTM-Jump shines where the text says where to look (`pointer_text`: 2 tokens of 32 at the
# accuracy of section 3, while a full LSTM has to carry the pointer across the whole
# sequence); on randomly placed evidence, skimming methods that *look* at every token cheaply
# (Skim-RNN, lesson 03) are the better tool.
#
# ## 6. What batching does
#
# In a batch every sequence is at its own position and stops at its own time. The kernel keeps
# the rows still reading in a contiguous block and, when a row stops, moves the last active
# row into its slot (*compaction*), so each round's matmul has only live rows. Without it,
# finished rows stay in the block and are computed for nothing, as in a padded batch: the
# cost is set by the longest reader. We time three ways to run the same 50 test sequences,
# interleaved again: one at a time, as one compacted batch, and as one batch without
# compaction.

# %%
def batched(model, tokens, lengths, compact):
    prepared = prepare_weights(*model.kernel_weights())
    head_w, head_b = model.head.weight.data.T, model.head.bias.data
    greedy = np.zeros((len(tokens), 0))

    def run():
        out = run_prepared(tokens, lengths, prepared, model.read, model.max_jumps, greedy,
                           compact)
        return out["h"] @ head_w + head_b
    return run


for name, task, model in (("pointer_text", pointer, jumper),
                          ("sparse_signal", signal, jumper_s)):
    s = [np.asarray(task.test[i][0]) for i in range(50)]
    tokens, lengths = pad(s)
    t = time_fns({"batch-1": batch1(lstm_jump_predictor(model), s),
                  "compacted": batched(model, tokens, lengths, True),
                  "not compacted": batched(model, tokens, lengths, False)}, repeats=31)
    us = {k: 1e6 * v.median / len(s) for k, v in t.items()}
    reads = model.infer(tokens, lengths)["n_read"]
    print(f"{name:14s} reads {reads.min()}-{reads.max()} tokens; µs per sequence: batch-1 "
          f"{us['batch-1']:6.1f}, batch of 50 compacted {us['compacted']:5.1f}, not compacted "
          f"{us['not compacted']:5.1f} (x{us['not compacted'] / us['compacted']:.2f})")

# %% [markdown]
# Batching amortises the per-call overhead: for `pointer_text`, 2 tokens per sequence, the
# batch-1 time is nearly all overhead. Compaction pays when the rows read different numbers of
# tokens, as on `sparse_signal`: it keeps the work proportional to what each row reads, while
# without it every round computes the rows that have already stopped (the last number is the
# ratio). On `pointer_text` every row reads exactly 2 tokens, so there is nothing to compact
# and the two batched times differ only by bookkeeping and noise.
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

# %%
print(f"this page ran in {time.perf_counter() - lesson_start:.0f} s")
