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
# # Lesson 08 — Mixture of experts II: balanced and unlearned routing
#
# In lesson 07 every token chose its experts, and a balancing loss pushed the router to spread
# tokens evenly. This lesson balances the load in other ways:
#
# * **Expert Choice** (Zhou et al., NeurIPS 2022): the *experts* choose their tokens, each
#   exactly $C$ of them, so the load is balanced by construction;
# * **BASE layers** (Lewis et al., ICML 2021): a balanced *assignment* of tokens to experts,
#   solved exactly by an auction algorithm;
# * **Hash layers** (Roller et al., NeurIPS 2021): no learned router at all, a fixed table from
#   token id to expert, built to be balanced on the training data;
# * **THOR** (Zuo et al., ICLR 2022): experts picked at random, made to agree by a
#   consistency loss. Its paper reports that learned gating is no better than random routing.

# %% [markdown]
# What you will see:
#
# 1. Expert Choice by hand, and the price of balance: tokens with no expert, and
#    non-causality;
# 2. the balanced assignment problem, greedy against optimal, and the auction that solves it;
# 3. hash tables, random and balanced, on a Zipf distribution of token ids;
# 4. THOR's random routing, its inference rule and its consistency loss;
# 5. all of them trained on a task whose rule depends on the token id, with one training loop
#    written out;
# 6. what each router learned to send where, as a figure;
# 7. the cost: FLOPs and measured time.

# %%
import inspect

import matplotlib.pyplot as plt
import numpy as np

import tinydyn as td
from tinydyn.bench.moe_balanced import (
    TokenRuleNet,
    evaluate,
    flops_per_token,
    make_router,
    train_token_model,
)
from tinydyn.course.figures import moe_balanced as figures
from tinydyn.course.notebook import claim, pin_threads, plot_bars, say, show_table, time_table
from tinydyn.data import load_task
from tinydyn.dynamic.moe import (
    BaseRouter,
    ExpertChoiceRouter,
    ThorRouter,
    balanced_hash,
    consistency_loss,
    random_hash,
)
from tinydyn.dynamic.moe.auction import (
    assignment_score,
    greedy_capacity_assignment,
    hungarian_assignment,
)
from tinydyn.dynamic.moe.hashing import hash_loads
from tinydyn.kernels import auction as auction_kernels
from tinydyn.kernels.backend import use_backend
from tinydyn.nn import functional as F
from tinydyn.optim import Adam

pin_threads(1)  # this page times code: one BLAS thread makes timings repeatable
np.set_printoptions(precision=3, suppress=True)

# %% [markdown]
# ## 1. Expert Choice: experts pick their tokens
#
# The router scores tokens as before, $A = \mathrm{softmax}(X W_g)$ over the $E$ experts.
# Then each expert takes the $C$ tokens with the highest score in its column, where
# $C = \lceil S c / E \rceil$ and the *capacity factor* $c$ is the average number of experts per
# token. Eight tokens, four experts, $c = 1$: each expert takes $C = 2$ tokens.

# %%
router = ExpertChoiceRouter(6, 4, capacity_factor=1.0, rng=np.random.default_rng(0),
                            dtype=np.float64)
x = td.tensor(np.random.default_rng(1).standard_normal((8, 6)))
logits = x.data @ router.weight.data
A = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
picked = np.argsort(-A, axis=0, kind="stable")[:2]  # column e: expert e's two best tokens
print("scores A (tokens down, experts across):\n", A)
print("tokens picked by each expert:\n", picked.T)

# %%
routing = router(x)
same = np.array_equal(routing.token.reshape(4, 2), picked.T)
claim(same and np.allclose(routing.gate.data, A[routing.token, routing.expert]),
      "ExpertChoiceRouter picks the same tokens, with the scores as gates; every expert "
      "serves exactly {c} tokens.", c=int(routing.load()[0]))
say("Experts per token: {per}. {zero} token(s) got no expert at all: their MoE output is 0 "
    "and only the residual carries them.", per=routing.experts_per_token().tolist(),
    zero=int(routing.dropped_tokens().sum()))

