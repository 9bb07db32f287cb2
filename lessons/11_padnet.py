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
# # Lesson 11 — PAD-Net: partially dynamic networks
#
# A dynamic layer makes *every* parameter depend on the input: DY-Conv (lesson 09) mixes $K$
# whole kernels per sample, an MoE layer keeps $E$ whole expert matrices. **PAD-Net** (He,
# Ding, Dong, Liu, Yu and Tao, *PAD-Net: An Efficient Framework for Dynamic Networks*, ACL
# 2023) asks whether all those dynamic parameters are needed. It splits each dynamic kernel,
# entry by entry, into a dynamic part and a static part, chooses the split with *Iterative
# Mode Partition* (IMP), and deletes what the split makes useless. The paper's claim: with 30%
# dynamic parameters, a DY-Conv ResNet-50 gains 0.7 points of ImageNet top-1 over the fully
# dynamic one; with 50%, a BERT-MoE gains 1.9 GLUE points.

# %% [markdown]
# What you will see:
#
# 1. what a dynamic layer stores, and the partially dynamic layer by hand;
# 2. the properties that pin it down;
# 3. the saliency IMP ranks entries by, derived and checked by finite differences;
# 4. the exponential schedule, and where IMP puts the dynamic entries;
# 5. the loss and one optimiser step, then training: accuracy against stored parameters;
# 6. post-processing: the model shrinks and its outputs stay the same.

# %%
import inspect
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import tinydyn as td
from tinydyn.autograd.ops_nn import cross_entropy
from tinydyn.course.figures.padnet import (
    plot_accuracy_vs_params,
    plot_lambda,
    plot_layer_ratios,
    plot_mask,
    plot_schedules,
)
from tinydyn.course.notebook import claim, pin_threads, say, show_table, time_table
from tinydyn.data import load_task
from tinydyn.dynamic.dyconv import DynamicConv2d, dynamic_conv_cost
from tinydyn.dynamic.dyconv.models import DyConvNet
from tinydyn.dynamic.dyconv.training import evaluate, train_classifier
from tinydyn.dynamic.padnet import (
    PadDynamicConv2d,
    compress,
    imp,
    mask_saliency,
    pad_conv_cost,
    pad_dyconv_net,
    pad_kernel_parameters,
    pad_layers,
    random_partition,
    stored_parameters,
)
from tinydyn.measure import count_flops
from tinydyn.nn import functional as F
from tinydyn.optim import Adam

pin_threads(1)  # this page times code: one BLAS thread makes timings repeatable
np.set_printoptions(precision=3, suppress=True)

# %% [markdown]
# ## 1. What a dynamic layer stores
#
# The narrow digits CNN of lesson 09 has two 3x3 convolutions of 4 channels. Made dynamic with
# $K = 4$ kernels per layer, it stores four kernels where the static network stores one.

# %%
digits = load_task("digits", seed=0)
static_net = DyConvNet(1, 10, width=4, kind="static", rng=np.random.default_rng(0))
dynamic_net = DyConvNet(1, 10, width=4, kind="dyconv", rng=np.random.default_rng(0))
kernel_values = sum(m.weight.data.size for m in dynamic_net.convs())
say("Static CNN: {s} parameters; DY-Conv CNN: {d}, of which {k} are the K = 4 kernels.",
    s=static_net.num_parameters(), d=dynamic_net.num_parameters(), k=kernel_values)

# %% [markdown]
# PAD-Net keeps one binary mask $M$ per layer, the shape of *one* kernel. Where $M_j = 1$ the
# entry stays dynamic; where $M_j = 0$ it takes one shared static value $\bar W_j$. Two
# learned scale factors weigh the two parts:
#
# $$\tilde W_n = \lambda_d\, M \odot \Big(\sum_k \pi_{n,k} W_k\Big) + \lambda_s\,(1 - M)
# \odot \bar W,\qquad \lambda_d = 2\sigma(\phi),\quad \lambda_s = 2 - \lambda_d .$$
#
# With $\phi = 0$ both scales are 1. Here is a tiny layer with a mask drawn at random.

# %%
layer = PadDynamicConv2d(2, 3, 3, num_kernels=3, padding=1, hidden=4,
                         rng=np.random.default_rng(0), dtype=np.float64)
