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
# # Lesson 09 — Dynamic convolution
#
# A convolution applies the same kernel to every image. **Dynamic convolution** (Chen, Dai,
# Liu, Chen, Yuan and Liu, *Dynamic Convolution: Attention over Convolution Kernels*, CVPR
# 2020) keeps $K$ kernels per layer and lets a small attention branch, looking at the whole
# image, mix them into one kernel *per input*. The paper's claim: on MobileNetV3-Small it adds
# 2.9 points of ImageNet top-1 accuracy for about 4% more FLOPs. **CondConv** (Yang, Bender,
# Le and Ngiam, NeurIPS 2019) had the same structure with independent sigmoid gates.

# %% [markdown]
# What you will see:
#
# 1. a task where the right filter depends on the whole image, and what a static CNN does;
# 2. the attention over kernels and the per-sample kernel, by hand, checked against `tinydyn`;
# 3. why mixing kernels is cheap, and the properties that pin the layer down;
# 4. the loss and one optimiser step written out, then training;
# 5. the temperature: attention entropy with and without annealing;
# 6. CondConv's sigmoid gates against the softmax;
# 7. the attention on real handwritten digits;
# 8. the trade-off: accuracy, FLOPs and measured time.

# %%
import matplotlib.pyplot as plt
import numpy as np

import tinydyn as td
from tinydyn.course.notebook import claim, pin_threads, plot_curve, say, show_table, time_table
from tinydyn.data import load_task
from tinydyn.dynamic.dyconv import CondConv2d, DynamicConv2d, dynamic_conv_cost
from tinydyn.dynamic.dyconv.models import DyConvNet, overhead_by_size
from tinydyn.dynamic.dyconv.training import evaluate, train_classifier
from tinydyn.measure import count_flops
from tinydyn.nn import functional as F
from tinydyn.nn.conv import Conv2d
from tinydyn.optim import Adam

pin_threads(1)  # this page times code: one BLAS thread makes timings repeatable
np.set_printoptions(precision=3, suppress=True)

# %% [markdown]
# ## 1. When the right filter depends on the context
#
# Each 16x16 image of the `oriented_bars` task holds one short bar, horizontal or vertical, on
# a background that is slightly bright or slightly dark (+-0.07), under strong noise (std
# 0.35). The label asks whether the bar has the orientation the background calls for: bright
# wants horizontal, dark wants vertical. The background is faint, so a small window cannot
# tell it; the mean of the whole image can.

# %%
bars = load_task("oriented_bars", seed=0)
images, labels = bars.train.fields
fig, axes = plt.subplots(1, 6, figsize=(9, 1.8))
for ax, i in zip(axes, range(6)):
    ax.imshow(images[i, 0], cmap="gray", vmin=-1, vmax=1.5)
    ax.set_title(f"{'bright' if bars.train.context[i] else 'dark'}, label {labels[i]}",
                 fontsize=8)
    ax.axis("off")
plt.show()

# %%
window = images[:, 0, :5, :5].mean(axis=(1, 2))  # the 5x5 window two 3x3 convolutions see
whole = images[:, 0].mean(axis=(1, 2))            # what global average pooling sees
ctx = bars.train.context.astype(bool)
w_right, g_right = np.mean((window > 0) == ctx), np.mean((whole > 0) == ctx)
claim(g_right > 0.97 and w_right < 0.9,
      "A 5x5 window guesses the background right {w:.0%} of the time; the image mean {g:.0%}.",
      w=w_right, g=g_right)

# %% [markdown]
# So the context is global: a network with small kernels must either carry it through many
# layers, or be told it. A static convolution applies one kernel everywhere, whatever the
# background; the label is an XOR of the bar's orientation and the background, which a linear
# head on pooled features cannot compute from orientation detectors alone. Our static CNN of
# two 3x3 layers sees the background only through the 5x5 window around the bar, and that
# window is wrong about it too often.

