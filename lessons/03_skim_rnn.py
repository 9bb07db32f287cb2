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
# # Lesson 03 — Skim-RNN
#
# A person reading a review does not give every word the same attention: "the", "of" and
# "movie" get a glance, "dreadful" gets read. **Skim-RNN** (Seo, Min, Farhadi and Hajishirzi,
# *Neural Speed Reading via Skim-RNN*, ICLR 2018) builds that into a recurrent network: at
# every token a tiny classifier decides to **read** it with a big LSTM cell or to **skim** it
# with a small one. The paper's claim: Skim-RNN "can achieve significantly reduced
# computational cost without losing accuracy compared to standard RNNs", and the trade-off
# "can be dynamically controlled during inference time".

# %% [markdown]
# What you will see:
#
# 1. two cells sharing one state, and what each step costs;
# 2. the Gumbel-max trick and its relaxation, on a few numbers;
# 3. one skim step by hand, checked against `tinydyn`;
# 4. the properties that pin the model down;
# 5. the loss with its penalty, one optimiser step written out, and training;
# 6. which tokens the trained model skims, and the hard inference loop that decides;
# 7. where the FLOPs go, and why reading few tokens does not make them vanish;
# 8. the threshold knob, and what a skim step costs in time;
# 9. batches, and the padding trap;
# 10. the trade-off in one place, and the exercise.

# %%
import inspect

import matplotlib.pyplot as plt
import numpy as np

import tinydyn as td
from tinydyn.course.figures import skim_rnn as figures
from tinydyn.course.notebook import claim, pin_threads, plot_curve, say, show_table, time_table
from tinydyn.data import load_task
from tinydyn.dynamic import skimming
from tinydyn.dynamic.skimming.skim_rnn_experiment import RECIPE
from tinydyn.kernels.skim_rnn import skim_hard_numpy
from tinydyn.measure import lstm_cell_flops
from tinydyn.nn import functional as F
from tinydyn.optim import Adam, clip_grad_norm_

pin_threads(1)  # this page times code: one BLAS and one Numba thread make timings repeatable
np.set_printoptions(precision=4, suppress=True)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. Two cells, one state
#
# Write $x_t \in \mathbb{R}^{d_x}$ for the input at step $t$ and $(h, c)$ for the LSTM state of
# size $d$. Both cells read $[x_t; h_{t-1}]$. The **big cell** $f$ (hidden size $d$) updates
# all $d$ dimensions; the **small cell** $f'$ (hidden size $d' \ll d$) computes $d'$ units,
# which replace the *first* $d'$ dimensions, and the rest is copied:
#
# $$h_t = \begin{cases} f(x_t, h_{t-1}) & \text{read} \\
#   \big[\, f'(x_t, h_{t-1});\ h_{t-1}[d':d] \,\big] & \text{skim} \end{cases}$$
#
# ($c$ follows the same rule). The decision is a two-way softmax on the same input,
# $p_t = \mathrm{softmax}(W_s [x_t; h_{t-1}] + b_s)$ over {read, skim}. The copied tail is a
# memory skimmed tokens cannot disturb; the first $d'$ dimensions are a scratchpad the small
# cell keeps up to date.

# %% [markdown]
# What a step costs: a multiply-add is 2 FLOPs, so the matrix products are
# $2 \cdot 4d\,(d_x + d)$ for the big cell, $2 \cdot 4d'(d_x + d)$ for the small one and
# $2 \cdot 2\,(d_x + d)$ for the decision. `tinydyn` adds the small extras: 13 FLOPs per LSTM
# unit (4 biases, 3 sigmoids, 2 tanh, 3 products, 1 sum) and 6 for the decision (2 biases, the
# two-way softmax and the comparison).

# %%
d_x, d, d_small = 32, 64, 8
cost = {"read (big cell)": lstm_cell_flops(d_x, d),
        "skim (small cell)": skimming.small_cell_flops(d_x, d, d_small),
        "decision": skimming.decision_flops(d_x, d)}
products = [2 * 4 * d * (d_x + d), 2 * 4 * d_small * (d_x + d), 2 * 2 * (d_x + d)]
extras = [13 * d, 13 * d_small, 2 + 4]
assert list(cost.values()) == [p + e for p, e in zip(products, extras)]
read_cost, skim_cost, decide_cost = cost.values()
show_table([[name, c, p, e, f"{c / read_cost:.1%}"]
            for (name, c), p, e in zip(cost.items(), products, extras)],
           ["step", "FLOPs", "products", "extras", "of a read"])