# %% [markdown]
# Balance is perfect, but the *tokens* are no longer treated alike: some get two experts,
# some none. And a token's experts depend on every other token of the group, later ones
# included. Raise one later token's affinity for an expert, and an earlier token can lose
# its place: Expert Choice is not causal, so it cannot be used in an autoregressive decoder.

# %%
e = next(e for e in range(4) if 7 not in picked[:, e])  # an expert token 7 did not get
x2 = x.data.copy()
x2[7] = 5.0 * router.weight.data[:, e]  # the last token now wants expert e strongly
now = router(td.tensor(x2)).token.reshape(4, 2)[e]
lost = sorted(set(picked[:, e].tolist()) - set(now.tolist()))
say("Expert {e} took tokens {before}; after changing token 7 it takes {now}: token {lost} "
    "lost its place because of a token that comes after it.", e=e,
    before=picked[:, e].tolist(), now=now.tolist(), lost=lost[0])
assert 7 in now and lost[0] < 7

# %% [markdown]
# ## 2. BASE layers: a balanced assignment
#
# BASE gives every expert a centroid $w_e$ and scores token $t$ by $s_{t,e} = h_t \cdot w_e$.
# In training it solves
#
# $$\max_a \sum_t s_{t, a_t}\quad\text{such that every expert receives exactly } T/E
# \text{ tokens,}$$
#
# a *linear assignment problem*: copy each expert $T/E$ times into slots, and match $T$ tokens
# with $T$ slots. Greedy routing with a capacity (tokens in order take their favourite expert
# that still has room) is balanced but not optimal:

# %%
rng = np.random.default_rng(3)
scores = rng.normal(size=(8, 2))
scores[:, 0] += 1.0  # everybody prefers expert 0, which only has room for 4
greedy = greedy_capacity_assignment(scores)
best = hungarian_assignment(scores)
figures.plot_assignments(scores, {"greedy with capacity": greedy, "optimal (Hungarian)": best})
plt.show()

# %%
say("Greedy total {g:.2f}, optimum {b:.2f}: greedy fills expert 0 with the first tokens that "
    "come, not with the tokens that need it most.", g=assignment_score(scores, greedy),
    b=assignment_score(scores, best))
assert assignment_score(scores, best) > assignment_score(scores, greedy)

# %% [markdown]
# The Hungarian algorithm is exact but costs $O(T^3)$. BASE uses Bertsekas' **auction**
# instead. Each slot has a price, initially 0. An unassigned token values slot $j$ of expert
# $e$ at $s_{t,e} - p_{e,j}$, finds its best slot (value $v_1$) and the best of all other slots
# ($w$), and bids the price up to $p + (v_1 - w) + \varepsilon$: the most it can pay and still
# prefer that slot. The slot's previous holder is evicted and bids again. Here is the bid step
# of the library's NumPy auction:

# %%
print(inspect.getsource(auction_kernels.jacobi_bids).split('"""')[-1])

# %% [markdown]
# When everybody holds a slot, every token is within $\varepsilon$ of its best choice at the
# final prices, and the total is within $T\varepsilon$ of the optimum. With integer scores and
# $\varepsilon < 1/T$ it *is* the optimum. The auction lowers $\varepsilon$ in phases
# (epsilon-scaling): large steps find rough prices fast, small steps make them exact.

# %%
int_scores = np.random.default_rng(4).integers(-5, 6, size=(24, 4)).astype(float)
result = auction_kernels.balanced_assignment(int_scores, eps=1 / 25)
exact = assignment_score(int_scores, hungarian_assignment(int_scores))
claim(assignment_score(int_scores, result.expert) == exact,
      "On 24 tokens with integer scores the auction reaches the optimum, {o:.0f}, in {n} bids; "
      "loads {load}.", o=exact, n=result.n_bids,
      load=np.bincount(result.expert, minlength=4).tolist())

