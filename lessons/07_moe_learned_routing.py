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
# # Lesson 07 — Mixture of experts I: learned routing
#
# A Transformer spends most of its parameters in feed-forward blocks, and every token pays for
# all of them. A **mixture of experts** (MoE) replaces one block by $E$ *expert* blocks and a
# small **router** that sends each token to $k$ of them: the parameters grow $E$-fold, the
# cost per token stays that of $k$ experts. Shazeer et al. (*Outrageously Large Neural
# Networks*, ICLR 2017) claimed "greater than 1000x improvements in model capacity with only
# minor losses in computational efficiency"; GShard (Lepikhin et al., 2020) and the Switch
# Transformer (Fedus, Zoph and Shazeer, 2021, top-1 routing) scaled it to hundreds of billions
# of parameters.

# %% [markdown]
# What you will see:
#
# 1. a task where different inputs want different functions;
# 2. the router, dispatch and combine by hand on six tokens, checked against `tinydyn`;
# 3. capacity: slots, queue positions and dropped tokens;
# 4. the balancing loss, one training step written out, and the collapse it prevents;
# 5. the grouped kernels and their time against a dense block;
# 6. the capacity factor: what dropping costs;
# 7. which regions each expert learned to take;
# 8. the trade-off: accuracy against active FLOPs.

# %%
import inspect

import matplotlib.pyplot as plt
import numpy as np

import tinydyn as td
from tinydyn.course.figures import moe as figures
from tinydyn.course.notebook import claim, pin_threads, say, show_table, time_table
from tinydyn.data import load_task
from tinydyn.dynamic.moe import (
    MoELayer,
    SwitchRouter,
    apply_capacity,
    aux_loss_of,
    dense_moe,
    expert_capacity,
    reference_moe_loop,
    switch_balance_loss,
)
from tinydyn.dynamic.moe.cost import dense_ffn_cost, moe_layer_cost
from tinydyn.dynamic.moe.models import DenseClassifier, MoEClassifier
from tinydyn.dynamic.moe.training import routing_summary, train_classifier
from tinydyn.kernels import moe as moe_kernels
from tinydyn.measure import FlopCounter, count_flops
from tinydyn.nn import functional as F
from tinydyn.optim import Adam

pin_threads(1)  # this page times code: one BLAS thread makes timings repeatable
np.set_printoptions(precision=3, suppress=True)

# %% [markdown]
# ## 1. Different inputs, different functions
#
# Points of the `regions` task come from 8 Gaussian clusters in $\mathbb{R}^8$. Each cluster
# labels its points (4 classes) by its *own* random linear rule. One small network must carve
# 8 different partitions at once; an expert per region needs to learn only one.

# %%
task = load_task("regions", seed=0)
x_train, y_train = task.train.fields
region = task.train.region
show_table([[r, int((region == r).sum()), np.bincount(y_train[region == r], minlength=4)]
            for r in range(4)], ["region", "points", "points per class"])

# %% [markdown]
# The first four regions are shown; every region has its own mix of classes, because its
# rule is its own. The region itself is easy to read off a point: the centers are 5 apart and
# the noise has std 1. The label is not: it depends on which rule applies.

# %% [markdown]
# ## 2. Router, dispatch, combine — by hand
#
# For a token $x$ (a row of width $d$), the router computes probabilities over the experts
# $p = \mathrm{softmax}(x W_r)$; the token goes to its top-$k$ experts, and the layer returns
# $y = \sum_{e \in \text{top-}k} p_e \, \mathrm{FFN}_e(x)$. Six tokens, $E = 3$ experts, $k = 2$:

# %%
d, f, E, k = 4, 5, 3, 2
router = SwitchRouter(d, E, k=k, rng=np.random.default_rng(3), dtype=np.float64)
layer = MoELayer(router, d, f, E, rng=np.random.default_rng(4), dtype=np.float64)
x = np.random.default_rng(5).standard_normal((6, d))
logits = x @ router.weight.data
p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
chosen = np.argsort(-p, axis=1, kind="stable")[:, :k]  # best first
gates = np.take_along_axis(p, chosen, axis=1)
print("router probabilities:\n", p, "\nchosen experts:\n", chosen)

# %%
def ffn(e, u):  # expert e's feed-forward block
    return np.maximum(u @ layer.w1.data[e] + layer.b1.data[e], 0) @ layer.w2.data[e] \
        + layer.b2.data[e]


y_hand = np.stack([sum(gates[s, r] * ffn(chosen[s, r], x[s]) for r in range(k))
                   for s in range(6)])
y_lib = layer(td.tensor(x)).data
claim(bool(np.allclose(y_hand, y_lib)), "By hand and `MoELayer` agree (largest gap {gap:.1e}).",
      gap=float(np.abs(y_hand - y_lib).max()))