say("Skimming every token would still cost {floor:.1%} of reading every token: the small "
    "cell is d'/d = {ratio:.1%} of the big one, plus the decision.",
    floor=(skim_cost + decide_cost) / read_cost, ratio=d_small / d)

# %% [markdown]
# Keep that floor in mind: however few tokens a trained model reads, it cannot spend less than
# that share of the LSTM's FLOPs (section 7 takes a trained model apart this way).

# %% [markdown]
# ## 2. A discrete choice you can train: the Gumbel-max trick
#
# Training needs a *sample* of read-or-skim from $p_t$ at each step, and a gradient through
# it. The **Gumbel-max trick** turns sampling into an argmax: draw $g_i = -\log(-\log u_i)$
# with $u_i$ uniform on (0, 1), independently for each choice $i$; then
# $\arg\max_i\,(l_i + g_i)$ is distributed as $\mathrm{softmax}(l)$. On three logits:

# %%
logits3 = np.array([2.0, 0.5, -1.0])
u = rng.random(size=(100_000, 3))
g = -np.log(-np.log(u))                      # standard Gumbel noise
winners = np.argmax(logits3 + g, axis=1)
frequency = np.bincount(winners, minlength=3) / len(winners)
softmax3 = np.exp(logits3) / np.exp(logits3).sum()
show_table([[f"choice {i}", logits3[i], softmax3[i], frequency[i]] for i in range(3)],
           ["", "logit", "softmax", "argmax frequency"])
assert np.abs(frequency - softmax3).max() < 0.01  # 100 000 draws: the error is ~0.0015

# %% [markdown]
# The argmax frequencies match the softmax to within sampling noise. Why: a standard Gumbel
# variable has distribution function $F(x) = e^{-e^{-x}}$ and density $e^{-x}F(x)$. Choice $k$
# wins when every other $l_i + g_i$ lies below $l_k + g_k = x$:
#
# $$P(k) = \int e^{-(x - l_k)} \prod_i F(x - l_i)\,dx
#        = e^{l_k}\!\int e^{-x} \exp\!\big(-e^{-x} Z\big)\,dx = \frac{e^{l_k}}{Z},
#        \qquad Z = \textstyle\sum_i e^{l_i},$$
#
# since $\prod_i F(x - l_i) = \exp(-e^{-x} \sum_i e^{l_i})$ and the last integral is $1/Z$
# (substitute $s = Z e^{-x}$).

# %% [markdown]
# An argmax has no useful gradient: nudge a logit and the winner does not change, so its
# derivative is 0 almost everywhere. The **Gumbel-softmax** relaxation (`td.gumbel_softmax`)
# replaces the argmax by a softmax at temperature $\tau$,
#
# $$y = \mathrm{softmax}\big((l + g)/\tau\big),$$
#
# which is smooth in $l$ and tends to the one-hot of the argmax as $\tau \to 0$. For two
# choices, $\partial y_\text{skim}/\partial l_\text{skim} = y_\text{skim}(1 - y_\text{skim})
# /\tau$. Below, one fixed draw of the noise with $p(\text{skim}) = 0.3$: the autograd
# gradient, the formula and a finite difference, and the finite difference of the argmax.

# %%
logits = np.log([0.7, 0.3])          # (read, skim)
noise = np.array([0.1, 0.6])         # one draw of g, fixed: l + g still prefers read


def y_skim(nudge, tau):
    return td.gumbel_softmax(td.tensor(logits + [0, nudge]), tau=tau, noise=noise).data[1]


rows = []
for tau in (5.0, 1.0, 0.5, 0.1):
    l = td.tensor(logits, requires_grad=True)
    y = td.gumbel_softmax(l, tau=tau, noise=noise)
    y[1].backward()
    finite = (y_skim(1e-6, tau) - y_skim(-1e-6, tau)) / 2e-6
    argmax_step = float(np.argmax(logits + [0, 1e-6] + noise) != np.argmax(logits + noise))
    rows.append([tau, y.data[1], l.grad.data[1], y.data[1] * (1 - y.data[1]) / tau, finite,
                 argmax_step / 2e-6])
show_table(rows, ["tau", "y(skim)", "autograd", "y(1-y)/tau", "finite diff", "argmax diff"])

# %% [markdown]
# Every temperature gives a gradient where the argmax gives 0. The temperature is a trade:
# at a high $\tau$ the sample is a blend near 1/2 whatever $p$ is (smooth, but a poor stand-in
# for a decision); at a low $\tau$ it is nearly one-hot, and its gradient is large for samples
# near the boundary and almost 0 for the others (faithful, but noisy). Over many draws of the
# noise, with the same $p(\text{skim}) = 0.3$:

# %%
fig = figures.plot_gumbel_samples(logits, taus=(5.0, 1.0, 0.2), rng=rng)

# %% [markdown]
# At $\tau = 5$ every sample sits near 1/2; at $\tau = 0.2$ nearly all are 0 or 1. The fraction
# above 1/2 is the same in every panel, about $p(\text{skim})$: it is the argmax, which $\tau$
# does not change. Training therefore starts warm and cools down.
#
# **Straight-through**: the forward pass uses the one-hot of the argmax, an exact sample, and
# the backward pass uses the gradient of the soft $y$, as if the one-hot had been $y$:

# %%
l = td.tensor(logits, requires_grad=True)
y_hard = td.gumbel_softmax(l, tau=0.5, hard=True, noise=noise)
y_hard[1].backward()
print("forward value:", y_hard.data, "  gradient d y(skim) / d l:", l.grad.data)
print("the soft sample's gradient at tau 0.5:", rows[2][2])
assert np.isclose(l.grad.data[1], rows[2][2])

# %% [markdown]
# The value is a one-hot, an exact sample, yet the gradient is the soft sample's: this is how
# a hard read-or-skim decision gets trained.
#
# ## 3. One skim step by hand
#
# A training step of Skim-RNN runs **both** cells, samples the decision $r_t$ with the
# straight-through Gumbel-softmax, and mixes the two candidates:
# $h_t = r_t^\text{read}\, h_t^\text{read} + r_t^\text{skim}\, h_t^\text{skim}$. So training
# saves nothing: the savings come at inference. First an LSTM cell in NumPy (gates i, f, g, o):

# %%
def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def lstm_cell(z, c_prev):
    """Pre-activations z (B, 4H) and the previous cell state (B, H) -> (h, c)."""
    H = z.shape[1] // 4
    i, f, o = sigmoid(z[:, :H]), sigmoid(z[:, H:2 * H]), sigmoid(z[:, 3 * H:])
    c = f * c_prev + i * np.tanh(z[:, 2 * H:3 * H])
    return o * np.tanh(c), c


# %% [markdown]
# Then the step for a batch of 4, with the weights of a `tinydyn` layer:

# %%
layer = skimming.SkimLSTM(d_x, d, d_small, rng=rng)   # float32, as trained below
W = {name: p.data for name, p in layer.named_parameters()}
x, h, c = (rng.normal(size=shape).astype(np.float32) for shape in ((4, d_x), (4, d), (4, d)))
g, tau = rng.gumbel(size=(4, 2)).astype(np.float32), 0.5

h_read, c_read = lstm_cell(x @ W["weight_ih"].T + h @ W["weight_hh"].T + W["bias"], c)
h_s, c_s = lstm_cell(x @ W["small_weight_ih"].T + h @ W["small_weight_hh"].T + W["small_bias"],
                     c[:, :d_small])
h_skim = np.concatenate([h_s, h[:, d_small:]], axis=1)            # the tail is copied
l_dec = np.concatenate([x, h], axis=1) @ W["decision_weight"].T + W["decision_bias"]
logp = l_dec - np.log(np.exp(l_dec).sum(axis=1, keepdims=True))   # log p_t
r = np.eye(2)[np.argmax(logp + g, axis=1)]   # the straight-through forward: a one-hot sample
h_new = r[:, :1] * h_read + r[:, 1:] * h_skim
print("p(skim):  ", np.exp(logp[:, 1]))
print("decision: ", np.where(r[:, 1] == 1, "skim", "read"))

_, h_td, *_ = skimming.skim_rnn(td.tensor(x[:, None]), td.tensor(h), td.tensor(c),
                                *layer.parameters(), tau=tau, hard=True, noise=g[:, None])
claim(np.abs(h_td.data - h_new).max() < 1e-5, "largest difference from tinydyn's skim_rnn: "
      "{e:.1e}, float32 rounding", e=np.abs(h_td.data - h_new).max())

# %% [markdown]
# The hand step and `tinydyn.dynamic.skimming.skim_rnn` agree to rounding. (The argmax of
# $(\log p + g)/\tau$ is that of $\log p + g$: the temperature only matters for the gradient.)
#
# ## 4. The properties that pin the model down
#
# Two checks that the code means what the equations say: forced to read every token,
# Skim-RNN *is* the big LSTM; forced to skim every token, dimensions $d'..d$ never change.