# %% [markdown]
# The auction is a loop of small dependent steps, the kind Numba compiles well. The library
# has two versions: the Numba kernel lets one token bid at a time (Gauss-Seidel); its NumPy
# twin lets every unassigned token bid at once and gives each slot to its highest bidder
# (Jacobi), since a Python loop over single bids would be far slower. On a batch of 512
# tokens and 8 experts (one machine's measurement):

# %%
big = np.random.default_rng(5).standard_normal((512, 8))
auction_kernels.warmup()


def solve(backend):
    def run():
        with use_backend(backend):
            auction_kernels.balanced_assignment(big)
    return run


times = time_table({"Numba, one bid at a time": solve("numba"),
                    "NumPy, all bids at once": solve("numpy")}, repeats=3, block=1)

# %%
ratio = times["NumPy, all bids at once"].median / times["Numba, one bid at a time"].median
claim(ratio > 3, "The compiled auction is {r:.0f}x faster here.", r=ratio)

# %% [markdown]
# At test time a batch may hold a single token, so BASE routes greedily: $a_t =
# \arg\max_e s_{t,e}$, with no balance. Training and inference route differently.

# %%
base = BaseRouter(6, 4, rng=np.random.default_rng(0), dtype=np.float64)
h = td.tensor(np.random.default_rng(6).standard_normal((32, 6)) + 0.5)
train_load = base(h).load()
base.eval()
say("The same 32 tokens: loads {t} in training (balanced assignment), {e} at test time "
    "(argmax).", t=train_load.tolist(), e=base(h).load().tolist())

# %% [markdown]
# ## 3. Hash layers: routing by token id
#
# A Hash layer sends token id $v$ to expert $\mathrm{hash}(v)$: no router to learn, no loss,
# the same expert for the same id everywhere. A *random* hash draws the table once. Token ids
# are not used equally often, though: in text their frequencies follow a Zipf law. A
# *balanced* hash visits ids from the most frequent down and gives each to the expert with the
# least frequency so far.

# %%
task = load_task("token_rules", seed=0)
freqs = np.bincount(task.train.fields[0].reshape(-1), minlength=task.vocab_size)
tables = {"random hash": random_hash(task.vocab_size, 8, rng=np.random.default_rng(0)),
          "balanced hash": balanced_hash(freqs, 8)}
loads = {name: hash_loads(table, freqs, 8) / freqs.sum() for name, table in tables.items()}
show_table([[name, *(f"{v:.3f}" for v in load)] for name, load in loads.items()],
           ["table", *(f"e{e}" for e in range(8))])

# %%
spread = {name: load.max() - load.min() for name, load in loads.items()}
claim(spread["balanced hash"] < spread["random hash"]
      and spread["balanced hash"] <= freqs.max() / freqs.sum(),
      "Share of the training tokens per expert: from {lo:.3f} to {hi:.3f} with the balanced "
      "table (the spread is at most the most frequent id's share, {top:.3f}), against a "
      "spread of {r:.3f} with the random one.",
      lo=loads["balanced hash"].min(), hi=loads["balanced hash"].max(),
      top=freqs.max() / freqs.sum(), r=spread["random hash"])

# %% [markdown]
# ## 4. THOR: random experts that agree
#
# THOR routes at random. In training the released code draws one expert per layer for the
# whole batch, runs the batch twice with independent draws, and adds to the two
# cross-entropies a symmetric KL divergence between the two predictions,
# $\alpha \cdot \tfrac12[\mathrm{KL}(p_1\|p_2) + \mathrm{KL}(p_2\|p_1)]$, which pulls the experts
# towards the same function. At inference each token gets a random expert from a fixed seed,
# so the same input is always routed the same way.

# %%
print(inspect.getsource(consistency_loss).split('"""')[-1])
thor = ThorRouter(6, 4, rng=np.random.default_rng(0))
draws = [thor(h).expert for _ in range(3)]
thor.eval()
say("Three training passes route all 32 tokens to experts {d}; at inference the experts per "
    "token are fixed by the seed: {same}.", d=[int(e[0]) for e in draws],
    same=bool(np.array_equal(thor(h).expert, thor(h).expert)))

