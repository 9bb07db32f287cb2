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
# # Lesson 05 — LSTM-Jump: read a little, then jump
#
# Skim-RNN (lesson 03) and VCRNN (lesson 04) visit every token and spend less on some.
# **LSTM-Jump** (Yu, Lee and Le, ACL 2017, "Learning to Skim Text") never looks at the tokens
# it skips: it reads $R$ tokens, then a policy decides how far to jump ahead, or to stop. The
# decision is discrete and sampled, so it is trained by REINFORCE with a learned baseline, not
# by backpropagation. The paper reports a model "up to 6 times faster than the standard
# sequential LSTM, while maintaining the same or even better accuracy".
#
# What you will see: (1) the read-then-jump rule and its cost; (2) REINFORCE with a baseline,
# and sampling a jump; (3) the model's loop, its loss, one optimiser step, and the properties
# that pin it down; (4) training where the text says where to look, over three seeds; (5) the
# hard inference loop and what it read; (6) a task where nothing says where to look: accuracy
# against FLOPs and time, and what limits it; (7) batching.

# %%
import inspect

import matplotlib.pyplot as plt
import numpy as np

import tinydyn as td
from tinydyn.course.figures import lstm_jump as figures
from tinydyn.course.notebook import claim, pin_threads, plot_curve, say, show_table, time_table
from tinydyn.data import load_task
from tinydyn.dynamic import skimming as sk
from tinydyn.dynamic.skimming import lstm_jump_experiment as experiment
from tinydyn.kernels import lstm_jump as kernel
from tinydyn.measure import linear_flops, lstm_cell_flops
from tinydyn.nn import functional as F
from tinydyn.optim import Adam, clip_grad_norm_

pin_threads(1)  # timings below compare kernels on one core
np.set_printoptions(precision=4, suppress=True)
rng = np.random.default_rng(0)
SEEDS = (0, 1, 2)  # pointer_text: one model per seed, all shown
SEED = 0  # sparse_signal (section 6): the seed of the task and its two models

# %% [markdown]
# ## 1. Read, then jump
#
# Three hyper-parameters: $R$ tokens read between decisions, $K$ the longest jump, $N$ the
# most jumps. Starting at position 0, the LSTM reads $R$ tokens; from its hidden state $h$ the
# policy gives $p = \mathrm{softmax}(W_j h + b_j)$ over $k \in \{0, \dots, K\}$. $k = 0$ stops;
# $k > 0$ skips the next $k$ tokens, so after a segment ending at position $p$ the next token
# read is $p + k + 1$. Reading also ends at the end of the sequence, or after the $N$-th jump
# and one last segment. The classifier reads the final $h$. `read_positions` is the rule as
# plain arithmetic:

# %%
for length, R, jumps in [(20, 3, [2, 4, 1]), (20, 3, [0]), (10, 2, [6]), (12, 5, [])]:
    print(f"T={length:2d} R={R} jumps={str(jumps):10s} -> reads "
          f"{sk.read_positions(length, R, jumps)}")

# %% [markdown]
# The second line stops at once; the third jumps past the end; the last has no jump budget
# ($N = 0$) and reads one segment. At most $\min(T, R(N+1))$ tokens are read.
#
# **What a read costs.** A multiply-add counts 2 FLOPs; an LSTM step costs $8H(E + H) + 13H$
# (`lstm_cell_flops`, input size $E$, hidden size $H$), a linear layer from $a$ to $b$
# features $2ab + b$ (`linear_flops`). LSTM-Jump pays an LSTM step per token read, the policy
# per decision, and the head ($C$ classes) once:
#
# $$\text{FLOPs} = n_\text{read}\big(8H(E+H) + 13H\big) + n_\text{decisions}\big(2H(K+1) + K
# + 1\big) + 2HC + C.$$
#
# Checked by hand for the first line above (12 tokens read, 3 decisions), with the sizes of
# section 6, $E = 32$, $H = 64$, $K = 5$, $C = 2$:

# %%
E, H, K, C = 32, 64, 5, 2
by_hand = 12 * (8 * H * (E + H) + 13 * H) + 3 * (2 * H * (K + 1) + K + 1) + (2 * H * C + C)
library = int(sk.lstm_jump_flops(12, 3, E, H, K, C))
assert by_hand == library
print(f"by hand {by_hand:,} = lstm_jump_flops {library:,} (= 12 x {lstm_cell_flops(E, H):,} "
      f"+ 3 x {linear_flops(H, K + 1):,} + {linear_flops(H, C):,})")
print(f"the full LSTM on those 20 tokens: {20 * lstm_cell_flops(E, H) + linear_flops(H, C):,}")
_ = say("a decision costs 1/{r:.0f} of a token read; 12 tokens of 20 cost {f:.0%} of the full "
        "LSTM", r=lstm_cell_flops(E, H) / linear_flops(H, K + 1),
        f=by_hand / (20 * lstm_cell_flops(E, H) + linear_flops(H, C)))

# %% [markdown]
# The LSTM steps dominate, so the FLOP saving is almost exactly the share of tokens left
# unread.
#
# ## 2. REINFORCE with a baseline
#
# The reward is +1 if the prediction is right and −1 otherwise: not differentiable in the jumps.
# REINFORCE uses $\nabla_\theta E[r] = E[\,r\,\nabla_\theta \log p_\theta(k)\,]$, so
# minimising $-(r - b)\log p_\theta(k)$ over sampled episodes follows an unbiased estimate of
# the gradient **for any baseline $b$ that does not depend on the action**, because
# $E[\nabla \log p(k)] = \sum_k \nabla p(k) = \nabla 1 = 0$. The baseline changes nothing on
# average; it changes the noise. LSTM-Jump learns $b = w_b \cdot h + c$ by squared error to
# the reward. Measured on a 3-armed bandit whose rewards are all positive (so, without a
# baseline, every sample pushes *up* the arm it happened to pull):

# %%
theta, reward = np.array([0.2, -0.3, 0.4]), np.array([2.0, 1.0, 3.0])
p = np.exp(theta) / np.exp(theta).sum()
exact = p * (reward - p @ reward)  # d E[r] / d theta for a softmax policy
actions = rng.choice(3, size=20_000, p=p)
variance, worst = {}, {}
for name, b in [("no baseline", 0.0), ("baseline = E[r]", p @ reward)]:
    logits = td.Tensor(np.tile(theta, (len(actions), 1)), requires_grad=True)
    logp = F.log_softmax(logits, -1)[np.arange(len(actions)), actions].reshape(-1, 1)
    policy, _ = sk.reinforce_loss(logp, reward[actions], td.Tensor(np.full((len(actions), 1), b)))
    policy.backward()
    per_sample = -logits.grad.data * len(actions)  # one gradient estimate per episode
    variance[name] = per_sample.var(0).sum()
    stderr = per_sample.std(0) / np.sqrt(len(actions))  # of the mean of 20,000 episodes
    worst[name] = (np.abs(per_sample.mean(0) - exact) / stderr).max()
    print(f"{name:16s} mean {per_sample.mean(0).round(3)} ± {stderr.round(3)}, at most "
          f"{worst[name]:.1f} s.e. from exact; total variance {variance[name]:.3f}")
print(f"{'exact':16s} mean {exact.round(3)}")
ratio = variance["no baseline"] / variance["baseline = E[r]"]
_ = claim(max(worst.values()) < 4 and ratio > 1, "variance without / with the baseline: "
          "{r:.1f}", r=ratio)

# %% [markdown]
# Both means agree with the exact gradient to within a few standard errors (s.e., printed after
# the ±; the `claim` checks under 4), so both estimators are unbiased. The variance ratio is
# also the ratio of the episodes the two need for the same precision, since a standard error
# falls as $1/\sqrt{n}$. (Training calls `reinforce_loss` with `normalize=True`, which also
# centres the advantages $r - b$ over the batch and divides them by their spread, so the step
# size stays steady while the learned baseline is still wrong.)
#
# **Sampling a jump.** In training, the jump is drawn from $p$ by inverting its cumulative
# distribution: with $u$ uniform in $[0, 1)$, $k$ is the number of cumulative sums
# $P_j = p_0 + \dots + p_j$ that are $\le u$. The softmax is computed from $z - \max z$, so
# no exponential overflows:

# %%
z = np.array([1.0, 3.0, 0.5, 2.0])  # the policy's logits over k = 0..3
p_jump = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
cdf = np.cumsum(p_jump)
print("p  ", p_jump, "\ncdf", cdf)
for u in (0.05, 0.3, 0.9):
    print(f"u = {u:4.2f} -> k = {int((cdf <= u).sum())}")
draws = np.minimum((cdf[None] <= rng.random((100_000, 1))).sum(1), len(z) - 1)
frequencies = np.bincount(draws, minlength=len(z)) / len(draws)
assert np.abs(frequencies - p_jump).max() < 0.01
print("frequencies of 100,000 draws", frequencies)

# %% [markdown]
# The frequencies reproduce $p$ (the `assert` checks within 0.01). The `minimum` guards
# against the last cumulative sum rounding to just below 1.
#
# ## 3. The model, its loss, one step
#
# `LSTMJump.forward` runs the rule on a padded batch, segment by segment: each row gathers its
# next $R$ positions, the LSTM reads them (rows that stopped are masked and keep their state),
# and the policy picks each row's jump. Here is the heart of it, the loop over segments:

# %%
source = inspect.getsource(sk.LSTMJump.forward)
print(source[source.index("        rows = np.arange(B)"):source.index("        dtype = self.")])

# %% [markdown]
# Three lines carry the method: `self._choose`, the sampled (or greedy) jump; `pos = end + k`,
# which moves each row past the tokens it skips; and `log_probs`, which collects $\log p(k)$
# of each jump taken, for REINFORCE. The loss has three parts: the classifier's cross-entropy,
# the REINFORCE loss of the jumps taken (reward +1 or −1 for the classifier's answer), and the
# baseline's squared error. One step of Adam on one batch of section 4's task, written out:

# %%
pointer = load_task("pointer_text", seed=0, **experiment.DEFAULTS["pointer_text"]["task_options"])
model = sk.LSTMJump(pointer.vocab_size, pointer.num_classes, 32, 64, read=1, max_jump=31,
                    max_jumps=1, rng=np.random.default_rng(0))
opt = Adam(model.parameters(), lr=3e-3)
tokens, _, lengths, labels = next(iter(sk.make_loader(pointer.train, 32, 0, shuffle=True)))
out = model(tokens, lengths, rng=np.random.default_rng(1))  # sampled jumps
ce = F.cross_entropy(out["logits"], labels)
reward = np.where(out["logits"].data.argmax(1) == labels.data, 1.0, -1.0)
policy, value = sk.reinforce_loss(out["log_probs"], reward, out["baselines"], out["decided"],
                                  normalize=True)
loss = ce + 1.0 * policy + 1.0 * value  # the policy weight of this task is 1
assert np.isclose(float(loss.data), float(model.loss(out, labels)[0].data))  # = the library's
opt.zero_grad()
loss.backward()
clip_grad_norm_(model.parameters(), 1.0)
opt.step()
assert reward.mean() < 0
print(f"cross-entropy {float(ce.data):.3f} + policy {float(policy.data):+.3f} + value "
      f"{float(value.data):.3f} = {float(loss.data):.3f}; mean reward {reward.mean():+.2f}")

# %% [markdown]
# The cross-entropy starts near $\ln 10 \approx 2.30$, a guess among ten digits, and most
# rewards are −1. On this task every `train_lstm_jump` step is this one, on the next batch.
#
# *Differs from the paper.* We also centre the advantages $r - b$ over each batch and divide
# them by their spread. On `sparse_signal` (section 6) we weight the policy loss by 0.1 and
# start with epochs of supervised reading, so the classifier learns before the policy does.
#
# Three properties pin the model down: (a) with $N = 0$ and $R \ge T$ it is a plain LSTM
# classifier; (b) given the jumps, it reads exactly the positions of `read_positions`; (c) the
# compiled hard path of section 5 reads the same positions and gives the same logits as this
# module with greedy (argmax) jumps.

# %%
tokens, lengths = tokens.data[:8], lengths.data[:8]
plain = sk.LSTMJump(pointer.vocab_size, 10, 32, 64, read=32, max_jumps=0,
                    rng=np.random.default_rng(2))