# %% [markdown]
# ## 2. Attention over kernels, by hand
#
# A dynamic layer holds $K$ kernels $W_k$ and biases $b_k$. For each input $x_n$:
#
# $$a_n = \mathrm{GAP}(x_n),\quad z_n = \mathrm{FC}_2(\mathrm{ReLU}(\mathrm{FC}_1(a_n))),\quad
# \pi_n = \mathrm{softmax}(z_n/\tau),\quad \tilde W_n = \textstyle\sum_k \pi_{n,k} W_k,\quad
# \tilde b_n = \sum_k \pi_{n,k} b_k,$$
#
# and $y_n = \mathrm{conv}(x_n; \tilde W_n) + \tilde b_n$. Here is a tiny layer: 2 input
# channels, 3 output channels, $K = 3$ kernels, 4 hidden units in the attention branch.

# %%
layer = DynamicConv2d(2, 3, 3, num_kernels=3, padding=1, hidden=4, temperature=2.0,
                      rng=np.random.default_rng(0), dtype=np.float64)
x = np.random.default_rng(1).standard_normal((2, 2, 5, 5))
a = x.mean(axis=(2, 3))                                               # (N, C)
h = np.maximum(0, a @ layer.fc1_weight.data.T + layer.fc1_bias.data)  # (N, hidden)
z = h @ layer.fc2_weight.data.T + layer.fc2_bias.data                 # (N, K)
pi = np.exp(z / 2.0) / np.exp(z / 2.0).sum(axis=1, keepdims=True)
print("attention pi (one row per sample):\n", pi)

# %%
kernels = np.einsum("nk,koihw->noihw", pi, layer.weight.data)  # one kernel per sample
biases = pi @ layer.bias.data
by_hand = np.stack([F.conv2d(td.tensor(x[n:n + 1]), td.tensor(kernels[n]),
                             td.tensor(biases[n]), padding=1).data[0] for n in range(2)])
out = layer(td.tensor(x)).data
claim(bool(np.allclose(by_hand, out) and np.allclose(layer.last_weights, pi)),
      "By hand and `DynamicConv2d` agree, attention and output (largest gap {gap:.1e}).",
      gap=float(np.abs(by_hand - out).max()))

# %% [markdown]
# The layer keeps the last attention in `layer.last_weights`, and does the per-sample
# convolution in one call: `conv2d` accepts a weight of shape (N, O, C, kh, kw), one kernel per
# sample, and computes it as a batched matrix product over im2col columns.

# %% [markdown]
# ## 3. Why it is cheap, and what pins it down
#
# Convolution is linear in its kernel, so convolving with the mix equals mixing the $K$
# convolutions: $\mathrm{conv}(x; \sum_k \pi_k W_k) = \sum_k \pi_k\, \mathrm{conv}(x; W_k)$.
# The left side costs one convolution plus the mix; the right side $K$ convolutions.

# %%
singles = [F.conv2d(td.tensor(x), td.tensor(layer.weight.data[k]),
                    td.tensor(layer.bias.data[k]), padding=1).data for k in range(3)]
mixed_outputs = sum(pi[:, k, None, None, None] * singles[k] for k in range(3))
claim(bool(np.allclose(mixed_outputs, out)),
      "Mixing the outputs of the 3 kernels gives the same result as the mixed kernel.")

# %%
big = DynamicConv2d(16, 32, 3, num_kernels=4, padding=1)
cost = dynamic_conv_cost(big, (16, 16))
show_table([[part, n, f"{n / cost['conv']:.2%}"] for part, n in cost.items()],
           ["part (16->32 channels, 3x3, 16x16, K=4)", "FLOPs per input", "of the conv"])

# %% [markdown]
# The aggregation costs $2K$ multiply-adds per kernel weight, once per input, whatever the
# image size; the convolution costs one multiply-add per weight *per output position*. On
# these 16x16 maps the whole attention branch plus aggregation is the small percentage above;
# on an 8x8 map it would be four times larger relative to the convolution.

