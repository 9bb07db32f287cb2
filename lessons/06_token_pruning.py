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
# # Lesson 06 — Token pruning in Transformers: LTP and Transkimmer
#
# A Transformer spends the same computation on every token in every layer, and attention costs
# grow with the *square* of the number of tokens. **Token pruning** drops tokens that matter
# little as the input climbs the layers, so every later layer runs on a shorter sequence.
#
# * **LTP** (Kim et al., *Learned Token Pruning for Transformers*, KDD 2022) scores each token
#   by the attention it receives and removes those below a threshold learned per layer. The
#   paper reports up to 2.1x fewer FLOPs at under 1% accuracy loss on GLUE, and up to 1.9x
#   throughput on an Intel Haswell CPU.
# * **Transkimmer** (Guan et al., ACL 2022) puts a small predictor before each layer that
#   decides, per token, whether to skim it; a skimmed token skips every remaining layer. The
#   paper reports a 10.97x average speed-up of BERT-base on GLUE at under 1% accuracy loss.
# * **PoWER-BERT** (Goyal et al., ICML 2020) uses LTP's score with a *fixed* number of tokens
#   per layer: the simple baseline.
#
# What you will see: the score by hand from attention probabilities; the properties that pin
# the methods down; both trained on a long-sequence task; which tokens survive each layer; and
# the measured trade-off, with where the saving goes at batch 1 and in a batch.

# %%
import inspect

import matplotlib.pyplot as plt
import numpy as np

import tinydyn as td
from tinydyn.autograd import function as autograd_function
from tinydyn.course.figures.pruning import plot_kept_per_layer, plot_surviving_tokens
from tinydyn.course.notebook import claim, pin_threads, say, show_table, time_table
from tinydyn.dynamic.pruning import (
    LTPClassifier,
    encoder_layer,
    full_cost,
    hard_forward,
    ltp_scores,
    pad_tokens,
    pruning_cost,
)
from tinydyn.dynamic.pruning import training as tr
from tinydyn.dynamic.pruning.inference import fast_forward
from tinydyn.measure import FlopCounter
from tinydyn.measure.pareto import plot_pareto

pin_threads(1)  # this page times code: one BLAS thread makes timings repeatable
np.set_printoptions(precision=3, suppress=True)

# %% [markdown]
# ## 1. A task where few tokens decide
#
# `sparse_signal` sequences are filler tokens with 1 to 3 *signal* tokens; the label is the
# majority class of the signals. We use 64 to 128 tokens. A classifier needs only the signals,
# so almost every token could leave after the first layer. The encoder: 4 post-norm layers,
# width 32, 2 heads, a `[CLS]` token whose final state feeds a linear head.

# %%
task = tr.load_pruning_task(seed=0, min_len=64, max_len=128)
seqs, labels = task.test.fields
signals = task.test.meta["signal_positions"]
say("{n} test sequences, {lo} to {hi} tokens; the first holds signals at {pos}.",
    n=len(labels), lo=min(map(len, seqs)), hi=max(map(len, seqs)),
    pos=signals[0][signals[0] >= 0].tolist())
base = tr.train_baseline(task, steps=600, batch=16, decay=0.1, seed=0)
base_eval = tr.evaluate(base, task.test)
say("The full encoder: test accuracy {a:.1%}, {f:.2f} MFLOPs per sequence.",
    a=base_eval["accuracy"], f=base_eval["flops"] / 1e6)

# %% [markdown]
# ## 2. The importance score, by hand
#
# LTP's score of token $i$ in layer $l$ is the attention it *receives*, averaged over the
# $H$ heads and the $n$ real (unpadded, unpruned) queries $j$:
# $s^l(i) = \frac{1}{H n}\sum_h \sum_j A^l_h[j, i]$. Every row of $A$ sums to 1, so the
# scores of a sequence sum to 1. Below: layer 0 of the trained encoder on one sequence.

# %%
tokens, lengths = pad_tokens(seqs[:1])
_, pad, x, _ = base.embed("lesson", tokens, lengths)
_, probs = encoder_layer(base.encoder.layers[0], x, pad)
A = probs.data[0]                        # (H, n, n): row j = how query j spreads its attention
s_hand = A.mean(axis=(0, 1))             # average over heads and queries
s_lib = ltp_scores(probs, (~pad).astype(np.float32)).data[0]
top = np.argsort(-s_hand)[:5]
claim(bool(np.allclose(s_hand, s_lib, atol=1e-6)) and abs(s_hand.sum() - 1) < 1e-5,
      "By hand and `ltp_scores` agree; the scores sum to {t:.4f}.", t=float(s_hand.sum()))