_, (h_T, _) = plain.lstm(plain.embed(tokens))
assert np.allclose(plain(tokens, lengths)["logits"].data, plain.head(h_T).data, atol=1e-6)
given = rng.integers(0, 32, size=(8, 1))
forced = model(tokens, lengths, actions=given)["read_mask"]
assert all(np.array_equal(np.flatnonzero(forced[i]), sk.read_positions(lengths[i], 1, given[i]))
           for i in range(8))
greedy, hard = model(tokens, lengths, actions="greedy"), model.infer(tokens, lengths)
assert all(np.array_equal(np.flatnonzero(greedy["read_mask"][i]), np.sort(hard["positions"][i][
    hard["positions"][i] >= 0])) for i in range(8))
assert np.allclose(greedy["logits"].data, hard["logits"], atol=1e-5)
print("(a), (b) and (c) hold on 8 sequences of pointer_text")

# %% [markdown]
# So the hard path is the trained model with its sampling replaced by argmax, not an
# approximation of it.
#
# ## 4. Training where the text says where to look
#
# `pointer_text` is the paper's "number prediction" task: token 0 says "the answer is at
# position $k$", and the label is the digit there. The ideal reader reads token 0, jumps
# $k - 1$ tokens and reads the answer: 2 tokens of 32. We use $R = 1$, $K = 31$, $N = 1$ and
# train one model per seed with sampled jumps and the loss of section 3:

# %%
cfg = dict(experiment.DEFAULTS["pointer_text"])  # the library's recipe for this task
task_options = cfg.pop("task_options")
cfg["epochs"] = 12  # fewer than the library's default, to fit the page's minute
print("recipe:", cfg)
pointers, jumpers, runs = {}, {}, {}
for seed in SEEDS:
    pointers[seed] = load_task("pointer_text", seed=seed, **task_options)
    jumpers[seed], runs[seed] = sk.train_lstm_jump(pointers[seed], seed, **cfg, time_limit=None)
show_table([[seed, r["steps"], r["accuracy"], r["n_read"]] for seed, r in runs.items()],
           ["seed", "training steps", "test accuracy (greedy jumps)", "tokens read of 32"])

# %% [markdown]
# How accurate each model ends up differs by seed. The batch accuracy during training shows
# why:

# %%
plot_curve({f"seed {seed}": figures.moving_average([step["accuracy"] for step in r["log"]], 50)
            for seed, r in runs.items()}, xlabel="training step",
           ylabel="batch accuracy (mean of 50 steps)", title="pointer_text, sampled jumps")
plt.show()
worst = min(r["accuracy"] for r in runs.values())
_ = claim(worst > 0.5 and all(r["n_read"] == 2 for r in runs.values()), "on every seed: test "
          "accuracy at least {w:.3f} (a guess scores 0.1), reading 2 tokens per sequence", w=worst)

# %% [markdown]
# For a long time little happens: a random jump lands on the answer 1 time in 32, so the
# classifier rarely sees the digit that is the answer, and accuracy stays near the 10% of a
# guess. Once it has learned that the digit it read is the answer, the reward tells the policy
# which jump was right, and accuracy climbs. When that happens varies from seed to seed.
#
# ## 5. The hard inference loop, and what it read
#
# At inference the jumps are greedy, and a compiled loop (`tinydyn.kernels.lstm_jump`) embeds
# and multiplies only the tokens it reads. Its NumPy twin is shown whole because it *is* the
# method at inference: one LSTM step for the block of rows still reading, then each row's
# bookkeeping (record, jump or stop, and move the last row into a finished row's slot):

# %%
print(inspect.getsource(kernel.lstm_jump_steps_numpy))

# %% [markdown]
# `pos[a] += k` and the three ways to `stop` are section 1's rule, row by row; the `compact`
# branch is what section 7 measures. `model.infer` runs the compiled loop and returns its
# decisions. For the first six test
# sequences of seed 0, the tokens read (blue) and jumped over (grey), token ids written in:

# %%
test = pointers[0].test
tokens, lengths = sk.pad_tokens([test[i][0] for i in range(6)])
out = jumpers[0].infer(tokens, lengths)
figures.plot_reads(tokens, lengths, out["positions"], title="pointer_text, seed 0")
plt.show()
print("jumps:            ", out["jumps"][:, 0])
print("target positions: ", test.target_position[:6])
all_tokens, all_lengths = sk.pad_tokens([test[i][0] for i in range(len(test))])
on_target = jumpers[0].infer(all_tokens, all_lengths)["jumps"][:, 0] == test.target_position - 1
_ = say("over the {n} test sequences, {f:.1%} of the jumps land on the answer; the accuracy is "
        "{a:.1%}", n=len(test), f=on_target.mean(), a=runs[0]["accuracy"])

# %% [markdown]
# A jump of $k - 1$ from position 0 lands on position $k$: where the model is right, each jump
# is its target minus one. Token 0 holds the pointer, so the model must learn to read the
# pointer's *value* off its embedding and turn it into a jump.

# %% [markdown]
# ## 6. Where nothing says where to look
#
# `sparse_signal` is the task of lessons 03 and 04: filler tokens with one to three signal
# tokens at random positions, whose majority class is the label. To train within the page's
# minute we use sequences of 30 to 60 tokens, segments of $R = 5$, jumps of at most $K = 5$, up
# to $N = 8$ of them, and the library's recipe for this task (printed): the LSTM baseline's
# initialisation and learning-rate schedule, a policy loss weighted 0.1 so that the noisy
# policy gradient, which flows into the LSTM the classifier shares, stays small, and first
# epochs of *supervised reading* (every jump the shortest, no policy gradient), so that the
# classifier learns the task before its answers become the policy's reward: a reward from a
# classifier at chance says nothing about where to jump.

# %%
signal = load_task("sparse_signal", seed=SEED, n_train=1500, min_len=30, max_len=60)
recipe = {k: v for k, v in experiment.DEFAULTS["sparse_signal"].items()
          if k not in ("task_options", "read", "max_jump", "max_jumps")}
print("recipe:", recipe)
jumper, m_jump = sk.train_lstm_jump(signal, SEED, read=5, max_jump=5, max_jumps=8, **recipe,
                                    time_limit=None)
lstm, m_lstm = sk.train_lstm_baseline(signal, SEED, epochs=recipe["epochs"], time_limit=None)
show_table([["LSTM-Jump (N = 8)", m_jump["accuracy"], f"{m_jump['read_fraction']:.0%}",
             f"{m_jump['flops']:,.0f}"],
            ["full LSTM", m_lstm["accuracy"], "100%", f"{m_lstm['flops']:,.0f}"]],
           ["model", "test accuracy", "tokens read", "FLOPs per sequence"])

# %% [markdown]
# Which tokens did it read? Eight test sequences, signal tokens read in green and jumped over
# in red:

# %%
test_tokens, test_lengths = sk.pad_tokens([signal.test[i][0] for i in range(len(signal.test))])
positions = jumper.infer(test_tokens, test_lengths)["positions"]
figures.plot_reads(test_tokens[:8], test_lengths[:8], positions[:8],
                   signal.test.signal_positions[:8])
plt.show()
sig = signal.test.signal_positions
was_read = [np.isin(sig[b][sig[b] >= 0], positions[b]) for b in range(len(sig))]
share = np.concatenate(was_read).mean()
_ = claim(abs(share - m_jump["read_fraction"]) < 0.1, "signal tokens read: {s:.0%}, all tokens "
          "read: {a:.0%}; sequences with no signal read: {n:.0%}", s=share,
          a=m_jump["read_fraction"], n=np.mean([not r.any() for r in was_read]))

# %% [markdown]
# The policy reads about as large a share of the signal tokens as of all tokens: nothing before
# a signal says where it is, so the policy can decide *how much* to read but not *where*.
#
# $N$ is also an inference-time knob: a smaller budget caps the tokens read at $R(N+1)$, with
# the same trained model. Over the test set, for every budget:

# %%
budgets = range(9)
sweep = {n: experiment.evaluate(jumper, signal.test, max_jumps=n) for n in budgets}
show_table([[n, r["accuracy"], f"{r['read_fraction']:.0%}", f"{r['flops'] / m_lstm['flops']:.2f}"]
            for n, r in sweep.items()],
           ["budget N", "test accuracy", "tokens read", "FLOPs / full LSTM"])
