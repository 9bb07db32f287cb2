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
# # Lesson 01 — Autograd from scratch
#
# Every model in this course is trained by gradient descent, and every gradient is computed by
# the same small machine: **reverse-mode automatic differentiation**. In this lesson we build
# that machine ourselves, check it against `tinydyn`'s, and then see what dynamic networks —
# networks whose computation depends on the input — demand from it.
#
# What you will see:
#
# 1. the chain rule on a small computational graph, drawn and computed by hand;
# 2. a tiny engine, written live on this page, that agrees with `tinydyn`;
# 3. why the backward pass walks the graph in *topological order*;
# 4. gradient checking with finite differences, and how to choose its step;
# 5. graphs that change from one input to the next;
# 6. why the backward must be iterative;
# 7. the two derivations you will turn into code in Exercise 01.

# %%
import inspect
import math
import sys
import time

import matplotlib.pyplot as plt
import numpy as np

import tinydyn as td
from tinydyn.course.notebook import claim

np.set_printoptions(precision=4, suppress=True)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The chain rule on a graph
#
# Take a small expression of two inputs, written as a sequence of elementary steps:
#
# $$a = x\,y, \qquad b = a + y, \qquad L = \tanh(b).$$
#
# Each step is a node of a graph, and each edge carries a *local derivative*: how much the
# output of a step moves when one of its inputs moves. The chain rule says that the derivative
# of $L$ with respect to any node is the sum, over every path from that node to $L$, of the
# product of the local derivatives along the path. Here $y$ reaches $L$ by two paths (through
# $a$ and directly into $b$), so its gradient has two terms:
#
# $$\frac{\partial L}{\partial b} = 1 - \tanh^2 b, \qquad
# \frac{\partial L}{\partial a} = \frac{\partial L}{\partial b}\cdot 1, \qquad
# \frac{\partial L}{\partial x} = \frac{\partial L}{\partial a}\, y, \qquad
# \frac{\partial L}{\partial y} = \frac{\partial L}{\partial a}\, x
#     + \frac{\partial L}{\partial b}\cdot 1 .$$
#
# Reverse mode computes these from the output backwards: once $\partial L/\partial b$ is known,
# it is reused by everything upstream of $b$. That reuse is why one backward pass costs about
# as much as one forward pass, however many inputs there are.

# %%
x, y = 0.8, 0.4
a = x * y
b = a + y
L = math.tanh(b)

dL_db = 1 - L**2
dL_da = dL_db * 1.0
dL_dx = dL_da * y
dL_dy = dL_da * x + dL_db * 1.0  # two paths into y: through a, and straight into b
print(f"forward : a = {a:.4f}, b = {b:.4f}, L = {L:.4f}")
print(f"backward: dL/db = {dL_db:.4f}, dL/da = {dL_da:.4f}, "
      f"dL/dx = {dL_dx:.4f}, dL/dy = {dL_dy:.4f}")


# %% [markdown]
# The same graph as a picture: each box holds a node's forward value and its gradient
# $\partial L/\partial(\text{node})$; each edge carries its local derivative.