say("Highest scores at positions {top} (0 is [CLS]; the signals sit at {sig}).",
    top=top.tolist(), sig=(signals[0][signals[0] >= 0] + 1).tolist())

# %% [markdown]
# The full encoder was never asked to make filler queries look at the signals, so the score
# is only a rough guide before pruning-aware training. LTP's soft mask
# $M^l(i) = \sigma((s^l(i) - \theta^l)/T)$ multiplies the token's state and weights it as a
# key, the L1 penalty $\lambda \sum_l \|M^l\|_1 / n$ pushes the thresholds up, and the task
# loss keeps the tokens it needs. Here is the decision the model takes between layers:

# %%
print(inspect.getsource(LTPClassifier.decide))

# %% [markdown]
# ## 3. The properties that pin it down
#
# With thresholds $\le 0$ nothing is pruned (scores are $\ge 0$), and the model *is* the
# encoder, bit for bit. And the hard path, which physically removes rows, must equal the
# masked computation in which pruned tokens are excluded as keys and queries.

# %%
keep_all = LTPClassifier(task.vocab_size, 2, **tr.MODEL_SIZE)
keep_all.load_encoder_from(base)
keep_all.set_thresholds([0.0, -1.0, 0.0]).eval()
batch_t, batch_n = pad_tokens(seqs[:8])
with td.no_grad():
    plain = base(batch_t, batch_n).data
same = hard_forward(keep_all, batch_t, batch_n).logits
claim(bool((same == plain).all()), "Thresholds <= 0: the logits equal the encoder's exactly.")
keep_all.set_thresholds([0.02, 0.02, 0.02])
removed = hard_forward(keep_all, batch_t, batch_n, "repack")
masked = hard_forward(keep_all, batch_t, batch_n, "masked")
claim(bool(np.allclose(removed.logits, masked.logits, atol=1e-5))
      and (np.diff(removed.counts, axis=1) <= 0).all(),
      "Removing rows equals masking them (largest gap {g:.1e}); counts never grow: {c}.",
      g=float(np.abs(removed.logits - masked.logits).max()), c=removed.counts[0].tolist())

# %% [markdown]
# ## 4. Training LTP and Transkimmer
#
# Both start from the trained encoder, as the papers fine-tune a trained BERT. LTP trains in
# two stages: soft masks with learned thresholds (their own learning rate), then binarised
# masks and fine-tuning. Transkimmer's predictors (LayerNorm, Linear, GELU, Linear to two
# logits) sample keep/skim with straight-through Gumbel-softmax; the skim loss is the mean
# kept fraction. One optimiser step, as the training loop writes it:

# %%
print(inspect.getsource(tr._loop).split("    for step in range(steps):")[1].split("history")[0])

# %%
ltp = tr.train_ltp(base, task, penalty=0.3, soft_steps=150, hard_steps=60, batch=16,
                   soft_lr=3e-3, seed=0)
tk = tr.train_transkimmer(base, task, penalty=0.01, steps=150, batch=16, keep_bias=1.0,
                          predictor_lr=3e-3, seed=0)
ltp_eval, tk_eval = tr.evaluate(ltp, task.test), tr.evaluate(tk, task.test)
mean_len = np.mean(list(map(len, seqs)))
budget = float(np.clip(np.mean(ltp_eval["kept_per_layer"][1:]) / mean_len, 0.02, 1))
pb = tr.train_power_bert(base, task, keep_ratios=[budget] * 3, steps=60, batch=16, seed=0)
pb_eval = tr.evaluate(pb, task.test)
results = {"full encoder": base_eval, "LTP": ltp_eval, "Transkimmer": tk_eval,
           f"PoWER-BERT (keep {budget:.0%})": pb_eval}
show_table([[name, f"{100 * r['accuracy']:.1f}", f"{100 * r['flops'] / base_eval['flops']:.0f}",
             " / ".join(f"{k:.0f}" for k in r["kept_per_layer"])] for name, r in results.items()],
           ["model", "test accuracy %", "FLOPs %", "tokens per layer (mean)"])