# %% [markdown]
# ## 5. Training on a task whose rule depends on the token id
#
# In the `token_rules` task each of 64 token ids belongs to one of 8 hidden groups, and each
# group has its own random table from the *previous* token to one of 16 labels:
# $y_t = R_{g(v_t)}[v_{t-1}]$. A small model embeds $v_t$ and $v_{t-1}$, applies one
# feed-forward block with a residual, and classifies. The dense block has 8 hidden units; each
# MoE uses 8 experts of 8 hidden units, one per token, so the active FLOPs per token are the
# same. Here is one training loop written out, for the hash router:

# %%
STEPS = 300
tokens, previous, labels = task.train.fields
model = TokenRuleNet(64, 16, router=make_router("Hash (balanced)", task, 16, 8, None),
                     rng=np.random.default_rng(0))
opt = Adam(model.parameters(), lr=1e-2)
batch_rng = np.random.default_rng(1)
losses = []
for _ in range(STEPS):
    idx = batch_rng.integers(0, len(labels), size=32)          # 32 sequences of 16 tokens
    loss = F.cross_entropy(model(tokens[idx], previous[idx]), labels[idx].reshape(-1))
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(float(loss.data))
hash_acc = evaluate(model, task.test)["accuracy"]
say("Balanced hash: loss {a:.2f} -> {b:.2f}, test accuracy {acc:.1%}.", a=losses[0],
    b=float(np.mean(losses[-20:])), acc=hash_acc)

# %% [markdown]
# The other routers train with `train_token_model`, the same loop, plus the router's auxiliary
# loss when it has one (Switch's balancing loss) or THOR's two passes and consistency loss.

# %%
print(inspect.getsource(train_token_model).split('"""')[-1].split("    return")[0])

# %%
METHODS = ["dense FFN", "Switch top-1", "Expert Choice c=1", "BASE", "Hash (random)",
           "Hash (oracle groups)", "THOR"]
models, accuracy = {"Hash (balanced)": model}, {"Hash (balanced)": hash_acc}
for name in METHODS:
    rng = np.random.default_rng(0)
    net = TokenRuleNet(64, 16, router=make_router(name, task, 16, 8, rng), rng=rng)
    train_token_model(net, task, steps=STEPS, batch=32, lr=1e-2, rng=np.random.default_rng(1),
                      thor_alpha=1.0 if name == "THOR" else None)
    models[name], accuracy[name] = net, evaluate(net, task.test)["accuracy"]
order = ["dense FFN", "Switch top-1", "Expert Choice c=1", "BASE", "Hash (random)",
         "Hash (balanced)", "Hash (oracle groups)", "THOR"]
plot_bars({n: 100 * accuracy[n] for n in order}, xlabel="test accuracy %", fmt="{:.1f}")
plt.show()

# %%
say("Switch {s:.1%}, Expert Choice {ec:.1%}, BASE {b:.1%} against the dense block's {d:.1%}; "
    "the random and balanced hashes {r:.1%} and {bh:.1%}; the hash by hidden group "
    "{o:.1%}; THOR {t:.1%}.", s=accuracy["Switch top-1"], ec=accuracy["Expert Choice c=1"],
    b=accuracy["BASE"], d=accuracy["dense FFN"], r=accuracy["Hash (random)"],
    bh=accuracy["Hash (balanced)"], o=accuracy["Hash (oracle groups)"], t=accuracy["THOR"])
claim(accuracy["Hash (oracle groups)"] > accuracy["dense FFN"] + 0.05
      and accuracy["Switch top-1"] > accuracy["dense FFN"] + 0.05,
      "Routing tokens of one group to one expert pays: each expert then learns one table.")

# %% [markdown]
# A hash by token id helps only when the ids it puts together share a rule. The random and
# balanced tables mix all 8 groups in every expert: each expert must learn as many rules as the
# dense block, with no more width, so they do about as well as it does. The table of hidden
# groups (which a real corpus does not hand us) is the ideal. The learned routers see the
# previous token as well as the current one, and divide the table among the experts in their
# own way (section 6). THOR's experts are pushed to compute the same function, so its
# 8 experts hold no more knowledge than one. `tinydyn bench moe_balanced` repeats this over 3
# seeds with the full training budget.