# %% [markdown]
# Three properties pin the layer down: with $K = 1$ it is a static convolution at any $\tau$;
# the attention rows sum to 1; and as $\tau \to \infty$ the attention becomes uniform, so the
# layer is a static convolution with the mean kernel.

# %%
one = DynamicConv2d(2, 3, 3, num_kernels=1, padding=1, temperature=0.3,
                    rng=np.random.default_rng(2), dtype=np.float64)
static_out = F.conv2d(td.tensor(x), td.tensor(one.weight.data[0]), td.tensor(one.bias.data[0]),
                      padding=1).data
hot = DynamicConv2d(2, 3, 3, num_kernels=3, padding=1, hidden=4, temperature=1e9,
                    rng=np.random.default_rng(0), dtype=np.float64)
hot(td.tensor(x))
claim(bool(np.allclose(one(td.tensor(x)).data, static_out)
           and np.allclose(layer.last_weights.sum(1), 1)
           and np.allclose(hot.last_weights, 1 / 3)),
      "K = 1 is a static conv; rows sum to 1; at a huge temperature every weight is 1/3.")

# %% [markdown]
# ## 4. The loss and one step, then training
#
# The networks here are two 3x3 convolutions of width 4 (each followed by BatchNorm and ReLU),
# global average pooling and a linear head; `kind` chooses static, DY-Conv or CondConv
# convolutions. One training step, written out:

# %%
model = DyConvNet(1, 2, width=4, kind="dyconv", rng=np.random.default_rng(0))
opt = Adam(model.parameters(), lr=1e-2)
idx = np.random.default_rng(0).integers(0, len(labels), size=64)
loss = F.cross_entropy(model(td.tensor(images[idx])), labels[idx])
opt.zero_grad()
loss.backward()  # the gradient reaches the attention through the mixed kernel
opt.step()
fc2 = model.convs()[1].fc2_weight
say("Loss {loss:.3f}; the attention's last layer got a gradient of norm {g:.2e}.",
    loss=float(loss.data), g=float(np.linalg.norm(fc2.grad.data)))

# %% [markdown]
# `train_classifier` repeats this step, sets the temperature of every dynamic layer from the
# schedule before each step (30 falling linearly to 1 over the first third of training, then 1),
# and records the attention's entropy. The static CNN of the same width gets the same budget
# (steps, batch, data order), each kind at its best learning rate in the sweep of `tinydyn
# bench dyconv`: 0.04 for the static CNN, 0.01 for the dynamic ones.

# %%
STEPS = 500
runs = {}
for name, kind, anneal in [("static", "static", None), ("DY-Conv", "dyconv", None),
                           ("DY-Conv, tau = 1", "dyconv", 0), ("CondConv", "condconv", None)]:
    net = DyConvNet(1, 2, width=4, kind=kind, rng=np.random.default_rng(0))
    lr = 4e-2 if kind == "static" else 1e-2
    runs[name] = train_classifier(net, bars, steps=STEPS, lr=lr, anneal_steps=anneal,
                                  rng=np.random.default_rng(1))
    runs[name]["model"] = net
show_table([[name, f"{r['test_accuracy']:.1%}"] for name, r in runs.items()],
           ["oriented_bars, one seed", "test accuracy"])

# %%
smooth = {name: np.convolve(r["losses"], np.ones(20) / 20, mode="valid")
          for name, r in runs.items() if name in ("static", "DY-Conv")}
plot_curve(smooth, ylabel="training loss (mean of 20 steps)")
plt.show()

# %%
gap = runs["DY-Conv"]["test_accuracy"] - runs["static"]["test_accuracy"]
claim(gap > 0.1, "DY-Conv is {d:.0f} points above the static CNN of the same width: the "
      "static network cannot choose its filter by the background.", d=100 * gap)

# %%
fit = {name: evaluate(runs[name]["model"], images[:1000], labels[:1000])
       for name in ("static", "DY-Conv")}