# %%
def draw_graph(ax, nodes, edges):
    """nodes: name -> (x, y, text in the box); edges: (src, dst, label, label offset (dx, dy))."""
    for src, dst, label, (dx, dy) in edges:
        (x0, y0, _), (x1, y1, _) = nodes[src], nodes[dst]
        ax.annotate("", xy=(x1, y1), xytext=(x0, y0),
                    arrowprops=dict(arrowstyle="-|>", color="0.4", lw=1.5,
                                    shrinkA=42, shrinkB=42))
        ax.text((x0 + x1) / 2 + dx, (y0 + y1) / 2 + dy, label, ha="center", va="center",
                fontsize=10, color="tab:blue")
    for name, (px, py, text) in nodes.items():
        ax.text(px, py, f"$\\mathbf{{{name}}}$\n{text}", ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round,pad=0.5", fc="moccasin", ec="tab:orange"))
    ax.set_xlim(-1, 9)
    ax.set_ylim(-0.9, 2.9)
    ax.axis("off")


# %%
grads = {"x": dL_dx, "y": dL_dy, "a": dL_da, "b": dL_db, "L": 1.0}
values = {"x": x, "y": y, "a": a, "b": b, "L": L}
positions = {"x": (0, 2.2), "y": (0, 0), "a": (3, 2.2), "b": (5.5, 1.1), "L": (8, 1.1)}
nodes = {n: (*positions[n], f"value {values[n]:.3f}\ngrad {grads[n]:.3f}") for n in positions}
edges = [("x", "a", f"∂a/∂x = y = {y:.2f}", (0, 0.3)),
         ("y", "a", f"∂a/∂y = x = {x:.2f}", (-0.75, 0.15)),
         ("a", "b", "∂b/∂a = 1", (0.55, 0.25)),
         ("y", "b", "∂b/∂y = 1", (0.3, -0.4)),
         ("b", "L", f"∂L/∂b = 1 − tanh²b\n= {dL_db:.3f}", (0, 0.45))]
fig, ax = plt.subplots(figsize=(9, 4))
draw_graph(ax, nodes, edges)
ax.set_title("L = tanh(x·y + y): forward values, local derivatives and gradients")
plt.show()

# %% [markdown]
# ## 2. A tiny engine, built live
#
# An autograd engine needs three things:
#
# * a **value** type that remembers which operation produced it and from which inputs;
# * **operations** that know both their forward and their backward (the local derivatives);
# * a **backward pass** that visits the recorded graph from the output to the inputs,
#   multiplying the incoming gradient by the local derivatives and *adding* what arrives at
#   each node along different paths.
#
# Below is a complete engine for scalars, in five short cells of about seventy lines in all.
# It has the same shape as `tinydyn`'s (`td.Function` with a static `forward(ctx, ...)` and
# `backward(ctx, grad)`, a context `ctx` to save what the backward needs, and a `Tensor`
# recording its producer), only on Python floats instead of NumPy arrays. First the context
# and the base class of every operation: `apply` runs the forward and records the graph edge.

# %%
class Context:
    """Scratch space the forward fills for the backward."""

    def save(self, *values):
        self.saved = values


class Op:
    """An operation: subclasses give forward (floats in, a float out) and backward."""

    @classmethod
    def apply(cls, *inputs):
        inputs = [v if isinstance(v, Scalar) else Scalar(v) for v in inputs]
        ctx = Context()
        out = Scalar(cls.forward(ctx, *(v.data for v in inputs)))
        out.op, out.ctx, out.parents = cls, ctx, inputs  # the recorded graph edge
        return out


# %% [markdown]
# Each operation is a forward and its local derivatives. `Add` passes the gradient to both
# inputs; `Mul` needs its inputs, so its forward saves them:

# %%
class Add(Op):
    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, g):
        return g, g


class Mul(Op):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        return g * b, g * a


# %% [markdown]
# For $\tanh$ the derivative $1 - \tanh^2 a$ is cheapest written with the output, so the
# forward saves that instead of the input:

# %%
class Tanh(Op):
    @staticmethod
    def forward(ctx, a):
        out = math.tanh(a)
        ctx.save(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved
        return (g * (1 - out * out),)


# %% [markdown]
# The value type: a float, its gradient, and the recorded producer. Its `backward` seeds
# $\partial L/\partial L = 1$ and visits the nodes from the output back, adding what each
# operation's backward returns into its inputs' gradients:

# %%
class Scalar:
    def __init__(self, data, label=""):
        self.data, self.grad, self.label = float(data), 0.0, label
        self.op, self.ctx, self.parents = None, None, []

    def __add__(self, other): return Add.apply(self, other)
    def __radd__(self, other): return Add.apply(other, self)
    def __mul__(self, other): return Mul.apply(self, other)
    def __rmul__(self, other): return Mul.apply(other, self)
    def tanh(self): return Tanh.apply(self)

    def backward(self):
        order = topological_order(self)
        for v in order:
            v.grad = 0.0
        self.grad = 1.0
        for v in reversed(order):  # outputs first: a node's gradient is complete when visited
            if v.op is not None:
                for parent, g in zip(v.parents, v.op.backward(v.ctx, v.grad)):
                    parent.grad += g


# %% [markdown]
# The order of that visit comes from a depth-first search (section 3 says why it matters):

# %%
def topological_order(root):
    """Every node reachable from root, each after all of its parents (recursive DFS)."""
    order, seen = [], set()

    def visit(v):
        if id(v) not in seen:
            seen.add(id(v))
            for parent in v.parents:
                visit(parent)
            order.append(v)  # appended only after everything it depends on

    visit(root)
    return order


# %% [markdown]
# Run it on our expression. The Python code is the same as the arithmetic above; the engine
# records the graph as a side effect.

# %%
sx, sy = Scalar(0.8, "x"), Scalar(0.4, "y")
sa = sx * sy
sa.label = "a"
sb = sa + sy
sb.label = "b"
sL = sb.tanh()
sL.label = "L"
sL.backward()
print(f"tiny engine: L = {sL.data:.6f}, dL/dx = {sx.grad:.6f}, dL/dy = {sy.grad:.6f}")

# %% [markdown]
# And the same expression in `tinydyn`, in float64, where the values are NumPy arrays:

# %%
tx = td.tensor(0.8, dtype="float64", requires_grad=True)
ty = td.tensor(0.4, dtype="float64", requires_grad=True)
tL = (tx * ty + ty).tanh()
tL.backward()
print(f"tinydyn    : L = {tL.item():.6f}, dL/dx = {tx.grad.item():.6f}, "
      f"dL/dy = {ty.grad.item():.6f}")
gap = max(abs(sx.grad - dL_dx), abs(sy.grad - dL_dy), abs(tx.grad.item() - dL_dx),
          abs(ty.grad.item() - dL_dy))
claim(gap < 1e-12, "Both engines agree with the hand computation to {gap:.1e}.", gap=gap)

# %% [markdown]
# ## 3. Topological order
#
# A node may feed several others ($y$ feeds both $a$ and $b$). Its gradient is the *sum* of
# what comes back along each of its outgoing edges, so the backward may pass a node's gradient
# on only after **all** of its consumers have contributed. Walking the nodes in reverse
# topological order — every node after everything that uses it — guarantees exactly that.
# Here is the order our engine computed, and the order the backward visits:

# %%
order = topological_order(sL)
print("topological order:", " -> ".join(v.label for v in order))
print("backward visits  :", " -> ".join(v.label for v in reversed(order)))


# %% [markdown]
# Why not simply recurse from the output and push each gradient along every edge as soon as
# it arrives? By linearity that is *correct* — it sums over every path — but the number of
# paths can grow exponentially with depth. Build a chain where each step uses the previous
# value twice,
#
# $$v_{k+1} = \tanh(v_k) + v_k ,$$
#
# so that there are $2^n$ paths from $v_0$ to $v_n$, and count the backward calls of both
# strategies:

# %%
def backward_every_path(v, g, calls):
    """Push g down every path separately (correct, but exponential on shared nodes)."""
    calls[0] += 1
    if v.op is None:
        v.grad += g
        return
    for parent, pg in zip(v.parents, v.op.backward(v.ctx, g)):
        backward_every_path(parent, pg, calls)


# %%
growth = []
print(f"{'depth n':>7} {'calls, every path':>18} {'nodes, topological':>19} {'same grad':>10}")
for n in (4, 8, 12, 16):
    v0 = Scalar(0.3)
    v = v0
    for _ in range(n):
        v = v.tanh() + v
    v.backward()
    topo_grad = v0.grad
    v0.grad, calls = 0.0, [0]
    backward_every_path(v, 1.0, calls)
    print(f"{n:>7} {calls[0]:>18,} {len(topological_order(v)):>19} "
          f"{str(math.isclose(v0.grad, topo_grad)):>10}")
    growth.append((calls[0], len(topological_order(v))))
per_4_steps = [c2 / c1 for (c1, _), (c2, _) in zip(growth, growth[1:])]
claim(min(per_4_steps) > 2 ** 3.9, "Every 4 more steps multiply the every-path calls by "
      "{r:.0f} (2^4 = 16) and add {d} nodes to the topological walk.",
      r=per_4_steps[-1], d=growth[-1][1] - growth[-2][1])

# %% [markdown]
# The topological walk touches each node once: its cost grows linearly with the graph, the
# every-path walk doubles with each step.
#
# ## 4. Gradient checking
#
# How do we know a backward is right? Compare it with a derivative computed from the forward
# alone. The **central difference**
#
# $$\frac{f(x+\varepsilon) - f(x-\varepsilon)}{2\varepsilon}
#   = f'(x) + \frac{\varepsilon^2}{6} f'''(x) + O(\varepsilon^4)$$
#
# has a *truncation* error that shrinks like $\varepsilon^2$. But $f$ is computed in floating
# point, with a relative rounding error of about the machine epsilon $u$ on each value; the
# difference of two nearly equal numbers divided by $2\varepsilon$ turns that into a
# *round-off* error of about $u\,|f(x)|/\varepsilon$, which grows as $\varepsilon$ shrinks.
# The total is smallest where both are equal, around $\varepsilon \approx u^{1/3}$.
# Let us measure it for $f = \tanh$ (the median error over a few points $x$), in float32
# and float64:

# %%
POINTS = np.linspace(0.1, 1.5, 15)


def central_difference_error(dtype, eps):
    """Median |error| over a few points x, for each step in eps (one point can be lucky)."""
    x0 = POINTS.astype(dtype)
    exact = 1 - np.tanh(POINTS) ** 2
    errors = []
    for e in eps:
        e = dtype(e)
        estimate = (np.tanh(x0 + e) - np.tanh(x0 - e)) / (dtype(2) * e)
        errors.append(np.median(np.abs(estimate.astype(np.float64) - exact)))
    return np.maximum(np.array(errors), 1e-17)  # an exact hit would vanish from a log plot


# %%
eps = np.logspace(-12, -0.5, 70)
errors = {dtype.__name__: central_difference_error(dtype, eps)
          for dtype in (np.float32, np.float64)}
for name, err in errors.items():
    u, best = np.finfo(name).eps, np.argmin(err)
    print(f"{name}: machine eps u = {u:.1e}, u^(1/3) = {u ** (1 / 3):.1e}; "
          f"best measured eps = {eps[best]:.1e} with median error {err[best]:.1e}")
    assert abs(np.log10(eps[best] / u ** (1 / 3))) < 1, "the best step is not near u^(1/3)"
ratio = errors["float32"].min() / errors["float64"].min()
print(f"at its best, float32 is {ratio:.0e} times less accurate than float64")
derivative = np.median(1 - np.tanh(POINTS) ** 2)
claim(bool(np.isclose(errors["float32"][0], derivative)), "At the smallest step the float32 "
      "error is the median derivative itself, {d:.3f}.", d=derivative)

# %% [markdown]
# The same errors against the step, beside the two estimates of the text:

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for (name, err), color in zip(errors.items(), ("tab:red", "tab:blue")):
    u = np.finfo(name).eps
    ax.loglog(eps, err, ".-", color=color, label=f"{name} measured")
    ax.loglog(eps, u / eps, ":", color=color, label=f"{name} round-off ≈ u/ε")
ax.loglog(eps, eps**2 / 6, "--", color="0.3", label="truncation ≈ ε²·|f'''|/6")
ax.set(xlabel="step ε", ylabel="median |error| of the derivative", ylim=(1e-13, 10),
       title="Central differences: truncation vs round-off")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Each measured curve is a V: along the truncation line for large $\varepsilon$, under the
# round-off estimate (a worst case) for small $\varepsilon$, with its bottom near $u^{1/3}$
# (asserted above). On the far left of the float32 curve, $x + \varepsilon$ rounds back to
# $x$, the estimate is 0 and the error is the whole derivative. Even at its best, float32 is
# too coarse to tell a subtle bug from rounding. That is why `td.grad_check` insists on
# float64 inputs (and uses $\varepsilon = 10^{-6}$, near the float64 optimum). It perturbs
# every input element, compares with the backward, and raises an `AssertionError` naming the
# worst element:

# %%
gx = td.tensor(rng.normal(size=(3, 4)), dtype="float64", requires_grad=True)
gy = td.tensor(rng.normal(size=(4,)), dtype="float64", requires_grad=True)  # broadcast
print("grad_check on (x*y + y).tanh():", td.grad_check(lambda p, q: (p * q + q).tanh(), gx, gy))
print("grad_check's default step eps:", inspect.signature(td.grad_check).parameters["eps"].default)


# %% [markdown]
# Now a `tinydyn` op with a deliberate bug — a tanh whose backward forgot a square — written
# exactly like the library's own ops, as a `td.Function` subclass:

# %%
class BuggyTanh(td.Function):
    @staticmethod
    def forward(ctx, a):
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved
        return grad * (1 - out)  # should be 1 - out**2


try:
    td.grad_check(lambda p: BuggyTanh.apply(p), gx)
except AssertionError as err:
    print(err)

# %% [markdown]
# ## 5. Dynamic networks: a graph per input
#
# A static-graph framework compiles one graph and runs every input through it. `tinydyn`, like
# PyTorch, is **define-by-run**: the graph is recorded while ordinary Python runs, so an `if`
# or a `break` that looks at the data simply produces a different graph. Dynamic networks are
# built on exactly this: skip a token, exit a layer early, route to one expert out of many.
#
# A minimal example: a one-unit RNN $h_t = \tanh(w\,h_{t-1} + u\,x_t)$ that **stops reading**
# as soon as it is confident, $|h_t| > 0.9$. How many steps it takes — hence the depth of the
# graph the backward must walk — depends on the input:

# %%
def read_until_confident(xs, w, u, threshold=0.9):
    h, steps = Scalar(0.0), 0
    for x_t in xs:
        h = (w * h + u * x_t).tanh()
        steps += 1
        if abs(h.data) > threshold:  # a Python `if` on a value: the graph depends on the data
            break
    return h, steps


w, u = Scalar(0.8, "w"), Scalar(0.6, "u")
inputs = {"strong signal": [0.3, 1.5, 2.0, 0.1, 0.2, 0.1, 0.3, 0.2],
          "weak signal": [0.3, 0.2, 0.1, 0.2, 0.1, 0.3, 0.2, 0.1]}
for name, xs in inputs.items():
    h, steps = read_until_confident(xs, w, u)
    h.backward()
    print(f"{name:>13}: read {steps} of {len(xs)} steps, graph of "
          f"{len(topological_order(h)):>2} nodes, h = {h.data:+.3f}, dh/dw = {w.grad:+.4f}")

# %% [markdown]
# Over many random inputs the graph size is spread out — no single static graph fits them all:

# %%
sizes = []
for _ in range(300):
    xs = rng.normal(0.3, 1.0, size=40)
    h, steps = read_until_confident(xs, w, u)
    sizes.append(len(topological_order(h)))
fig, ax = plt.subplots(figsize=(7, 3))
ax.hist(sizes, bins=np.arange(0, max(sizes) + 10, 10), color="tab:green", edgecolor="white")
ax.set_xlabel("nodes in the recorded graph")
ax.set_ylabel("inputs")
ax.set_title("Graph size per input (300 random sequences of up to 40 steps)")
plt.show()
print(f"graph sizes from {min(sizes)} to {max(sizes)} nodes, median {int(np.median(sizes))}")

# %% [markdown]
# This flexibility has costs that the rest of the course keeps measuring: every recorded op
# pays Python overhead (so per-step ops on tiny tensors are slow — Lesson 02 fuses them into
# compiled kernels), and the memory of the saved values grows with the steps actually run.
#
# ## 6. Why the backward must be iterative
#
# Our engine's `topological_order` is recursive: it calls itself once per level of the graph.
# Python caps recursion depth, and an RNN unrolled over a long sequence is a graph thousands of
# nodes deep. A 5000-step chain $h_{k+1} = \tanh(w\,h_k + 0.1)$:

# %%
STEPS = 5000
print("Python's recursion limit:", sys.getrecursionlimit())
w_tiny = Scalar(0.9)
h = Scalar(1.0)
for _ in range(STEPS):
    h = (w_tiny * h + 0.1).tanh()
try:
    h.backward()
    raise AssertionError(f"the tiny engine survived {STEPS} steps: raise STEPS")
except RecursionError as err:
    print(f"tiny engine, {STEPS} steps: RecursionError: {err}")

# %% [markdown]
# `tinydyn`'s backward sorts the graph with an explicit stack instead of the call stack, so depth
# does not matter. We check its answer against the derivative carried *forwards* along the
# chain, $\frac{dh_{k+1}}{dw} = (1 - h_{k+1}^2)\,\bigl(h_k + w\,\frac{dh_k}{dw}\bigr)$:

# %%
w_td = td.tensor(0.9, dtype="float64", requires_grad=True)
h = td.tensor(1.0, dtype="float64")
start = time.perf_counter()
for _ in range(STEPS):
    h = (w_td * h + 0.1).tanh()
h.backward()
seconds = time.perf_counter() - start

h_val, dh_dw = 1.0, 0.0
for _ in range(STEPS):
    h_new = math.tanh(0.9 * h_val + 0.1)
    dh_dw = (1 - h_new**2) * (h_val + 0.9 * dh_dw)
    h_val = h_new
print(f"tinydyn, {STEPS} steps ({3 * STEPS} recorded ops): dh/dw = {w_td.grad.item():.10f} "
      f"in {seconds:.2f} s (forward + backward)")
print(f"forward-mode check                      : dh/dw = {dh_dw:.10f}")
assert math.isclose(w_td.grad.item(), dh_dw, rel_tol=1e-9)

# %% [markdown]
# ## 7. Two backward passes to derive
#
# Most layers are compositions of ops the engine already differentiates. Two are worth a
# hand-written backward, because their composed backward is long and their derived one is
# short: softmax followed by cross-entropy, and layer norm.
#
# ### Softmax + cross-entropy
#
# For one example with logits $z \in \mathbb{R}^C$ and correct class $y$:
#
# $$p_j = \frac{e^{z_j}}{\sum_k e^{z_k}}, \qquad
# L = -\log p_y = -z_y + \log \sum_k e^{z_k}.$$
#
# Differentiating the second form, with $[j = y]$ equal to 1 for the correct class:
#
# $$\frac{\partial L}{\partial z_j} = -[j = y] + \frac{e^{z_j}}{\sum_k e^{z_k}}
#   = p_j - [j = y], \qquad\text{that is}\qquad \frac{\partial L}{\partial z} = p - \mathbf{y}$$
#
# with $\mathbf{y}$ the one-hot vector of the class. For a mean over $N$ examples, each row is
# divided by $N$. Checked against `tinydyn` on one example:

# %%
z = td.tensor(rng.normal(size=(1, 5)), dtype="float64", requires_grad=True)
target = np.array([2])
td.cross_entropy(z, target).backward()
p = td.softmax(z, dim=-1).data
one_hot = np.eye(5)[target]
print("tinydyn dL/dz:", z.grad.data[0])
print("p - y        :", (p - one_hot)[0])
assert np.allclose(z.grad.data, p - one_hot, rtol=0, atol=1e-12)
print(f"largest float64 exponent before exp overflows: {np.log(np.finfo(np.float64).max):.2f}")

# %% [markdown]
# A practical point: $e^{z}$ overflows in float64 beyond the value printed last. Since $p$
# does not change when the same constant is subtracted from every $z_j$, subtract the row
# maximum first.
#
# ### Layer norm
#
# For one row $x \in \mathbb{R}^D$, with scale $\gamma$ and shift $\beta$:
#
# $$\mu = \frac{1}{D}\sum_j x_j, \quad \sigma^2 = \frac{1}{D}\sum_j (x_j - \mu)^2, \quad
# r = \frac{1}{\sqrt{\sigma^2 + \epsilon}}, \quad \hat{x}_j = (x_j - \mu)\,r, \quad
# y_j = \gamma_j\,\hat{x}_j + \beta_j .$$
#
# The parameters are shared by all rows, so their gradients sum over rows:
# $\partial L/\partial \beta_j = \sum_{\text{rows}} \partial L/\partial y_j$ and
# $\partial L/\partial \gamma_j = \sum_{\text{rows}} \hat{x}_j\,\partial L/\partial y_j$.
# For $x$, let $g_j = \gamma_j\,\partial L/\partial y_j$ be the gradient reaching $\hat{x}_j$.
# Every $\hat{x}_j$ depends on every $x_i$ through $\mu$ and $r$:
#
# $$\frac{\partial \mu}{\partial x_i} = \frac{1}{D}, \qquad
# \frac{\partial r}{\partial x_i} = -\frac{r^2\,\hat{x}_i}{D}, \qquad
# \frac{\partial \hat{x}_j}{\partial x_i} = r\Bigl(\delta_{ij} - \frac{1}{D}\Bigr)
#   - \frac{r}{D}\,\hat{x}_i\,\hat{x}_j .$$
#
# Summing $g_j\,\partial\hat{x}_j/\partial x_i$ over $j$ gives
#
# $$\frac{\partial L}{\partial x_i} = r\Bigl(g_i - \frac{1}{D}\sum_j g_j
#   - \hat{x}_i\,\frac{1}{D}\sum_j g_j\,\hat{x}_j\Bigr).$$
#
# Two consequences are easy to check numerically: the gradient of each row sums to zero (adding
# a constant to a row does not change its output) and is orthogonal to $\hat{x}$ (neither does
# scaling the row — exactly so only for $\epsilon = 0$, hence a small residue proportional to
# $\epsilon$). With `tinydyn`'s layer norm:

# %%
xr = td.tensor(rng.normal(size=(4, 6)), dtype="float64", requires_grad=True)
out = td.layer_norm(xr, 6)
out.backward(rng.normal(size=(4, 6)))
xhat = out.data  # with no weight and bias, the output is x-hat itself
sci = {"float_kind": lambda v: f"{v:.1e}"}
print("row sums of dL/dx  :", np.array2string(xr.grad.data.sum(axis=1), formatter=sci))
print("row dots with x-hat:", np.array2string((xr.grad.data * xhat).sum(axis=1), formatter=sci))
assert np.abs(xr.grad.data.sum(axis=1)).max() < 1e-12  # zero up to rounding
assert np.abs((xr.grad.data * xhat).sum(axis=1)).max() < 1e-3  # small, not zero: eps > 0

# %% [markdown]
# ## Exercise 01
#
# Open `exercises/01_autograd/student.py` and implement, with NumPy only:
#
# * `softmax_cross_entropy_backward(logits, targets)` — the gradient of the *mean*
#   cross-entropy, stable for logits as large as $10^4$;
# * `layer_norm_backward(x, gamma, dout, eps)` — $(\partial L/\partial x,
#   \partial L/\partial\gamma, \partial L/\partial\beta)$ from the equations above;
# * `topological_order(graph)` — the order of section 3, **without recursion**, so that it
#   survives the 10,000-node chain in the tests (Kahn's algorithm, or a depth-first search with
#   an explicit stack).
#
# Grade it from the repository root with `tinydyn grade 01`.