# %% [markdown]
# The library never loops over tokens. It turns the router's choices into a flat list of
# *assignments* `(token, expert, gate)`, sorts them by expert, **gathers** each expert's tokens
# into one contiguous block, runs each expert once on its block (one matrix product), and
# **scatters** the outputs back, each multiplied by its gate. The list, in the order the
# assignments queue for their experts (all first choices, then all second choices):

# %%
routing = layer.last_routing
show_table([[int(t), int(e), int(r), f"{g:.3f}"] for t, e, r, g in
            zip(routing.token, routing.expert, routing.rank, routing.gate.data)],
           ["token", "expert", "choice", "gate"])

# %% [markdown]
# ## 3. Capacity: slots and dropped tokens
#
# On parallel hardware every expert gets a buffer of $C$ slots, fixed in advance:
# $C = \lceil k \cdot S \cdot \mathrm{CF} / E \rceil$ for $S$ tokens and a *capacity factor*
# CF. A token's slot is its position in the expert's queue: an **exclusive cumulative sum**
# of the one-hot "chose this expert" mask over the assignments in priority order. Positions
# $\geq C$ are dropped; such a token is carried by the residual connection alone.

# %%
C = expert_capacity(6, E, k, capacity_factor=0.75)
onehot = np.eye(E, dtype=int)[routing.expert]
position = (np.cumsum(onehot, axis=0) - onehot)[np.arange(len(onehot)), routing.expert]
kept = apply_capacity(routing, C)
claim(bool(np.array_equal(position[position < C], kept.slot)),
      "With CF 0.75, C = {c}: the positions by hand equal the library's slots; "
      "{n} of {total} assignments are dropped.", c=C, n=kept.n_dropped,
      total=routing.n_assignments)

# %%
figures.plot_routing(routing, kept)
plt.show()

# %% [markdown]
# Each cell is a wanted assignment with its gate and slot. Because first choices queue before
# second choices, a token loses its *second* expert before another token loses its first. A
# token whose experts are all full gets zero from the layer. With a capacity large enough that
# nothing drops, the grouped computation, the dense-mask form of GShard (dispatch and combine
# tensors of shape $S \times E \times C$) and a per-token loop agree:

# %%
w = [layer.w1.data, layer.b1.data, layer.w2.data, layer.b2.data]
loop = reference_moe_loop(x, routing, *w)
masks = dense_moe(x, apply_capacity(routing, 6), *w)
claim(bool(np.allclose(loop, y_lib) and np.allclose(masks, y_lib)),
      "Grouped kernels, dense masks and the per-token loop agree (gaps {a:.1e}, {b:.1e}).",
      a=float(np.abs(loop - y_lib).max()), b=float(np.abs(masks - y_lib).max()))

# %% [markdown]
# ## 4. The balancing loss
#
# A router trained on the task loss alone can send most tokens to a few experts: those get
# more gradient, get better, and attract more tokens. Switch adds
# $\alpha \cdot E \sum_i f_i P_i$, with $f_i$ the fraction of tokens routed to expert $i$ (a
# count: no gradient) and $P_i$ the mean router probability of $i$ (differentiable). It equals
# $\alpha k$ when every probability is $1/E$, and pushes probability away from busy experts.

# %%
print(inspect.getsource(switch_balance_loss))
uniform = td.tensor(np.full((6, E), 1 / E))
claim(abs(float(switch_balance_loss(uniform, chosen).data) - k) < 1e-12,
      "Under uniform probabilities the unweighted loss is exactly k = {k}.", k=k)

# %% [markdown]
# The router adds the weighted loss to the Routing it returns; `aux_loss_of(model)` collects
# it from every MoE layer. One training step of a residual MLP with one MoE block (8 experts
# of width 16, top-1), written out:

# %%
model = MoEClassifier(8, 32, 16, 8, 4, "switch", k=1, rng=np.random.default_rng(0))
opt = Adam(model.parameters(), lr=3e-3)
idx = np.random.default_rng(0).integers(0, len(y_train), size=128)
task_loss = F.cross_entropy(model(td.tensor(x_train[idx])), y_train[idx])
balance = aux_loss_of(model)                 # alpha * E * sum_i f_i P_i, alpha = 0.01
opt.zero_grad()
(task_loss + balance).backward()
opt.step()
say("Task loss {t:.3f}, balancing loss {b:.4f}; the router's weights got a gradient of norm "
    "{g:.2e}.", t=float(task_loss.data), b=float(balance.data),
    g=float(np.linalg.norm(model.blocks[0].router.weight.grad.data)))