layer.set_mask((np.random.default_rng(1).random(layer.mask_shape) < 0.4).astype(float))
layer.phi.data[...] = 0.5
x = np.random.default_rng(2).standard_normal((2, 2, 5, 5))
out = layer(td.tensor(x)).data
pi = layer.last_weights                                            # (N, K) attention
lam_d = 2 / (1 + np.exp(-0.5))
mixed = np.einsum("nk,koihw->noihw", pi, layer.weight.data)        # DY-Conv's kernel
kernel = lam_d * layer.mask * mixed + (2 - lam_d) * (1 - layer.mask) * layer.static_weight.data
by_hand = np.stack([F.conv2d(td.tensor(x[n:n + 1]), td.tensor(kernel[n]),
                             td.tensor(pi[n] @ layer.bias.data), padding=1).data[0]
                    for n in range(2)])
claim(bool(np.allclose(by_hand, out)), "The layer computes the formula: max difference "
      "{d:.1e}; lambda_d = {a:.3f}, lambda_s = {b:.3f}.", d=np.abs(by_hand - out).max(),
      a=lam_d, b=2 - lam_d)

# %% [markdown]
# The attention and the bias stay dynamic, as in the paper's code; only the kernel is split.
# The mask is a *buffer*: saved with the model, invisible to the optimiser.

# %% [markdown]
# ## 2. The properties that pin the layer down
#
# An all-dynamic mask with $\phi = 0$ must give back DY-Conv; an all-static mask a plain
# convolution with $\bar W$ (plus the dynamic bias); and $\lambda_s + \lambda_d = 2$ always.

# %%
dy = DynamicConv2d(2, 3, 3, num_kernels=3, padding=1, rng=np.random.default_rng(3),
                   dtype=np.float64)
pad = PadDynamicConv2d.from_dynamic(dy, rng=np.random.default_rng(4))
all_dynamic = np.abs(pad(td.tensor(x)).data - dy(td.tensor(x)).data).max()
pad.set_mask(np.zeros(pad.mask_shape))
static_out = F.conv2d(td.tensor(x), td.tensor(pad.static_weight.data), None, padding=1).data
out0 = pad(td.tensor(x)).data
bias = (pad.last_weights @ pad.bias.data)[:, :, None, None]      # the bias stays dynamic
all_static = np.abs(out0 - static_out - bias).max()
sums = []
for phi in (-3.0, 0.2, 4.0):
    pad.phi.data[...] = phi
    sums.append(round(sum(pad.scale_values()), 12))
claim(all_dynamic == 0 and all_static < 1e-12 and np.allclose(sums, 2.0),
      "M = 1: equal to DY-Conv (max difference {a}). M = 0: a static convolution plus the "
      "dynamic bias (max difference {b:.0e}). lambda_s + lambda_d = {s}.", a=all_dynamic,
      b=all_static, s=sums)

# %% [markdown]
# For an MoE layer the static part is *shared by all experts*: expert $e$ uses
# $\lambda_d M\odot W_e + \lambda_s(1-M)\odot \bar W$. Since top-$k$ gates sum to one, the
# static part factors out of the sum over experts,
# $y = \lambda_s\,x\,((1-M)\odot\bar W) + \lambda_d\sum_e g_e\,x\,(M\odot W_e) + \sum_e g_e b_e$,
# so it is computed once per token, outside the experts (`PadMoELinear` does exactly that).

# %% [markdown]
# ## 3. Which entries should stay dynamic? The saliency
#
# Relax the mask to real values $m_j$. Moving entry $j$ from dynamic ($m_j = 1$) towards
# static changes the loss, to first order, by $\partial L/\partial m_j$. By the chain rule,
# since $\partial \tilde W_{n,j}/\partial m_j = \lambda_d \hat W_{n,j} - \lambda_s \bar W_j$,
#
# $$g_j = \frac{\partial L}{\partial m_j} = \sum_n \frac{\partial L}{\partial \tilde W_{n,j}}
# \big(\lambda_d \hat W_{n,j} - \lambda_s \bar W_j\big),$$
#
# where $\hat W_n = \sum_k \pi_{n,k} W_k$. IMP ranks entries by $|g_j|$ (normalised by the
# sum, which changes no ranking). Here is $g$ three ways: autograd through the relaxed mask,
# the formula above, and central differences of the loss.

# %%
y_target = np.random.default_rng(5).standard_normal((2, 3, 5, 5))


def toy_loss(model, batch):
    diff = model(td.tensor(batch[0])) - td.tensor(batch[1])
    return (diff * diff).sum() * 0.5