_ = claim(sweep[8]["accuracy"] > sweep[0]["accuracy"] + 0.05, "accuracy {a:.3f} at N = 0, "
          "{b:.3f} at N = 8", a=sweep[0]["accuracy"], b=sweep[8]["accuracy"])

# %% [markdown]
# Accuracy climbs with the budget, and at every budget the FLOPs follow the tokens read. Now
# the measured time: the batch-1 path of every other budget (`lstm_jump_predictor`: weights
# laid out once, then the compiled loop and the head per call) against the full LSTM's on
# `tinydyn`'s fused kernel, on the same 50 test sequences, one per call. The times are one
# machine's, in warm blocks that alternate between candidates; spread is the interquartile
# range.

# %%
sequences = [np.asarray(signal.test[i][0]) for i in range(50)]
timed = (0, 2, 4, 6, 8)  # the budgets timed


def batch1(predict, sequences):
    """One call per sequence, one after the other."""
    return lambda: [predict(s) for s in sequences]


candidates = {"LSTM": batch1(sk.lstm_predictor(lstm), sequences)}
candidates |= {f"N = {n}": batch1(experiment.lstm_jump_predictor(jumper, n), sequences)
               for n in timed}
print("batch-1 time of the 50 sequences:")
timings = time_table(candidates, reference="LSTM", repeats=9, block=3, min_sample_s=0.02)

# %% [markdown]
# The kernel does only the work of the tokens it reads, so time falls with the budget as FLOPs
# do, but not in proportion. A straight line through (tokens read, time) splits each call into
# a part per token read and a part every call pays whatever it reads (the Python call, setting
# up the outputs, the head). The line is fitted to each budget's lower-quartile time, which
# other load on the machine inflates least:

# %%
padded, lens = sk.pad_tokens(sequences)
n_read = np.array([jumper.infer(padded, lens, max_jumps=n)["n_read"].mean() for n in timed])
seconds = np.array([timings[f"N = {n}"].median / 50 for n in timed])
low = np.array([timings[f"N = {n}"].q25 / 50 for n in timed])  # least inflated by other load
b_fit, a_fit = np.polyfit(n_read, low, 1)
t_lstm = timings["LSTM"].median / 50
figures.plot_call_time(n_read, low, (a_fit, b_fit), lstm=(lens.mean(), timings["LSTM"].q25 / 50))
plt.show()
_ = claim(a_fit > 0 and b_fit > 0, "per call {a:.1f} µs + {b:.2f} µs per token read; the full "
          "LSTM {l:.2f} µs per token, everything included", a=1e6 * a_fit, b=1e6 * b_fit,
          l=1e6 * t_lstm / lens.mean())

# %% [markdown]
# The fixed part $a$ is what a reader of few tokens cannot share out: the fewer tokens a call
# reads, the larger its share of the time. The realisation ratio (measured speed-up over FLOP
# speed-up, on the timed sequences) shows it:

# %%
f_lstm_timed = lstm.flops(lens).mean()
rows = []
for n, reads, t_jump in zip(timed, n_read, seconds):
    f_timed = jumper.infer(padded, lens, max_jumps=n)["flops"].mean()
    v = sk.compare({"accuracy": 0, "time_b1": t_jump}, {"accuracy": 0, "time_b1": t_lstm},
                   f_timed, f_lstm_timed)
    rows.append([n, f"{reads:.1f}", f"{v['flop_speedup']:.2f}x", f"{v['speedup']:.2f}x",
                 f"{v['realisation']:.2f}"])
show_table(rows, ["N", "tokens read", "FLOP speed-up", "measured speed-up", "realisation"])
real = [float(r[4]) for r in rows]
_ = claim(real[0] < real[-1], "realisation {a:.2f} at N = 0, {b:.2f} at N = 8", a=real[0],
          b=real[-1])

# %% [markdown]
# The realisation ratio is lowest at small $N$ and rises as more tokens share the fixed part
# (single rows can break the pattern in a noisy run; the fitted line much less so). The full
# LSTM pays a fixed part too, but spreads it over every token of the sequence.
#
# The whole trade-off, one point per budget:

# %%
figures.plot_tradeoff(
    {"LSTM-Jump (N swept)": ([sweep[n]["flops"] for n in timed], list(seconds),
                             [sweep[n]["accuracy"] for n in timed]),
     "full LSTM": ([m_lstm["flops"]], [t_lstm], [m_lstm["accuracy"]])},
    names={"LSTM-Jump (N swept)": [f"N={n}" for n in timed]})
plt.show()
gap = 100 * (m_lstm["accuracy"] - sweep[8]["accuracy"])
_ = claim(gap > 0, "the full LSTM scores {l:.3f}; LSTM-Jump at its full budget {j:.3f}, "
          "{g:.1f} points below", l=m_lstm["accuracy"], j=sweep[8]["accuracy"], g=gap)

# %% [markdown]
# On the left, each budget buys accuracy with FLOPs, and even the full budget stays below the
# LSTM; on the right, the same points against measured time, squeezed at small budgets by the
# fixed part of each call.
#
# What limits the accuracy? A reader that skips a fraction $q$ of the tokens without regard to
# what it has read misses a lone signal with probability about $q$. To measure what the unread
# tokens cost, we hand exactly the tokens LSTM-Jump read at a budget $N$ to an *oracle* that
# knows the task's label rule (and flips a coin when no signal was read): its score is about
# the best any classifier could do with those reads. (The model can land a little above it:
# the oracle counts a coin flip as half right, while the model's guesses on sequences with no
# signal read are right or wrong by luck.)

# %%
label_fn, (lo, hi) = signal.info["label_fn"], signal.info["signal_ids"]
labels = np.array([signal.test[b][1] for b in range(len(signal.test))])


def oracle(tokens_read, label):
    """A perfect classifier of what was read: the label rule, or a coin flip if no signal."""
    seen = ((tokens_read >= lo) & (tokens_read < hi)).any()
    return float(label_fn(tokens_read) == label) if seen else 0.5


oracle_at = {}
for n in (2, 4, 8):
    pos = jumper.infer(test_tokens, test_lengths, max_jumps=n)["positions"]
    oracle_at[n] = np.mean([oracle(test_tokens[b, p[p >= 0]], labels[b])
                            for b, p in enumerate(pos)])
    print(f"N = {n}: reads {sweep[n]['read_fraction']:.0%} of the tokens; the oracle scores "
          f"{oracle_at[n]:.3f}, LSTM-Jump {sweep[n]['accuracy']:.3f}")
_ = claim(oracle_at[8] < m_lstm["accuracy"], "even at N = 8 the oracle's {o:.3f} is below the "
          "full LSTM's {l:.3f}", o=oracle_at[8], l=m_lstm["accuracy"])

# %% [markdown]
# The unread tokens, not the classifier, cost most of the gap, and more training of the
# classifier cannot win them back. The policy could do better in
# one way: it sees what it has read, so it could *stop* once it has read a signal and leave its
# budget to the sequences whose signals come late. The learned policy has no reason to: its
# reward is only right or wrong, and reading on never costs it anything. Here is that stopping
# rule by hand, with the same $R = 5$, at most 8 jumps, skipping the fewest tokens it can
# ($k = 1$) until it stops:

# %%
def stop_at_first_signal(seq, read=5, max_jumps=8):
    """The positions read and decisions taken by 'stop once a signal was read, else jump 1'."""
    jumps = []
    while True:
        pos = sk.read_positions(len(seq), read, jumps)
        end = pos[-1] + 1
        if end >= len(seq) or len(jumps) == max_jumps:
            return pos, len(jumps)  # no decision left to take
        if ((seq[pos] >= lo) & (seq[pos] < hi)).any():
            return pos, len(jumps) + 1  # the last decision is k = 0: stop
        jumps.append(1)
        if end + 1 >= len(seq):
            return pos, len(jumps)  # that jump left the sequence

# %%
runs_rule = [stop_at_first_signal(test_tokens[b, :test_lengths[b]]) for b in range(len(labels))]
rule_read = sum(len(pos) for pos, _ in runs_rule) / test_lengths.sum()
rule_flops = np.mean([sk.lstm_jump_flops(len(pos), k, E, H, K, C) for pos, k in runs_rule])
rule_score = np.mean([oracle(test_tokens[b, pos], labels[b]) for b, (pos, _) in
                      enumerate(runs_rule)])