# %%
xs = td.tensor(rng.normal(size=(3, 20, d_x)).astype(np.float32))
h0 = td.tensor(rng.normal(size=(3, d)).astype(np.float32))
hs_read, *_ = skimming.skim_rnn(xs, h0, None, *layer.parameters(), force=np.zeros((3, 20), int))
hs_lstm, *_ = td.lstm(xs, h0, None, layer.weight_ih, layer.weight_hh, layer.bias)
read_gap = np.abs(hs_read.data - hs_lstm.data).max()
hs_skim, *_ = skimming.skim_rnn(xs, h0, None, *layer.parameters(), force=np.ones((3, 20), int))
moved = np.abs(hs_skim.data - h0.data[:, None]).max(axis=(0, 1))
claim(read_gap < 1e-5, "forced read: the states equal td.lstm's to float32 rounding (largest "
      "difference {gap:.1e})", gap=read_gap)
claim(moved[d_small:].max() == 0 and moved[:d_small].min() > 0,
      "forced skim: dims 0..{a} move (by up to {m:.2f}); dims {b}..{c} stay exactly as they were",
      a=d_small - 1, m=moved[:d_small].max(), b=d_small, c=d - 1)

# %% [markdown]
# The first check ties every read step to a plain LSTM; the second shows the tail is copied
# exactly, not approximately: skimmed tokens cannot touch it.
#
# ## 5. The loss, one optimiser step, and training
#
# The task: sequences of filler tokens with one to three *signal* tokens; the label is the
# majority class of the signal tokens. A good reader reads the signal and skims the filler.
# The loss is the cross-entropy plus a skim encouragement, the paper's
# $\gamma \cdot \frac{1}{T}\sum_t -\log p_t(\text{skim})$: without it nothing pushes the model
# to skim, since reading is never worse for accuracy. Here is the penalty in `tinydyn`:

# %%
print(inspect.getsource(skimming.skim_penalty))

# %% [markdown]
# The mask keeps padding steps out of the mean, so a long sequence and a short one are encouraged
# alike per token. A small version of the task keeps this page under a minute: 800 training
# sequences of 20 to 60 tokens. Here is one training step written out — the loss with its penalty,
# the backward pass, gradient clipping and one Adam step — for a fresh model on one batch:

# %%
task = load_task("sparse_signal", seed=0, n_train=800, n_val=50, n_test=300, min_len=20,
                 max_len=60)
gamma = 0.1
model = skimming.SkimRNNClassifier(task.vocab_size, task.num_classes, d_x, d, d_small,
                                   rng=np.random.default_rng(0))
opt = Adam(model.parameters(), lr=RECIPE["lr"])
batches = skimming.make_loader(task.train, batch_size=32, seed=0, shuffle=True)
tokens, mask, lengths, labels = next(iter(batches))
model.train()
logits_b, (logp_b, r_b) = model(tokens, mask)   # both cells run; r is a one-hot sample
ce = F.cross_entropy(logits_b, labels)
penalty = skimming.skim_penalty(logp_b, mask.data)
loss = ce + gamma * penalty
opt.zero_grad()
loss.backward()
clip_grad_norm_(model.parameters(), 1.0)
bias, grad = model.skim.decision_bias, model.skim.decision_bias.grad.data.copy()
before = bias.data.copy()
opt.step()
print(f"cross-entropy {ce.data:.4f} + {gamma} x penalty {penalty.data:.4f} = {loss.data:.4f}")

# %% [markdown]
# Adam keeps running means of the gradient, $m \leftarrow \beta_1 m + (1-\beta_1) g$, and of
# its square, $v \leftarrow \beta_2 v + (1-\beta_2) g^2$, corrects their bias towards the zero
# start, and moves each weight by $\eta\, \hat m / (\sqrt{\hat v} + \epsilon)$. At the first
# step $\hat m = g$ and $\hat v = g^2$, so each weight moves by $\eta$ against the sign of its
# gradient. For the decision bias (read, skim):

# %%
options = opt.param_groups[0]
(beta1, beta2), eps, lr = options["betas"], options["eps"], options["lr"]
m, v = (1 - beta1) * grad, (1 - beta2) * grad**2
m_hat, v_hat = m / (1 - beta1), v / (1 - beta2)
by_hand = before - lr * m_hat / (np.sqrt(v_hat) + eps)
print("gradient:", grad, " step by hand:", by_hand - before, " Adam's:", bias.data - before)
assert np.allclose(by_hand, bias.data, rtol=0, atol=1e-7)