layer.set_mask((np.random.default_rng(1).random(layer.mask_shape) < 0.4).astype(float))
g_autograd = mask_saliency(layer, toy_loss, [(x, y_target)])[0]
print(inspect.getsource(PadDynamicConv2d.mix))

# %%
kernel_t = td.tensor(kernel, requires_grad=True)          # dL/dW~ for each sample's kernel
y = F.conv2d(td.tensor(x), kernel_t, td.tensor(pi @ layer.bias.data), padding=1)
residual = y - td.tensor(y_target)
((residual * residual).sum() * 0.5).backward()
g_formula = (kernel_t.grad.data * (lam_d * mixed - (2 - lam_d) * layer.static_weight.data)).sum(0)
eps, j = 1e-4, (1, 0, 2, 2)
values = []
for sign in (1, -1):
    m = layer.mask.copy()
    m[j] += sign * eps
    layer.mask = m
    values.append(float(toy_loss(layer.eval(), (x, y_target)).data))
    m[j] -= sign * eps
    layer.mask = m
g_fd = (values[0] - values[1]) / (2 * eps)
claim(np.allclose(g_autograd, g_formula) and abs(g_fd - g_autograd[j]) < 1e-6 * max(1, abs(g_fd)),
      "Autograd and the formula agree (max difference {a:.1e}); at entry {j}, central "
      "differences give {f:.6f} and autograd {g:.6f}.", a=np.abs(g_autograd - g_formula).max(),
      j=j, f=g_fd, g=g_autograd[j])

# %% [markdown]
# This is SNIP's connection sensitivity (Lee, Ajanthan and Torr, ICLR 2019) with "switched
# off" meaning "replaced by the static value" instead of "set to zero": with one kernel,
# $\bar W = 0$ and $\lambda = 1$, $g_j = w_j\,\partial L/\partial w_j$, SNIP's score exactly.

# %% [markdown]
# ## 4. Iterative Mode Partition
#
# IMP starts fully dynamic and runs $T$ rounds. Round $t$ recomputes the saliencies at the
# current mask on a few scoring batches (in eval mode) and keeps the top $\kappa^{t/T}$ of
# *all* entries of *all* PAD layers dynamic: one global threshold, the mask recomputed from
# scratch, so an entry made static may come back. The dynamic fraction shrinks by the same
# factor $\kappa^{1/T}$ each round: the early rounds remove the most.

# %%
plot_schedules(0.3, 5)
plt.show()

# %%
X, Y = digits.train.fields
scoring = [(X[i:i + 64], Y[i:i + 64]) for i in range(0, 640, 64)]


def digits_loss(model, batch):
    return cross_entropy(model(td.tensor(batch[0])), batch[1])


pad_net = pad_dyconv_net(1, 10, width=4, rng=np.random.default_rng(0))
log = imp(pad_net, digits_loss, scoring, kappa=0.3, iterations=5)
total = sum(m.mask.size for m in pad_layers(pad_net))
claim(np.allclose(log["achieved"], np.floor(np.array(log["density"]) * total + 0.5) / total),
      "After each round the dynamic fraction is kappa^(t/T), rounded to whole entries: {a}.",
      a=np.round(log["achieved"], 3).tolist())

# %%
fig, axes = plt.subplots(1, 3, figsize=(13, 2.8), gridspec_kw={"width_ratios": [1.2, 1, 2.2]})
plot_layer_ratios(log, names=["conv 1 (1 -> 4)", "conv 2 (4 -> 4)"], ax=axes[0])
for ax, (i, m) in zip(axes[1:], enumerate(pad_layers(pad_net))):
    plot_mask(m.mask, ax=ax, title=f"conv {i + 1}")
plt.tight_layout()
plt.show()
ratios = log["layer_ratios"][-1]
say("One global threshold: conv 1 keeps {a:.0%} of its entries dynamic, conv 2 {b:.0%}; "
    "rows are output channels, columns input channel x kernel position.", a=ratios[0],
    b=ratios[1])

# %% [markdown]
# The threshold is global, so the layers need not end up alike: a layer whose entries carry
# larger gradients keeps more of them dynamic. A global threshold can even empty a layer;
# `imp(..., floor=...)` keeps a minimum per layer, and `scope="layer"` thresholds each layer
# on its own.

# %% [markdown]
# ## 5. Training the partially dynamic network
#
# After IMP the mask is frozen. Everything else trains as before: the kernels, the static
# kernel, $\phi$ and the attention. Here is the loss and one optimiser step, written out:
# the mask is not among the parameters, and kernel entries at static positions get exactly
# zero gradient, which is why they can be deleted later.