# %% [markdown]
# PoWER-BERT here keeps, at every later layer, the share of tokens LTP keeps on average over
# layers 1-3: same score, a similar budget, but the same count for every sequence.
# LTP's thresholds let each sequence keep what its scores say. The accuracies are this run's;
# `tinydyn bench pruning` repeats them over seeds and knob values.

# %% [markdown]
# ## 5. Which tokens survive
#
# Each panel is one test sequence (first 64 positions), each row a layer's input: dark cells
# are tokens still in, red frames mark the signals.

# %%
show_t, show_n = pad_tokens(seqs[:3])
for name, model in (("LTP", ltp), ("Transkimmer", tk)):
    out = hard_forward(model, show_t, show_n)
    fig = plot_surviving_tokens(out.positions, show_n, [s[s >= 0] for s in signals[:3]],
                                titles=[f"{name}, label {y}" for y in labels[:3]])
    plt.show()
plot_kept_per_layer({n: r["kept_per_layer"] for n, r in results.items()},
                    np.mean(list(map(len, seqs))) + 1)
plt.show()
k_ltp, k_tk = ltp_eval["kept_per_layer"], tk_eval["kept_per_layer"]
say("Tokens entering layers 1 and 3, of {n:.0f}: LTP {a:.0f} and {b:.0f}, Transkimmer {c:.0f} "
    "and {d:.0f}.", n=k_ltp[0], a=k_ltp[1], b=k_ltp[3], c=k_tk[1], d=k_tk[3])

# %% [markdown]
# Where each method cuts is learned: a larger $\lambda$ moves the cuts earlier (the bench
# sweeps it). The first layer always sees every token, so it keeps its full share of the
# FLOPs: that caps the saving of a 4-layer model near 4x; deeper models save more.

# %% [markdown]
# ## 6. Where the saving goes
#
# The cost model counts FLOPs from the decisions (score and predictor costs included) and
# equals the op-level counter on the hard path:

# %%
one_t, one_n = pad_tokens(seqs[:1])
with FlopCounter() as fc:
    out = hard_forward(ltp, one_t, one_n)
cost = pruning_cost(ltp, out.counts[0])
claim(fc.total == cost["total"], "Cost model {c:,} FLOPs = counter {f:,}; the full encoder "
      "spends {full:,}.", c=cost["total"], f=fc.total, full=full_cost(base, int(one_n[0])))

# %% [markdown]
# Now time it: batch 1 (8 sequences one by one), then a batch of 32. In a batch, sequences
# keep different numbers of tokens: *repack* gathers each sequence's kept rows and cuts the
# batch to the longest; *loop* runs sequences one by one; *masked* removes nothing.

# %%
def one_by_one(fn, items):
    parts = [pad_tokens([s]) for s in items]
    return lambda: [fn(t, n) for t, n in parts]


def plain_forward(t, n):
    with td.no_grad():
        return base(t, n)


b1 = time_table({"full encoder": one_by_one(plain_forward, seqs[:8]),
                 "LTP": one_by_one(lambda t, n: hard_forward(ltp, t, n), seqs[:8]),
                 "Transkimmer": one_by_one(lambda t, n: hard_forward(tk, t, n), seqs[:8])},
                repeats=6, block=3)
bt, bn = pad_tokens(seqs[:32])
b32 = time_table({"full encoder": lambda: plain_forward(bt, bn),
                  "LTP repack": lambda: hard_forward(ltp, bt, bn, "repack"),
                  "LTP loop": lambda: hard_forward(ltp, bt, bn, "loop"),
                  "LTP masked": lambda: hard_forward(ltp, bt, bn, "masked")},
                 repeats=6, block=3)

# %%
flop_speedup = base_eval["flops"] / ltp_eval["flops"]
speedup = b1["full encoder"].median / b1["LTP"].median
say("On this machine at batch 1, LTP takes {t:.2f}x the encoder's time for {f:.2f}x fewer "
    "FLOPs: a realisation ratio (speed-up / FLOP speed-up) of {r:.2f}.", t=1 / speedup,
    f=flop_speedup, r=speedup / flop_speedup)