claim(fit["DY-Conv"] - fit["static"] > 0.1, "On its own training images the static CNN is right "
      "{s:.1%} of the time, DY-Conv {d:.1%}: the static network lacks the information, not "
      "the memory.", s=fit["static"], d=fit["DY-Conv"])

# %% [markdown]
# One seed is one draw; `tinydyn bench dyconv` trains every method over three seeds with a
# four times longer budget and reports the mean and the spread: the static CNN stays far
# behind there too, so it is not short of steps either.

# %% [markdown]
# ## 5. The temperature
#
# The paper's reasoning: with $\tau = 1$ from the start, the softmax can commit to one kernel
# early; the others then get little gradient and stop learning. A large starting temperature
# keeps the attention near uniform while the kernels train. The entropy of the first layer's
# attention over training ($\log 4 \approx 1.39$ is uniform):

# %%
ent = {name: np.convolve(runs[name]["entropy"], np.ones(10) / 10, mode="valid")
       for name in ("DY-Conv", "DY-Conv, tau = 1")}
plot_curve(ent, ylabel="attention entropy (nats)")
plt.show()
start = {name: float(np.mean(runs[name]["entropy"][:10])) for name in ent}
claim(start["DY-Conv"] > 0.99 * np.log(4),
      "At tau = 30 the attention starts uniform (entropy {e:.3f} of {m:.3f}); at tau = 1 it "
      "starts at {e1:.3f}.", e=start["DY-Conv"], m=np.log(4), e1=start["DY-Conv, tau = 1"])
annealed, flat = runs["DY-Conv"]["test_accuracy"], runs["DY-Conv, tau = 1"]["test_accuracy"]
say("Test accuracy after {n} steps: annealed {a:.1%}, tau = 1 throughout {b:.1%}.", n=STEPS,
    a=annealed, b=flat)

# %% [markdown]
# The paper anneals over its first 10 epochs of a long training; here the schedule takes the
# first third of a few hundred steps, a large share of a short budget spent on near-uniform
# kernels. Which of the two wins on this tiny task varies from seed to seed.

# %% [markdown]
# ## 6. CondConv: gates instead of a softmax
#
# CondConv computes $\alpha = \sigma(\mathrm{GAP}(x) R)$: each expert kernel has its own gate in
# (0, 1), the gates need not sum to 1, and there is no temperature. Scaling all gates by $c$
# scales the kernel by $c$, something a softmax cannot do.

# %%
cond = runs["CondConv"]["model"].convs()[0]
dyn = runs["DY-Conv"]["model"].convs()[0]
probe = td.tensor(bars.test.fields[0][:200])
with td.no_grad():
    cond(probe)
    dyn(probe)
show_table([["CondConv gates", f"{cond.last_weights.sum(1).mean():.3f}",
             f"{cond.last_weights.sum(1).std():.3f}"],
            ["DY-Conv attention", f"{dyn.last_weights.sum(1).mean():.3f}",
             f"{dyn.last_weights.sum(1).std():.3f}"]],
           ["first layer, 200 test images", "mean of row sums", "std of row sums"])

# %%
gated = CondConv2d(2, 3, 3, num_experts=3, padding=1, bias=False, rng=np.random.default_rng(0),
                   dtype=np.float64)
alpha = td.tensor(np.random.default_rng(3).uniform(size=(2, 3)))
claim(bool(np.allclose(gated.mix(td.tensor(x), alpha * 2.5).data,
                       2.5 * gated.mix(td.tensor(x), alpha).data)),
      "CondConv with every gate times 2.5 gives 2.5 times the output (no bias).")

# %% [markdown]
# ## 7. Per-sample attention on real digits
#
# scikit-learn ships 1797 handwritten digits of 8x8 pixels. We train the same narrow DY-Conv
# network on them and average the second layer's attention over the test images of each digit.