# %%
opt = Adam(pad_net.parameters(), lr=1e-2)
batch = np.random.default_rng(0).integers(0, len(Y), 64)
pad_net.train()
loss = cross_entropy(pad_net(td.tensor(X[batch])), Y[batch])
opt.zero_grad()
loss.backward()
conv2 = pad_layers(pad_net)[1]
static_grad = np.abs(conv2.weight.grad.data[:, conv2.mask == 0]).max()
opt.step()
claim(static_grad == 0 and all(p is not conv2.mask for p in pad_net.parameters()),
      "Loss {l:.3f}; largest gradient of a kernel entry at a static position: {g}.",
      l=float(loss.data), g=static_grad)

# %% [markdown]
# Now the comparison on one seed: the static CNN, the fully dynamic CNN, and PAD at three
# dynamic ratios with IMP's mask and with a random mask of the same size. All start from the
# same weights and train with the same recipe (`train_classifier` of lesson 09).

# %%
STEPS, KAPPAS = 500, (0.1, 0.3, 0.5)


def trained(kind, partition=None, kappa=None):
    if kind == "pad":
        net = pad_dyconv_net(1, 10, width=4, rng=np.random.default_rng(1))
        if partition == "IMP":
            imp(net, digits_loss, scoring, kappa, iterations=5)
        else:
            random_partition(net, kappa, np.random.default_rng(2))
    else:
        net = DyConvNet(1, 10, width=4, kind=kind, rng=np.random.default_rng(1))
    train_classifier(net, digits, steps=STEPS, rng=np.random.default_rng(3))
    return net


runs = {"static": trained("static"), "fully dynamic": trained("dyconv")}
for part in ("IMP", "random"):
    for kappa in KAPPAS:
        runs[(part, kappa)] = trained("pad", part, kappa)
test_x, test_y = digits.test.fields
acc = {k: evaluate(m, test_x, test_y) for k, m in runs.items()}
params = {k: stored_parameters(compress(m))["values"] for k, m in runs.items()}

# %%
points = {f"PAD, {p} mask": [(params[(p, k)], acc[(p, k)]) for k in KAPPAS]
          for p in ("IMP", "random")}
points["fully dynamic"] = (params["fully dynamic"], acc["fully dynamic"])
points["static"] = (params["static"], acc["static"])
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6))
plot_accuracy_vs_params(points, ax=axes[0])
plot_lambda({f"IMP kappa = {k}": np.mean([m.lambda_history for m in pad_layers(runs[("IMP", k)])],
                                         axis=0) for k in KAPPAS}, ax=axes[1])
plt.tight_layout()
plt.show()

# %%
show_table([[k if isinstance(k, str) else f"PAD, {k[0]} mask, kappa = {k[1]}", params[k],
             f"{acc[k]:.1%}"] for k in runs],
           ["model", "stored parameters", "test accuracy"])
best_pad = max(KAPPAS, key=lambda k: acc[("IMP", k)])
say("On this seed the fully dynamic CNN reaches {f:.1%} with {pf} parameters; the best PAD "
    "model with IMP's mask (kappa = {k}) reaches {p:.1%} with {pp}. IMP against a random mask "
    "at kappa = 0.1: {d:+.1f} points.", f=acc["fully dynamic"], pf=params["fully dynamic"],
    k=best_pad, p=acc[("IMP", best_pad)], pp=params[("IMP", best_pad)],
    d=100 * (acc[("IMP", 0.1)] - acc[("random", 0.1)]))

# %% [markdown]
# One seed on a 300-image test set moves by a few points from run to run. `tinydyn bench
# padnet` repeats everything over three seeds, with a magnitude mask, an IMP ablation with a
# per-layer threshold, and the MoE task; its stored results, if present, are read here.

# %%
bench = Path("bench-results/padnet.json")
if not bench.is_file():
    bench = Path("..") / bench