# %% [markdown]
# ## 6. What the routers learned
#
# For each expert, the share of its test tokens that come from each hidden group: one dark
# cell per row means the expert specialised in one group.

# %%
test_tokens, test_prev, _ = task.test.fields
group = task.info["group"]
fig, axes = plt.subplots(1, 4, figsize=(13, 3))
purity = {}
for ax, name in zip(axes, ["Switch top-1", "BASE", "Hash (balanced)", "Hash (oracle groups)"]):
    net = models[name].eval()
    with td.no_grad():
        net(test_tokens[:64], test_prev[:64])
    routed = net.moe.last_routing
    counts = figures.expert_group_counts(routed.expert, group[test_tokens[:64].reshape(-1)
                                                             [routed.token]], 8, 8)
    purity[name] = counts.max(axis=1).sum() / counts.sum()
    figures.plot_expert_groups(counts, title=f"{name}: purity {purity[name]:.2f}", ax=ax)
plt.tight_layout()
plt.show()

# %%
say("Purity (the share of each expert's tokens from its main group): Switch {s:.2f}, BASE "
    "{b:.2f}, balanced hash {h:.2f}, hidden-group hash {o:.2f}.", s=purity["Switch top-1"],
    b=purity["BASE"], h=purity["Hash (balanced)"], o=purity["Hash (oracle groups)"])
net = models["Switch top-1"]
with td.no_grad():
    net(test_tokens, test_prev)
ids, experts = test_tokens.reshape(-1), net.moe.last_routing.expert
per_id = [len(set(experts[ids == v].tolist())) for v in np.unique(ids)]
claim(purity["Hash (oracle groups)"] == 1.0 and purity["Switch top-1"] < 0.8
      and np.mean(per_id) > 1.5,
      "Only the hidden-group hash has pure rows. Switch does not sort tokens by group: the "
      "same token id goes to {m:.1f} different experts on average, depending on the token "
      "before it. It splits the 512 (group, previous token) entries of the table among its "
      "experts in its own way, and that is enough to beat the dense block.", m=np.mean(per_id))

# %% [markdown]
# ## 7. The cost
#
# Per token, every model here runs one expert's feed-forward on average. The learned routers
# add the router's $d \times E$ product; the hashes and THOR add nothing. Measured time is
# another matter: the MoE layer sorts tokens by expert and runs one small product per expert
# (one machine's measurement, a batch of 64 sequences).

# %%
show_table([[n, f"{flops_per_token(n, 16, 8, 8, 16):,}", f"{100 * accuracy[n]:.1f}"]
            for n in order], ["method", "FLOPs / token", "test accuracy %"])


def infer(net):
    net.eval()

    def run():
        with td.no_grad():
            net(test_tokens[:64], test_prev[:64])
    return run


times = time_table({n: infer(models[n]) for n in ["dense FFN", "Switch top-1",
                                                   "Hash (balanced)", "BASE"]}, repeats=5)

# %%
say("Time per batch relative to the dense model: {r} (medians of this run).",
    r=", ".join(f"{n} {times[n].median / times['dense FFN'].median:.1f}x" for n in times))

# %% [markdown]
# With 16-wide tokens and 8-wide experts the products are tiny, so routing, sorting and
# per-expert bookkeeping weigh as much as the arithmetic: equal FLOPs need not give equal
# time at this scale. Lesson 07 times the MoE layer at a size where the experts' products
# dominate.
#
# **Differs from the papers:** our BASE routes one batch of a single process (no shuffling of
# tokens across workers) and uses a single feed-forward layer per expert; THOR draws one expert
# per batch in training, as the released code does; Expert Choice routes 64 test sequences
# together.
#
# **Exercise 08** asks you to write one token's bid, the whole auction (graded by balance and by
# its total score against the optimum), and the balanced hash table.