# %%
digits = load_task("digits", seed=0)
dnet = DyConvNet(1, 10, width=4, kind="dyconv", rng=np.random.default_rng(0))
dres = train_classifier(dnet, digits, steps=1500, lr=1e-2, rng=np.random.default_rng(1))
test_x, test_y = digits.test.fields
with td.no_grad():
    dnet.eval()(td.tensor(test_x))
att = dnet.attention()[1]
per_class = np.stack([att[test_y == d].mean(0) for d in range(10)])
plt.figure(figsize=(4, 3))
plt.imshow(per_class, cmap="viridis", aspect="auto")
plt.xlabel("kernel k")
plt.ylabel("digit")
plt.colorbar(label="mean attention")
plt.show()

# %%
say("Test accuracy {acc:.1%}; the mean attention of a kernel varies from digit to digit by up "
    "to {spread:.2f}, and within one digit samples differ by a std of {within:.2f}.",
    acc=dres["test_accuracy"], spread=float((per_class.max(0) - per_class.min(0)).max()),
    within=float(np.mean([att[test_y == d].std(0).mean() for d in range(10)])))

# %% [markdown]
# ## 8. The trade-off
#
# FLOPs counted by the op-level counter for one input, and the time of one layer's forward and
# backward pass against the static layer of the same shape (one machine's measurement, median
# and spread of alternating warm blocks).

# %%
x8 = td.tensor(test_x[:16])
f_static = count_flops(DyConvNet(1, 10, width=4, kind="static").eval(), x8) / 16
f_dyn = count_flops(dnet.eval(), x8) / 16
claim(f_dyn / f_static - 1 > 0.05,
      "On 8x8 digits the DY-Conv network costs {d:,.0f} FLOPs per image against {s:,.0f}: "
      "{o:+.1%}, more than the paper's 4%.", d=f_dyn, s=f_static, o=f_dyn / f_static - 1)

# %% [markdown]
# Why more: the aggregation costs $2K$ FLOPs per kernel weight once per image, the convolution
# 2 per weight per output pixel, so the aggregation is $K / (H_o W_o)$ of the convolution:
# $4/64 = 6.25\%$ on 8x8 maps, whatever the width. The same network on larger inputs, counted
# the same way:

# %%
sizes = overhead_by_size(sizes=(8, 16, 32, 64))
show_table([[f"{r['size']}x{r['size']}", f"{r['static_flops']:,.0f}", f"{r['overhead']:.1%}",
             f"{r['aggregation_share']:.2%}", f"{r['bound']:.2%}"] for r in sizes],
           ["input", "static FLOPs", "DY-Conv overhead", "aggregation", "K / (H W)"])
big_map = sizes[-1]
claim(sizes[1]["overhead"] < 0.05 < sizes[0]["overhead"]
      and big_map["overhead"] - big_map["aggregation_share"] > 5 * big_map["aggregation_share"],
      "From 16x16 on the overhead is below 5% ({o16:.1%}); what stays at large maps is the "
      "global pooling ({o64:.1%} at 64x64 in a net this narrow).", o16=sizes[1]["overhead"],
      o64=sizes[-1]["overhead"])

# %%
xb = td.tensor(np.random.default_rng(0).standard_normal((64, 16, 16, 16)).astype(np.float32),
               requires_grad=True)
static_layer = Conv2d(16, 32, 3, padding=1, rng=np.random.default_rng(0))


def step(module):
    def run():
        for p in [*module.parameters(), xb]:
            p.grad = None
        module(xb).sum().backward()
    return run


times = time_table({"static conv": step(static_layer), "DY-Conv, K = 4": step(big)}, repeats=7)

# %% [markdown]
# The dynamic layer pays for the attention branch, the aggregation, and a per-sample weight
# gradient that a static layer sums over the batch; the convolution itself is the same batched
# product. **Differs from the paper:** our networks make every convolution dynamic, the stem
# included (the context is in the raw image's mean), and recompute BatchNorm statistics at the
# end of training; the paper's networks are far wider and train for many epochs.