if bench.is_file():
    result = json.loads(bench.read_text())
    rows = {(r["task"], r["method"], r["value"]): r for r in result["rows"]}
    for task, rec in result["recipes"].items():
        full = rows[(task, rec["full"], 0.0)]
        for kappa in (0.1, 0.3):
            acc3 = {name: rows[(task, name, kappa)]["accuracy"] for name in
                    ("PAD IMP", "PAD IMP per layer", "PAD random")}
            say("{t}, kappa = {k}: IMP {a:.1%} ± {sa:.1%}, IMP with a per-layer threshold "
                "{c:.1%} ± {sc:.1%}, random {b:.1%} ± {sb:.1%}, fully dynamic {f:.1%} ± "
                "{sf:.1%} (seeds {s}).", t=task, k=kappa,
                a=acc3["PAD IMP"]["mean"], sa=acc3["PAD IMP"]["std"],
                c=acc3["PAD IMP per layer"]["mean"], sc=acc3["PAD IMP per layer"]["std"],
                b=acc3["PAD random"]["mean"], sb=acc3["PAD random"]["std"],
                f=full["accuracy"]["mean"], sf=full["accuracy"]["std"], s=result["seeds"])
else:
    print("run `tinydyn bench padnet` to see the three-seed results here")

# %% [markdown]
# Why IMP's ranking can lose to a random mask at this scale: IMP scores the network at its
# random initialisation, where the kernels hold no learned structure yet, so the saliency
# mostly measures which layer and which input channels carry large gradients. The global
# threshold then piles the dynamic entries there (section 4), while a random mask spreads
# them evenly over layers and channels. The per-layer threshold, which gives every layer the
# same fraction, separates the two effects: compare its rows with IMP's and random's above.
# The right panel of the plot: $\lambda_d$ leaves 1 during training, as the paper reports.

# %% [markdown]
# ## 6. Post-processing: deleting what the mask made useless
#
# At a static position the $K$ dynamic values never reach the output; at a dynamic position
# the static value is never used. Post-processing deletes both, folds $\lambda_d$ and
# $\lambda_s$ into what is left, and stores the dynamic positions once per layer. Per layer
# of $N$ entries per kernel the kernel storage goes from $KN$ to $(1-\kappa)N + K\kappa N$.

# %%
model = runs[("IMP", 0.3)].eval()
small = compress(model).eval()
print(small.features[3])
test_batch = td.tensor(test_x[:64])
logits = model(test_batch).data
difference = np.abs(small(test_batch).data - logits).max() / np.abs(logits).max()
formula = sum(pad_kernel_parameters(m.mask.size, 4, m.dynamic_ratio) for m in pad_layers(model))
claim(difference < 1e-4 and np.isclose(sum(m.static_values.data.size + m.dynamic_values.data.size
                                           for m in small.features if hasattr(m, "dynamic_index")),
                                       formula),
      "Outputs of the compressed model equal the masked model's (max difference {d:.1e} of the "
      "largest logit, float32 rounding); its "
      "kernels store {f:.0f} values, (1 - kappa) N + K kappa N summed over the layers, "
      "against {full} in the fully dynamic network.", d=difference, f=formula,
      full=kernel_values)

# %% [markdown]
# The convolution itself is unchanged; only the mixing of the kernels shrinks, from $2KN$ to
# $2K\kappa N$ FLOPs per sample. On these 8x8 images the mixing is a visible share of the
# work; timed below as one machine's measurement (forward only).

# %%
flops = {name: count_flops(m, test_batch) / 64 for name, m in
         (("fully dynamic", runs["fully dynamic"].eval()), ("PAD masked", model),
          ("PAD compressed", small))}
conv1 = pad_conv_cost(small.features[0], (8, 8))
conv1_full = dynamic_conv_cost(runs["fully dynamic"].convs()[0], (8, 8))
show_table([[k, f"{v:,.0f}"] for k, v in flops.items()], ["model", "FLOPs per image"])
with td.no_grad():
    times = time_table({"fully dynamic": lambda: runs["fully dynamic"](test_batch),
                        "PAD masked": lambda: model(test_batch),
                        "PAD compressed": lambda: small(test_batch)}, repeats=9)
say("Conv 1 of the compressed model mixes {a} kernel FLOPs per image instead of {b}.",
    a=conv1["aggregation"], b=conv1_full["aggregation"])

# %% [markdown]
# **Differs from the paper.** We partition at initialisation with 5 IMP rounds on 640 digits;
# the paper's round and batch counts were not confirmed. Our MoE experts are linear layers
# behind noisy top-2 routers, as in its BERT-MoE, but trained from scratch on a toy task.

# %% [markdown]
# ## Exercise 11
#
# In `exercises/11_padnet/student.py` you write the partially dynamic linear layer, its mask
# saliency by hand (checked against autograd and finite differences), the exponential
# schedule with one global threshold and deterministic ties, the IMP loop, and
# post-processing with its exactness check. Grade it with `tinydyn grade 11`.