# %% [markdown]
# `train_classifier` repeats this step and records the share of tokens each expert took at
# every step. Three routers, same budget: the default $\alpha = 0.01$, no balancing loss, and
# $\alpha = 0.3$; all routers start from zero weights, so every token first picks expert 0.

# %%
STEPS = 500
runs = {}
for name, alpha in [("alpha = 0.01", 0.01), ("no balancing loss", 0.0), ("alpha = 0.3", 0.3)]:
    net = MoEClassifier(8, 32, 16, 8, 4, "switch", k=1, rng=np.random.default_rng(1),
                        router_kwargs={"aux_coef": alpha, "init_std": 0.0})
    runs[name] = train_classifier(net, task, steps=STEPS, rng=np.random.default_rng(2))
    runs[name]["model"] = net
fig, axes = plt.subplots(1, 3, figsize=(13, 3))
for ax, (name, r) in zip(axes, runs.items()):
    figures.plot_load(r["load"], ax=ax, title=f"{name}: test accuracy {r['test_accuracy']:.1%}")
plt.show()

# %%
def final_cv(r):  # load coefficient of variation over the last 10% of the steps
    last = r["load"][-STEPS // 10:].mean(axis=0)
    return float(last.std() / last.mean())


cv = {name: final_cv(r) for name, r in runs.items()}
claim(cv["alpha = 0.3"] < 0.1 < cv["no balancing loss"],
      "Load CV at the end of training: {a:.2f} without the loss, {b:.2f} at alpha = 0.01, "
      "{c:.2f} at alpha = 0.3.", a=cv["no balancing loss"], b=cv["alpha = 0.01"],
      c=cv["alpha = 0.3"])

# %% [markdown]
# All three start with every token on one expert (the zero router ties, and ties go to the
# lowest index), then spread out as the task pushes tokens of different regions apart.
# Without the loss the shares settle wherever the task leaves them; at $\alpha = 0.3$ the loss
# holds them near the dashed even line. The paper's $\alpha = 0.01$ is a weak pull on a task
# this small: whether it beats no loss at all varies from seed to seed (`tinydyn bench moe`
# reports both over seeds).

# %% [markdown]
# ## 5. The grouped kernels and their time
#
# The gather and the weighted scatter are memory-bound loops, written in Numba (each with a
# NumPy twin); the experts' products are one BLAS call per expert block. The combine:

# %%
print(inspect.getsource(moe_kernels.combine_rows_numba))

# %% [markdown]
# An MoE layer with $E = 8$, top-2, 2048 tokens, $d = 64$, $d_{ff} = 256$, forward and
# backward, against a dense feed-forward block with the same active hidden units
# ($k \cdot d_{ff} = 512$): the same multiply-adds, cut into 8 products of about 512 rows
# instead of one of 2048. One machine's timing, alternating warm blocks:

# %%
S, d, f, E, k = 2048, 64, 256, 8, 2
rng = np.random.default_rng(0)
xb = td.tensor(rng.standard_normal((S, d)).astype(np.float32), requires_grad=True)
moe = MoELayer(SwitchRouter(d, E, k=k, rng=rng), d, f, E, rng=rng)
fc1, fc2 = td.nn.Linear(d, k * f, rng=rng), td.nn.Linear(k * f, d, rng=rng)


def moe_step():
    for q in [*moe.parameters(), xb]:
        q.grad = None
    (moe(xb).sum() + moe.aux_loss).backward()


def dense_step():
    for q in [*fc1.parameters(), *fc2.parameters(), xb]:
        q.grad = None
    fc2(F.relu(fc1(xb))).sum().backward()


times = time_table({"dense FFN, 512 hidden": dense_step, "MoE, 8 experts, top-2": moe_step},
                   repeats=9)
say("The MoE layer takes {r:.2f}x the time of the dense block with the same active FLOPs "
    "(on this machine, this run), while holding {p}x its expert parameters.",
    r=times["MoE, 8 experts, top-2"].median / times["dense FFN, 512 hidden"].median,
    p=E // k)

# %% [markdown]
# `tinydyn bench moe` times the same layer against the experts' products alone (what is
# spent outside them is routing, gather, scatter and bookkeeping) and against PyTorch's usual
# loop over experts with `index_select` and `index_add`.

# %% [markdown]
# ## 6. The capacity factor
#
# A smaller CF means smaller buffers (less padding computed) but more dropped tokens. The
# same top-1 model trained with three capacity factors (routing groups of 128 tokens, the
# training batch):

# %%
sweep = {}
for cf in (0.5, 1.0, 2.0):
    net = MoEClassifier(8, 32, 16, 8, 4, "switch", k=1, capacity_factor=cf,
                        rng=np.random.default_rng(1))
    r = train_classifier(net, task, steps=STEPS, rng=np.random.default_rng(2))
    sweep[cf] = r
show_table([[cf, f"{r['dropped'].mean():.1%}", f"{r['test_accuracy']:.1%}"]
            for cf, r in sweep.items()], ["capacity factor", "dropped in training",
                                          "test accuracy"])
claim(sweep[0.5]["dropped"].mean() > 0.4 > sweep[2.0]["dropped"].mean(),
      "At CF 0.5 at least half the tokens must drop ({a:.0%} did); at CF 2.0, {b:.1%}.",
      a=sweep[0.5]["dropped"].mean(), b=sweep[2.0]["dropped"].mean())

# %% [markdown]
# With CF 0.5 each expert has room for half of an even share, so at least half of the tokens
# skip the block in every batch, in training and at test time, and accuracy suffers. Evaluation
# here routes the whole test split as one group with the same CF.

# %% [markdown]
# ## 7. What the experts learned
#
# The first model of section 4 ($\alpha = 0.01$), on the test split: the share of each
# region's points that went to each expert.

# %%
trained = runs["alpha = 0.01"]["model"]
summary = routing_summary(trained, task.test.fields[0], task.test.region)
figures.plot_specialisation(summary["counts"], title="regions task, top-1, alpha = 0.01")
plt.show()
purity = summary["counts"].max(axis=1) / summary["counts"].sum(axis=1)
claim(purity.mean() > 0.7,
      "The most-used expert of a region takes {lo:.0%} to {hi:.0%} of its points (mean "
      "{m:.0%}).", lo=purity.min(), hi=purity.max(), m=purity.mean())

# %% [markdown]
# Nobody told the router about regions: it found them, because sending a region to one expert
# lets that expert learn the region's rule.

# %% [markdown]
# ## 8. The trade-off
#
# The point of an MoE: more parameters at the same active cost. The dense baselines have the
# same active FLOPs per input as top-1 ($d_{ff}$ hidden units) and top-2 ($2 d_{ff}$).

# %%
rows = []
for name, make in [("dense, 16 hidden", lambda r: DenseClassifier(8, 32, 16, 4, k=1, rng=r)),
                   ("dense, 32 hidden", lambda r: DenseClassifier(8, 32, 16, 4, k=2, rng=r)),
                   ("MoE top-2", lambda r: MoEClassifier(8, 32, 16, 8, 4, "switch", k=2,
                                                         rng=r))]:
    net = make(np.random.default_rng(1))
    res = train_classifier(net, task, steps=STEPS, rng=np.random.default_rng(2))
    rows.append([name, f"{res['test_accuracy']:.1%}", sum(q.data.size for q in net.parameters()),
                 f"{count_flops(net.eval(), td.tensor(x_train[:100])) / 100:,.0f}"])
top1 = runs["alpha = 0.01"]["model"]
rows.insert(2, ["MoE top-1", f"{runs['alpha = 0.01']['test_accuracy']:.1%}",
                sum(q.data.size for q in top1.parameters()),
                f"{count_flops(top1.eval(), td.tensor(x_train[:100])) / 100:,.0f}"])
show_table(rows, ["model (one seed)", "test accuracy", "parameters", "FLOPs / input"])

# %% [markdown]
# The MoE models hold several times the parameters of their dense counterparts for a few
# hundred more FLOPs per input (the router's product and softmax, the combine). The cost
# model counts those parts; it equals the FLOP counter on the ops it models:

# %%
probe = MoELayer(SwitchRouter(32, 8, rng=np.random.default_rng(0)), 32, 16, 8).eval()
with FlopCounter() as fc:
    probe(td.tensor(x_train[:100, :].repeat(4, axis=1)))
cost = moe_layer_cost(probe, 100)
claim(fc.by_op["MatMul"] + fc.by_op["Softmax"] + fc.by_op["MoEFFN"]
      == cost["router"] + cost["experts"] + cost["combine"],
      "Router {r:,}, experts {e:,}, combine {c:,} FLOPs for 100 tokens; a dense block of 16 "
      "hidden units: {dense:,}.", r=cost["router"], e=cost["experts"], c=cost["combine"],
      dense=dense_ffn_cost(32, 16, 100))

# %% [markdown]
# **Differs from the papers:** our models are residual MLPs on vectors, not Transformers
# (`MoETransformerEncoder` puts the same layer into `tinydyn.nn`'s encoder); gates are not
# renormalised after dropping; and at evaluation the capacity applies to the whole test split
# as one group.
#
# **Exercise 07** asks you to write the pieces of this lesson: top-k choices and their gates,
# queue positions by an exclusive cumulative sum with dropping, Switch's balancing loss and
# its gradient with respect to the router logits, and the layer's output from the kept
# assignments. Lesson 08 balances the load in other ways: experts that choose their tokens,
# balanced assignments, hashes and random routing.