# %% [markdown]
# `train_skim_rnn` repeats this step over the data (the loop is
# `tinydyn.dynamic.skimming.fit`), lowering $\tau$ from 1 to 0.5 as it goes. Both models, the
# Skim-RNN and an LSTM of the same size ($d = 64$), are trained with the recipe the library
# uses to make its LSTM baseline strong: chrono initialisation of the big cell's gate biases,
# and a learning rate that warms up, then decays along a cosine. One seed here;
# `tinydyn bench skimming` trains the full task over several.

# %%
print("recipe:", RECIPE)
lstm_model, lstm_metrics = skimming.train_lstm_baseline(task, seed=0, time_limit=None, **RECIPE)
model, info = skimming.train_skim_rnn(task, seed=0, small_size=d_small, gamma=gamma,
                                      time_limit=None, **RECIPE)
skim_metrics = skimming.evaluate_skim_rnn(model, task.test)
show_table([["full LSTM", lstm_metrics["accuracy"], round(lstm_metrics["flops"]), "100%"],
            ["Skim-RNN", skim_metrics["accuracy"], round(skim_metrics["flops"]),
             f"{skim_metrics['read_rate']:.1%}"]],
           ["", "test accuracy", "FLOPs per sequence", "tokens read"])
chance = 1 / task.num_classes
claim(min(lstm_metrics["accuracy"], skim_metrics["accuracy"]) > chance + 0.1,
      "Both models learned the task: their accuracies are well above chance ({c:.0%}).", c=chance)

# %% [markdown]
# The accuracies and the gap between them are one seed's; the only thing asserted is what
# holds across seeds, that both models learn. How training went (loss per step, and the share
# of tokens the straight-through samples read):

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3))
plot_curve(info["train"]["loss"], ylabel="cross-entropy + penalty", ax=axes[0])
plot_curve(info["train"]["read_rate"], ylabel="fraction of tokens read", ax=axes[1])
read_rate, loss_log = np.array(info["train"]["read_rate"]), info["train"]["loss"]
say("The loss went from {a:.2f} to {b:.2f}. The sampled read rate started at {c:.0%}, fell to "
    "{d:.1%} at step {e} and ended at {f:.1%}.", a=loss_log[0], b=loss_log[-1], c=read_rate[0],
    d=read_rate.min(), e=read_rate.argmin() + 1, f=read_rate[-1])
claim(read_rate[-1] > skim_metrics["read_rate"],
      "The last sampled read rate is above the {r:.1%} the hard path reads at test time.",
      r=skim_metrics["read_rate"])

# %% [markdown]
# The penalty pulls the read rate down from the first steps, before the model knows anything;
# the cross-entropy pulls back wherever skimming loses the label. The sampled rate stays above
# the test-time one because training samples decisions: a token with $p(\text{skim}) = 0.8$
# is still read one time in five, while at test time it is always skimmed.

# %% [markdown]
# ## 6. What the model decided
#
# At inference nothing is sampled and nothing is mixed: a token is skimmed when
# $p_t(\text{skim}) > $ *threshold* (1/2 is the argmax), and only the chosen cell runs.
# `model.infer` runs a compiled loop; its NumPy twin below does the same work and is easier to
# read. It is shown whole because the loop is the point: at each step it splits the live rows
# into a read group and a skim group, and runs each group through its own cell only. (The
# weights arrive pre-laid out: each cell's two matrices joined on $[x; h]$, gate rows scaled
# so that one `exp` serves sigmoid and tanh, and the decision reduced to
# $l_\text{skim} - l_\text{read}$ compared with `cut` $= \mathrm{logit}(\text{threshold})$.)

# %%
print(inspect.getsource(skim_hard_numpy))

# %% [markdown]
# Note the two groups: the read rows go through `w_big` and write all of $h$ and $c$, the skim
# rows through `w_small` and write only their first $d'$ = `H` dimensions.
#
# Each square below is one token of a test sequence: red was read by the big cell, grey
# skimmed by the small one; signal tokens carry a black frame.

# %%
shown, shown_lengths = skimming.pad_tokens([task.test[i][0] for i in range(5)])
out = model.infer(shown, shown_lengths)
lo, hi = task.info["signal_ids"]
fig = figures.plot_skim_tokens(shown, shown_lengths, out["skims"], (shown >= lo) & (shown < hi),
                               labels=[task.test[i][1] for i in range(5)])

# %% [markdown]
# Look at where the red squares fall against the framed signal tokens, and at the read counts
# on the left. Over the whole test set, how often each kind of token was read:

# %%
test_tokens, test_lengths = skimming.pad_tokens([seq for seq, _ in task.test])
decided = model.infer(test_tokens, test_lengths)["skims"]
real = np.arange(test_tokens.shape[1])[None] < test_lengths[:, None]
signal = (test_tokens >= lo) & (test_tokens < hi)
signal_read = (~decided & signal).sum() / signal.sum()
filler_read = (~decided & real & ~signal).sum() / (real & ~signal).sum()
claim(signal_read > 5 * filler_read,
      "Signal tokens were read {s:.0%} of the time, filler tokens {f:.1%}: the model learned "
      "which tokens matter.", s=signal_read, f=filler_read)

# %% [markdown]
# Nothing told the model which tokens are signal; the penalty pushed it to skim, and the
# cross-entropy taught it where skimming costs accuracy. A skimmed signal token is not
# necessarily lost: the small cell still sees it and can note it in the first $d'$ dimensions.
#
# ## 7. Where the FLOPs go
#
# With a read rate $r$, a token costs on average $r \cdot \text{read} + (1 - r) \cdot
# \text{skim} + \text{decision}$, against one read for the LSTM. The decision runs on every
# token and the small cell on every token not read, so together they set a floor that no read
# rate goes below. The measured FLOPs per sequence follow this formula:

# %%
r = skim_metrics["read_rate"]
parts = {"big cell": r * read_cost, "small cell": (1 - r) * skim_cost, "decision": decide_cost}
measured = skim_metrics["flops"] / lstm_metrics["flops"]
show_table([[name, f"{flops / read_cost:.1%}"] for name, flops in parts.items()]
           + [["formula, total", f"{sum(parts.values()) / read_cost:.1%}"],
              ["measured FLOPs / LSTM's", f"{measured:.1%}"]], ["part", "of the LSTM's FLOPs"])
assert abs(sum(parts.values()) / read_cost - measured) < 0.002  # the head is all that differs
fig = figures.plot_flop_shares(read_cost, skim_cost, decide_cost, read_rate=r)

# %% [markdown]
# The grey band is the small cell, the orange one the decision; red is the share the read rate
# controls. Reading fewer tokens moves the dot left along a line that ends at the floor, not
# at zero: to go lower one needs a smaller $d'$, which leaves less room for the scratchpad.
# So the FLOP saving of Skim-RNN is bounded by about $d/d'$, here 8x, however little it reads.

# %% [markdown]
# ## 8. The threshold knob, and measured time
#
# The threshold trades accuracy for cost after training: lower skims more, 1 reads every
# token with the big cell. One trained model gives a whole curve. FLOPs are counted; time is
# measured at batch 1 (one sequence at a time, as a server answering single requests would),
# against `tinydyn`'s fused LSTM kernel on the same 20 test sequences. Times are this
# machine's, measured in one run: samples of at least 20 ms, in alternating warm blocks so
# that a change in load hits every candidate alike.

# %%
thresholds = (0.0, 0.3, 0.5, 0.9, 1.0)
timed = [task.test[i][0] for i in range(20)]
timed_tokens, timed_lengths = skimming.pad_tokens(timed)


def one_at_a_time(predict):
    return lambda: [predict(seq) for seq in timed]


candidates = {"LSTM": one_at_a_time(skimming.lstm_predictor(lstm_model))}
candidates.update({f"threshold {t:g}": one_at_a_time(model.predictor(t)) for t in thresholds})
timings = time_table(candidates, repeats=15, block=5, min_sample_s=0.02)

# %% [markdown]
# Each time is for all 20 sequences, one after another; the spread is the interquartile range over
# the samples, relative to the median. The **realisation ratio** is the measured speed-up divided by
# the FLOP speed-up on the same sequences: 1 would mean every FLOP saved is time saved.

# %%
lstm_flops_timed = lstm_model.flops(timed_lengths).mean()
sweep = []
for t in thresholds:
    metrics = skimming.evaluate_skim_rnn(model, task.test, t)
    flop_speedup = lstm_flops_timed / model.infer(timed_tokens, timed_lengths, t)["flops"].mean()
    speedup = timings["LSTM"].median / timings[f"threshold {t:g}"].median
    sweep.append({"threshold": t, "seconds": timings[f"threshold {t:g}"].median / len(timed),
                  "speedup": speedup, "flop_speedup": flop_speedup,
                  "realisation": speedup / flop_speedup, **metrics})
show_table([[s["threshold"], s["accuracy"], f"{s['read_rate']:.1%}", f"{s['flop_speedup']:.2f}x",
             f"{s['speedup']:.2f}x", f"{s['realisation']:.2f}"] for s in sweep],
           ["threshold", "accuracy", "read", "FLOP speed-up", "speed-up", "realisation"])

# %%
lstm_point = {"accuracy": lstm_metrics["accuracy"], "flops": lstm_metrics["flops"],
              "seconds": timings["LSTM"].median / len(timed)}