_ = claim(rule_read < sweep[4]["read_fraction"] and rule_score > oracle_at[4], "stop at the "
          "first signal: reads {r:.0%} of the tokens at {f:.0%} of the LSTM's FLOPs; the oracle "
          "scores {s:.3f} with its reads (with the learned policy's: {o4:.3f} at N = 4, {o8:.3f} "
          "at N = 8)", r=rule_read, f=rule_flops / m_lstm["flops"], s=rule_score,
          o4=oracle_at[4], o8=oracle_at[8])

# %% [markdown]
# Stopping is the better use of a budget: it reads fewer tokens than the learned policy at
# $N = 4$, yet an oracle scores higher with its reads (the `claim` checks both), close to what
# it scores with the policy's reads at $N = 8$, which are many more. A policy rewarded
# for reading less could learn it, since the signal is in its state when it decides. LSTM-Jump
# shines where the text says where to look (section 4: 2 tokens of 32); on randomly placed
# evidence, methods that *look* at every token cheaply (Skim-RNN, lesson 03) suit better.
#
# ## 7. What batching does
#
# In a batch every row stops at its own time. The kernel keeps the rows still reading in a
# contiguous block, moving the last active row into a finished row's slot (*compaction*), so
# each step's matrix product has only live rows; without it, finished rows are computed for
# nothing, as in a padded batch. The same 50 sequences, one at a time and as one batch:

# %%
def batched(model, tokens, lengths, compact):
    prepared = kernel.prepare_weights(*model.kernel_weights())
    greedy = np.zeros((len(tokens), 0))
    return lambda: kernel.run_prepared(tokens, lengths, prepared, model.read, model.max_jumps,
                                       greedy, compact)


# %%
speedup = {}
for name, task, model in (("pointer_text", pointers[0], jumpers[0]),
                          ("sparse_signal", signal, jumper)):
    seqs = [np.asarray(task.test[i][0]) for i in range(50)]
    tokens, lengths = sk.pad_tokens(seqs)
    reads = model.infer(tokens, lengths)["n_read"]
    print(f"{name}: reads {reads.min()} to {reads.max()} tokens; time of the 50 sequences:")
    t = time_table({"batch-1": batch1(experiment.lstm_jump_predictor(model), seqs),
                    "batch of 50, compacted": batched(model, tokens, lengths, True),
                    "batch of 50, not compacted": batched(model, tokens, lengths, False)},
                   repeats=9, block=3, min_sample_s=0.02)
    batched_t = t["batch of 50, compacted"].median
    speedup[name] = (t["batch-1"].median / batched_t,
                     t["batch of 50, not compacted"].median / batched_t)
(batch_p, compact_p), (batch_s, compact_s) = speedup["pointer_text"], speedup["sparse_signal"]
_ = claim(batch_p > batch_s and compact_s > 1, "batching 50 sequences: {a:.1f}x on pointer_text, "
          "{b:.1f}x on sparse_signal; compaction {c:.2f}x on sparse_signal", a=batch_p, b=batch_s,
          c=compact_s)

# %% [markdown]
# Batching amortises the cost of a call, most where a call does least: on `pointer_text`,
# 2 tokens per sequence, the batch-1 time is nearly all call overhead. Compaction pays when
# rows read different numbers of tokens, as on `sparse_signal`; on `pointer_text` every row
# reads 2 tokens, so there is nothing to compact, and the two batched times differ by
# bookkeeping and noise.

# %% [markdown]
# ## Exercise 05
#
# Open `exercises/05_lstm_jump/student.py` and write:
#
# * `read_positions(length, read, jumps)` — section 1's rule (mind the `p + k + 1`);
# * `sample_jump(logits, u)` — a jump from a stable softmax, by inverting its CDF at `u`;
# * `reinforce_loss(log_probs, rewards, baselines, mask)` and `reinforce_grads(...)` —
#   section 2's two losses and their gradients by hand.
#
# Grade them from the repository root with `tinydyn grade 05`.