# %% [markdown]
# Why the measured speed-up trails the FLOPs: every op is dispatched from Python and checks
# its inputs, whatever the number of tokens. Count the ops one sequence runs through:

# %%
def count_ops(fn):
    calls = []
    autograd_function.op_observers.append(lambda *args: calls.append(1))
    try:
        fn()
    finally:
        autograd_function.op_observers.pop()
    return len(calls)


n_plain = count_ops(lambda: plain_forward(one_t, one_n))
n_ltp = count_ops(lambda: hard_forward(ltp, one_t, one_n))
per_op = min(b1["full encoder"].samples) / 8 / n_plain  # 8 sequences per timed call
say("One sequence: {a} ops through the full encoder, {b} through LTP's hard path; the "
    "encoder's best time works out at {t:.0f} µs per op, FLOPs included.", a=n_plain,
    b=n_ltp, t=1e6 * per_op)

# %% [markdown]
# A layer runs about thirty of them. Time one layer on 2 tokens against a full sequence:

# %%
layer = base.encoder.layers[1]
rng = np.random.default_rng(0)
inputs = {n: td.tensor(rng.standard_normal((1, n, 32)).astype(np.float32)) for n in (2, 129)}


def run_layer(n):
    def run():
        with td.no_grad():
            encoder_layer(layer, inputs[n], np.zeros((1, n), bool))
    return run


lt = time_table({"layer, 129 tokens": run_layer(129), "layer, 2 tokens": run_layer(2)},
                repeats=20, block=2)
best = {name: min(t.samples) for name, t in lt.items()}  # the least disturbed sample of each
say("Best of {n} samples: a layer takes {a:.0f} µs on 2 tokens and {b:.0f} µs on 129 ({f:.0%}"
    "). After the first layer, a pruned model pays mostly this floor.", n=20,
    a=1e6 * best["layer, 2 tokens"], b=1e6 * best["layer, 129 tokens"],
    f=best["layer, 2 tokens"] / best["layer, 129 tokens"])

# %% [markdown]
# `tinydyn.dynamic.pruning.fast` runs the same arithmetic on raw arrays: NumPy products and
# the engine's fused softmax and layer-norm kernels, without the ops' dispatch. Both models
# that way, batch 1:

# %%
raw = time_table({"full encoder": one_by_one(lambda t, n: fast_forward(base, t, n), seqs[:8]),
                  "LTP": one_by_one(lambda t, n: hard_forward(ltp, t, n, fast=True), seqs[:8])},
                 repeats=6, block=3)
raw_speedup = raw["full encoder"].median / raw["LTP"].median
say("On raw arrays LTP's batch-1 speed-up is {s:.2f}x for {f:.2f}x fewer FLOPs (realisation "
    "{r:.2f}); through the ops it was {o:.2f}x.", s=raw_speedup, f=flop_speedup,
    r=raw_speedup / flop_speedup, o=speedup)

# %% [markdown]
# So at this model size (width 32) the savings are real only where the work per layer is
# large: longer sequences, wider models, or many sequences at once with repacking. The loop
# pays the floor once per sequence; the masked batch does all the work of the full encoder
# plus the scores. `tinydyn bench pruning` measures the same over seeds, at B = 32, and
# against sequence length from 64 to 512, where the quadratic attention makes pruning pay.

# %%
fig, ax = plt.subplots(figsize=(5.5, 4))
plot_pareto({name: ([r["flops"]], [100 * r["accuracy"]]) for name, r in results.items()},
            xlabel="FLOPs per sequence", ylabel="test accuracy %", ax=ax)
plt.show()

# %% [markdown]
# Each model is one point here; the bench sweeps each method's knob (LTP's and Transkimmer's
# $\lambda$, PoWER-BERT's budget) and draws the fronts.
#
# ## Differs from the papers
#
# Our encoder has no positions (the task is a bag of tokens) and 4 layers, not BERT's 12;
# decisions sit between layers, so layer 0 always runs in full. LTP's penalty is on the
# cumulative mask (what later layers actually run), and its thresholds compare raw scores, as
# in the paper, so they depend on the sequence length.
#
# ## Exercise 06
#
# In `exercises/06_token_pruning/student.py` you write the importance score with weighted
# queries, the soft and hard masks, and the hard pruning of one layer: repacking a padded
# batch to its longest kept length. Grade it with `tinydyn grade 06`.