fig = figures.plot_threshold_tradeoff(sweep, lstm_point)

# %% [markdown]
# Moving the threshold walks along one curve: threshold 0 skims every token, threshold 1 reads
# every token with the big cell. That last point does the LSTM's work plus a decision per
# token, so its time against the LSTM's compares the two loops themselves rather than
# skimming. And its accuracy need not match the LSTM's: the model was *trained* to skim, so
# its big cell never learned to digest filler.

# %%
argmax = next(s for s in sweep if s["threshold"] == 0.5)
say("At the argmax threshold, {f:.2f}x fewer FLOPs became a {s:.2f}x speed-up over the LSTM "
    "in this run: a realisation of {q:.2f}.", f=argmax["flop_speedup"], s=argmax["speedup"],
    q=argmax["realisation"])

# %% [markdown]
# Why time and FLOPs part ways. Two effects pull in opposite directions. Every step pays
# fixed costs a FLOP count does not see — the decision's dot product, gathering $[x_t; h]$,
# the gate nonlinearities, the loop — and they weigh more in a small skim step than in a read
# step. But a skim step also reads far fewer weights: a matrix small enough to stay in the
# processor's fastest cache is multiplied faster per FLOP than one that is not. To see the
# net effect per step, time the hard loop on one long sequence (so per-call costs vanish),
# once with every step read and once with every step skimmed:

# %%
hard_w = model.skim.hard_weights()          # laid out once, as the predictors do
x_long = model.embed.weight.data[np.concatenate(timed)[None]]   # the 20 sequences end to end
n_long = np.array([x_long.shape[1]])
step_timings = time_table(
    {"every step read": lambda: model.skim.hard_forward(x_long, n_long, 1.0, hard_w),
     "every step skimmed": lambda: model.skim.hard_forward(x_long, n_long, 0.0, hard_w)},
    repeats=15, block=5, min_sample_s=0.02)
time_share = step_timings["every step skimmed"].median / step_timings["every step read"].median
flop_share = (skim_cost + decide_cost) / (read_cost + decide_cost)
say("Weights: {a:,} bytes for the big cell, {b:,} for the small one. A skim step took {t:.0%} "
    "of a read step's time and costs {f:.0%} of its FLOPs: in this run, relative to a read, a "
    "skim step was {w} in time than in FLOPs.", a=hard_w[0].nbytes, b=hard_w[2].nbytes,
    t=time_share, f=flop_share, w="dearer" if time_share > flop_share else "cheaper")

# %% [markdown]
# This per-step share is what sets the realisation ratio: a model that skims most tokens gets
# roughly the speed-up $1/(r + (1 - r)\,s_\text{time})$ where the FLOP count promises
# $1/(r + (1 - r)\,s_\text{FLOPs})$, with $s$ the skim step's share. Both shares are
# properties of the machine and the loop as much as of the model, which is why a FLOP count
# alone cannot promise a speed-up.

# %% [markdown]
# ## 9. Batches
#
# In a batch the rows take different paths at each step. Run densely, both cells would run on
# every row (the training computation) and save nothing; `tinydyn`'s hard loop instead runs
# each group of rows through its own cell, as the NumPy twin above does. Batching helps both
# sides: per-step fixed costs are shared by the rows, and each loaded weight serves several.
#
# A batched comparison has a trap. The fused LSTM kernel runs every row of a padded batch to
# the batch's *longest* sequence, while the hard skim loop drops a row as soon as it ends. So
# we count the FLOPs the LSTM really computes, padding included, and time two layouts of the
# same 20 sequences: one padded batch, and two batches of 10 sorted by length (how a server
# would bucket requests to cut padding). The Skim-RNN uses the argmax threshold.

# %%
order = np.argsort(timed_lengths, kind="stable")
layouts = {"1 batch of 20": [np.arange(20)], "2 batches of 10 by length": np.split(order, 2)}
head_flops = lstm_model.flops([0])[0]       # the head alone: a sequence of no steps
batched, lstm_computed = {}, {}
for name, groups in layouts.items():
    batches = [skimming.pad_tokens([timed[i] for i in rows]) for rows in groups]
    batched[f"LSTM, {name}"] = lambda b=batches: [skimming.lstm_batched(lstm_model, *p) for p in b]
    batched[f"Skim-RNN, {name}"] = lambda b=batches: [model.infer(*p, 0.5, hard_w) for p in b]
    lstm_computed[name] = sum(p.size for p, _ in batches) * read_cost + 20 * head_flops
batch_timings = time_table(batched, repeats=15, block=5, min_sample_s=0.02)

# %% [markdown]
# The same ratios as before, now against the FLOPs each side computes:

# %%
skim_flops = model.infer(timed_tokens, timed_lengths)["flops"].sum()   # real steps only
real_flops = lstm_model.flops(timed_lengths).sum()
batch_rows = {"batch 1": (0.0, argmax["flop_speedup"], argmax["speedup"])}
for name in layouts:
    speedup = batch_timings[f"LSTM, {name}"].median / batch_timings[f"Skim-RNN, {name}"].median
    batch_rows[name] = (lstm_computed[name] / real_flops - 1,
                        lstm_computed[name] / skim_flops, speedup)
show_table([[name, f"{pad:.0%}", f"{fs:.2f}x", f"{s:.2f}x", f"{s / fs:.2f}"]
            for name, (pad, fs, s) in batch_rows.items()],
           ["layout", "LSTM padding", "FLOP speed-up", "speed-up", "realisation"])
b1, sorted_b = batch_rows["batch 1"], batch_rows["2 batches of 10 by length"]
say("In length-sorted batches the realisation was {a:.2f}, {cmp} batch 1's {b:.2f}.",
    a=sorted_b[2] / sorted_b[1], b=b1[2] / b1[1],
    cmp="above" if sorted_b[2] / sorted_b[1] > b1[2] / b1[1] else "below")

# %% [markdown]
# Two effects mix in the speed-up column, and the padding column pulls them apart. Padding is
# exact, not measured: in one batch of 20 every row runs to the longest sequence, so part of
# any speed-up there is the LSTM's wasted work, not skimming. The realisation ratio, computed
# against the FLOPs each side computes, is not fooled by padding. Whether batching raises it
# depends on two pulls: the skim loop's fixed costs are shared by more rows, but at a low read
# rate its read group at a step is usually zero or one row, and its skim products have only
# $4d'$ outputs per row, so they gain less from the batch than the LSTM's dense product. It is
# a ratio of two timings: read the sentence above as this run's.
#
# ## 10. The trade-off, in one place

# %%
say("Skim-RNN (d = {d}, d' = {ds}) at the argmax threshold, against the LSTM of the same "
    "size, on this run:\n"
    "  accuracy {a:.3f} against {b:.3f}, reading {r:.1%} of the tokens;\n"
    "  FLOPs {f:.1%} of the LSTM's (the floor of skimming everything is {fl:.1%});\n"
    "  time {s:.2f}x faster at batch 1, realising {q:.2f} of the FLOP speed-up; {sb:.2f}x in "
    "length-sorted batches of 10.", d=d, ds=d_small, a=argmax["accuracy"],
    b=lstm_metrics["accuracy"], r=argmax["read_rate"], f=1 / argmax["flop_speedup"],
    fl=(skim_cost + decide_cost) / read_cost, s=argmax["speedup"], q=argmax["realisation"],
    sb=sorted_b[2])

# %% [markdown]
# Skim-RNN learned to read the few tokens that matter and skim the rest, so its FLOPs fall
# towards a floor set by the small cell and the decision, which every token pays. How much of
# that saving becomes time depends on what a skim step costs *in time* relative to a read on
# the machine at hand (section 8), and, in batches, on padding and on how well each group's
# product uses the batch (section 9). The threshold moves one trained model along its
# trade-off curve, as the paper claims.

# %% [markdown]
# **Differs from the paper.** The paper evaluates on five natural-language tasks; this page
# uses a synthetic task whose important tokens are known, so the decisions can be checked.
# Here the temperature falls geometrically from 1 to 0.5 over a few hundred steps, a far shorter
# schedule than the paper's long training runs.

# %% [markdown]
# ## Exercise 03
#
# Open `exercises/03_skim_rnn/student.py` and write two pieces of this lesson yourself:
#
# * `skim_step(x, h, c, w_big, b_big, w_small, b_small, w_dec, b_dec, gumbel_noise, tau,
#   hard)` — section 3's training step, with each cell's weights given as one matrix on
#   $[x; h]$: it returns the new state and the decision weights (the soft Gumbel-softmax
#   sample, or its one-hot with `hard`);
# * `skim_inference(xs, h0, c0, ..., threshold)` — section 6's hard loop over one sequence: at
#   each token compute $p(\text{skim})$, run *only* the chosen cell, and return the final state
#   and which tokens were skimmed.
#
# The Gumbel noise is given to you, so your step is deterministic and graded against the
# library's on stored inputs. Grade it from the repository root with `tinydyn grade 03`.
