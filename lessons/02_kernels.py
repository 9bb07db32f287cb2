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
# # Lesson 02 — Fast kernels with Numba
#
# Lesson 01 ended on a cost: a define-by-run engine pays Python overhead for every op it
# records, and dynamic networks tend to run many small ops — one per token, per step, per
# expert. Most of `tinydyn` is NumPy, which is fast as long as each call does a lot of work.
# Where the work is an irregular loop (add rows at repeated indices, walk a recurrence step by
# step), `tinydyn` compiles the loop with [Numba](https://numba.pydata.org).
#
# What you will see:
#
# 1. why a Python loop is slow, measured against NumPy and Numba;
# 2. what compiling costs, and how the on-disk cache removes that cost;
# 3. `NUMBA_DISABLE_JIT`, for debugging a kernel as plain Python;
# 4. a kernel and its NumPy twin in `tinydyn` (scatter-add and col2im), and the backend switch;
# 5. the fused LSTM kernel against an LSTM written step by step with `tinydyn` ops;
# 6. all the measured speed-ups in one plot.
#
# A note on measuring. This lesson times code on whatever machine runs it, often a small one
# shared with other work. NumPy's matrix products use a BLAS library that starts several
# threads; on two busy cores those threads mostly wait for each other, and timings turn
# erratic. So before NumPy is imported we ask for one BLAS thread (if NumPy was imported
# earlier in this session, the request comes too late and the cell says so):

# %%
# ruff: noqa: E402  (the thread settings must come before the imports)
import os
import sys

if "numpy" in sys.modules:
    print("note: NumPy was imported before this cell; BLAS keeps its threads")
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import inspect
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from numba import njit

import tinydyn as td
from tinydyn.kernels import get_backend, use_backend
from tinydyn.kernels.im2col import col2im, col2im_numba, col2im_numpy, im2col
from tinydyn.kernels.scatter import (
    scatter_add_rows,
    scatter_add_rows_numba,
    scatter_add_rows_numpy,
)
from tinydyn.measure import format_seconds, time_fn

rng = np.random.default_rng(0)
speedups = {}  # label -> measured speed-up, plotted at the end


def timed(fn, repeats=5):
    """Median seconds per call of fn(), after warm-up (tinydyn.measure.time_fn)."""
    return time_fn(fn, repeats=repeats, warmup=1, min_sample_s=1e-3).median


# %% [markdown]
# ## 1. Why Python loops are slow
#
# Take the simplest reduction, a sum of squares $s = \sum_{i=1}^{n} x_i^2$, written three ways:
# a Python loop, one NumPy expression, and **the same Python loop compiled by Numba** —
# `njit(f)` takes a Python function and returns a compiled one.

# %%
def sum_squares(values):
    total = 0.0
    for i in range(len(values)):
        total += values[i] * values[i]
    return total


sum_squares_numba = njit(sum_squares)  # the very same source, compiled
sum_squares_fastmath = njit(fastmath=True)(sum_squares)  # ... allowed to reorder the sum

n = 100_000
x = rng.normal(size=n)
x_list = x.tolist()
versions = {"Python loop": lambda: sum_squares(x_list), "NumPy": lambda: np.sum(x * x),
            "Numba": lambda: sum_squares_numba(x),
            "Numba, fastmath": lambda: sum_squares_fastmath(x)}
times = {}
print(f"sum of squares of n = {n:,} float64 values")
for name, fn in versions.items():
    result, times[name] = fn(), timed(fn)
    print(f"  {name:<16} {format_seconds(times[name]):>9}   "
          f"{1e9 * times[name] / n:6.2f} ns per element   result {result:.6f}")
speedups["sum of squares: Numba vs Python loop"] = times["Python loop"] / times["Numba"]
speedups["sum of squares: Numba fastmath vs Python loop"] = (times["Python loop"]
                                                           / times["Numba, fastmath"])
speedups["sum of squares: NumPy vs Python loop"] = times["Python loop"] / times["NumPy"]

# %% [markdown]
# Where do the nanoseconds of the Python loop go? For each element the interpreter fetches and
# dispatches several bytecodes (load, index, multiply, add, store, next iteration), and every
# intermediate float is a heap-allocated object with a reference count. The arithmetic itself
# is a tiny fraction of that.
#
# NumPy runs each operation as one C loop over the whole array: the interpreter is involved
# once per *operation*, not once per *element*. `np.sum(x * x)` still makes two passes and
# allocates a temporary array for `x * x`.
#
# Numba reads the function's bytecode, infers a type for every variable from the argument
# types (here: `values` is a 1-D float64 array, so `total` is a float64), and hands the loop
# to the LLVM compiler. The result is machine code on unboxed floats, one pass, no temporary.
# The price: only a subset of Python is supported (NumPy arrays, numbers, tuples, simple
# classes — no arbitrary objects), and the first call compiles.
#
# Compiled or not, the plain loop is a strict chain: each `total += ...` must wait for the
# previous one, because floating-point addition is not associative and the compiler may not
# reorder it. NumPy's sum adds in a different order (pairwise, several lanes at once), which
# is why it can keep up with or beat the plain compiled loop. `fastmath=True` permits
# reordering: the compiler then keeps several partial sums in vector registers. The last digits
# of the result may change — compare the printed results. `tinydyn`'s kernels allow only the
# reorderings they need (`fastmath={"reassoc", "contract", "nsz"}` in the LSTM kernel).
#
# ## 2. Compile time and caching
#
# Numba compiles lazily, on the first call, for the argument types of that call. A fresh
# function shows the cost:

# %%
@njit
def scale_add(a, b, alpha):
    out = np.empty_like(a)
    for i in range(a.shape[0]):
        out[i] = alpha * a[i] + b[i]
    return out


a64, b64 = rng.normal(size=1000), rng.normal(size=1000)
for call in ("1st call, float64", "2nd call, float64", "1st call, float32", "2nd call, float32"):
    dtype = np.float64 if "float64" in call else np.float32
    a_, b_ = a64.astype(dtype), b64.astype(dtype)
    start = time.perf_counter()
    scale_add(a_, b_, dtype(2.0))
    print(f"{call}: {format_seconds(time.perf_counter() - start):>9}")
print("compiled specialisations:", [str(sig) for sig in scale_add.signatures])

# %% [markdown]
# Each new combination of argument types is a new compilation (a *specialisation*): float32
# arrays are not float64 arrays to the machine code. `tinydyn`'s wrappers therefore normalise
# what they can before calling a kernel (for example, every index array becomes int64), so
# that each kernel has at most one specialisation per float dtype.
#
# Compiled code lives in the process: a new Python process compiles again. With
# `@njit(cache=True)` Numba also writes the machine code to disk (by default in a
# `__pycache__` folder next to the source file, or in `NUMBA_CACHE_DIR`), keyed by the function's
# source and argument types, and a later process loads it instead of compiling. Let us watch
# that happen: write a small module into a temporary folder and run it in two fresh processes
# that share a cache folder. The very first compilation in a process also pays to start up
# the compiler itself, so the module first compiles a trivial `warm_up` function, and times
# the first call of `sum_squares` after that.

# %%
MODULE = textwrap.dedent("""
    import time
    import numpy as np
    from numba import njit

    @njit
    def warm_up(v):
        return v + 1

    @njit(cache=True)
    def sum_squares(x):
        total = 0.0
        for v in x:
            total += v * v
        return total

    warm_up(1.0)  # the first compilation in a process also starts up the compiler itself
    x = np.ones(200_000)
    start = time.perf_counter()
    sum_squares(x)
    first = time.perf_counter() - start
    start = time.perf_counter()
    sum_squares(x)
    print(first, time.perf_counter() - start, type(sum_squares).__name__)
""")


def run_module(folder, **env_vars):
    """Run the module in a fresh Python process; return (1st call s, 2nd call s, type name)."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_JIT"}
    env.update(NUMBA_CACHE_DIR=str(folder / "numba_cache"), **env_vars)
    out = subprocess.run([sys.executable, "kernel_demo.py"], cwd=folder, env=env,
                         capture_output=True, text=True, check=True, timeout=120).stdout
    first, second, kind = out.split()
    return float(first), float(second), kind


runs = {}
with tempfile.TemporaryDirectory() as tmp:
    folder = Path(tmp)
    (folder / "kernel_demo.py").write_text(MODULE)
    runs["process 1 (compiles, writes the cache)"] = run_module(folder)
    cache_files = sorted(p.name for p in (folder / "numba_cache").rglob("*") if p.is_file())
    runs["process 2 (loads the cache)"] = run_module(folder)
    runs["process 3 (NUMBA_DISABLE_JIT=1)"] = run_module(folder, NUMBA_DISABLE_JIT="1")
print("files in the cache folder:", cache_files)
for name, (first, second, kind) in runs.items():
    print(f"{name:<40} 1st call {format_seconds(first):>9}, 2nd call "
          f"{format_seconds(second):>9}   sum_squares is a {kind}")

# %% [markdown]
# The first process pays the compilation; the second finds the cache (an index `.nbi` and the
# machine code `.nbc`) and its first call is almost as fast as a warm call. Every `tinydyn`
# kernel is compiled with `cache=True`, and each kernel module has a `warmup()` that compiles
# (or loads) its kernels for float32 and float64 ahead of time; the course runner gives all
# lessons one shared cache folder.
#
# ## 3. `NUMBA_DISABLE_JIT`: debugging a kernel as Python
#
# The third process above ran with the environment variable `NUMBA_DISABLE_JIT=1`. Then
# `@njit` returns the Python function untouched (the type printed is a plain `function`), and
# the kernel runs as an ordinary Python loop: slow — the "2nd call" column shows it — but you
# can put a `print` or a `breakpoint()` inside it, and an out-of-range index raises an
# `IndexError` with a traceback instead of reading arbitrary memory (compiled code does not
# check bounds). This is why every `tinydyn` kernel is written as plain loops on NumPy arrays:
# the same source must run under both. Two more reasons to keep a kernel small: a compiled loop
# does not notice Ctrl-C until it returns, and an error message from Numba's type inference
# points at the whole function, not at a line of your thinking.
#
# `NUMBA_DISABLE_JIT` is read once, when Numba is imported: set it before starting Python,
# not in a running notebook.
#
# ## 4. A kernel and its NumPy twin: scatter-add
#
# The backward of every row lookup — an embedding table read at token ids, `x[idx]` with an
# integer array — is a **scatter-add**: the gradient of output row $i$ is added to the table
# row it was read from,
#
# $$\text{out}[\text{index}_i, :] \mathrel{+}= \text{src}[i, :] \qquad (i = 1, \dots, N).$$
#
# A token that occurs twice must receive both gradients. The obvious NumPy line does not do it:
# `out[index] += src` reads each destination once, adds, and writes back, so the last write
# wins.

# %%
index = np.array([0, 2, 0])
src = np.array([[1.0, 1.0], [2.0, 2.0], [10.0, 10.0]])
wrong = np.zeros((3, 2))
wrong[index] += src
right = np.zeros((3, 2))
scatter_add_rows(right, index, src)
print("out[index] += src :", wrong.tolist())
print("scatter_add_rows  :", right.tolist())

# %% [markdown]
# In `tinydyn` every kernel comes as a pair with **the same signature**: a compiled loop and a
# NumPy twin. The loop is the obvious code — a loop has no trouble with repeats, since each
# `+=` sees the previous one:

# %%
print(inspect.getsource(getattr(scatter_add_rows_numba, "py_func", scatter_add_rows_numba)))

# %% [markdown]
# The twin has to avoid a Python loop over rows. `np.add.at(out, index, src)` is correct but
# slow. The twin instead sorts the rows by destination, sums each run of equal destinations
# with `np.add.reduceat`, and then adds the run sums — whose destinations are now unique —
# with ordinary fancy indexing:

# %%
print(inspect.getsource(scatter_add_rows_numpy))

# %% [markdown]
# The twin is not only a fallback. It is a second, independent implementation: `tinydyn`'s
# tests compare the two on random inputs, which catches bugs in either. Here they are on an
# embedding-sized problem — a table of $V$ rows of width $D$ receiving $N$ token gradients —
# together with `np.add.at`:

# %%
V, D, N = 2000, 64, 20_000
index = rng.integers(0, V, size=N)
src = rng.normal(size=(N, D))
outs = {}
for name, kernel in (("np.add.at", np.add.at), ("NumPy twin", scatter_add_rows_numpy),
                     ("Numba kernel", scatter_add_rows_numba)):
    outs[name] = np.zeros((V, D))
    kernel(outs[name], index, src)
print("largest difference, NumPy twin vs Numba:",
      np.abs(outs["NumPy twin"] - outs["Numba kernel"]).max())
print("largest difference, np.add.at vs Numba :",
      np.abs(outs["np.add.at"] - outs["Numba kernel"]).max())

scratch = np.zeros((V, D))  # the timed calls keep adding into it, which does not matter here
t_scatter = {"np.add.at": timed(lambda: np.add.at(scratch, index, src)),
             "NumPy twin": timed(lambda: scatter_add_rows_numpy(scratch, index, src)),
             "Numba kernel": timed(lambda: scatter_add_rows_numba(scratch, index, src))}
for name, seconds in t_scatter.items():
    print(f"  {name:<13} {format_seconds(seconds):>9}")
speedups["scatter-add: Numba vs np.add.at"] = t_scatter["np.add.at"] / t_scatter["Numba kernel"]
speedups["scatter-add: NumPy twin vs np.add.at"] = (t_scatter["np.add.at"]
                                                    / t_scatter["NumPy twin"])

# %% [markdown]
# ### The backend switch
#
# Library code never calls a `*_numba` or `*_numpy` function directly: it calls the wrapper
# (`scatter_add_rows`), which validates its arguments and asks
# `tinydyn.kernels.backend.dispatch` for the implementation of the current backend. The
# backend is `"numba"` by default, set by the environment variable `TINYDYN_BACKEND` or by
# `tinydyn.kernels.set_backend`, and switched temporarily with `use_backend`. So a whole model
# can run on the NumPy twins — here, the backward of an embedding lookup through `tinydyn`
# ops:

# %%
table = td.tensor(rng.normal(size=(V, D)).astype(np.float32), requires_grad=True)
tokens = rng.integers(0, V, size=N)


def embedding_backward():
    table.grad = None
    td.nn.functional.embedding(tokens, table).sum().backward()
    return table.grad.data


grads = {}
t_embedding = {}
for backend in ("numba", "numpy"):
    with use_backend(backend):
        print(f"inside use_backend({backend!r}): get_backend() = {get_backend()!r}")
        grads[backend] = embedding_backward()
        t_embedding[backend] = timed(embedding_backward)
print("after the with-blocks      :", repr(get_backend()))
print("same gradients:", np.array_equal(grads["numba"], grads["numpy"]))
for backend, seconds in t_embedding.items():
    print(f"  embedding lookup + backward on the {backend} backend: {format_seconds(seconds)}")
print(f"numpy/numba time ratio: {t_embedding['numpy'] / t_embedding['numba']:.1f} end to end, "
      f"{t_scatter['NumPy twin'] / t_scatter['Numba kernel']:.1f} for the kernel alone "
      "(section above)")

# %% [markdown]
# End to end, the lookup, the sum and the engine's own bookkeeping cost the same on both
# backends; only the scatter-add inside the backward changes. (The kernel-alone ratio was
# measured on float64 rows, the embedding on float32 ones.)
#
# ## 5. col2im: the backward of a convolution
#
# A convolution in `tinydyn` is `im2col` — copy every $(C, k_h, k_w)$ window of the image into
# a column — followed by one matrix product. Its backward needs the **adjoint** of `im2col`,
# `col2im`, which adds every column entry back onto the pixel it was copied from. Windows
# overlap, so a pixel collects one contribution per window that saw it: another scatter-add,
# with a regular pattern. "Adjoint" has a precise meaning we can check:
#
# $$\langle \operatorname{im2col}(x),\, y \rangle = \langle x,\, \operatorname{col2im}(y)
# \rangle \quad\text{for all } x, y .$$

# %%
shape = (16, 16, 32, 32)  # (N, C, H, W): a batch of 16 feature maps, 16 channels, 32 x 32
kernel, stride, padding = 3, 1, 1
image = rng.normal(size=shape).astype(np.float32)
cols = im2col(image, kernel, kernel, stride, padding)
y = rng.normal(size=cols.shape).astype(np.float32)
print(f"x {shape} -> columns {cols.shape} ({cols.nbytes / 2**20:.1f} MiB)")
lhs = np.vdot(cols.astype(np.float64), y.astype(np.float64))
rhs = np.vdot(image.astype(np.float64), col2im(y, shape, kernel, kernel, stride, padding))
print(f"<im2col(x), y> = {lhs:.4f}")
print(f"<x, col2im(y)> = {rhs:.4f}")

# %% [markdown]
# The Numba kernel loops over each image plane through a small zero-bordered buffer; the NumPy
# twin does one strided slice-add per kernel offset $(i, j)$, $k_h k_w$ of them. Both fill an
# output array allocated by the wrapper:

# %%
out_numba, out_numpy = np.empty(shape, np.float32), np.empty(shape, np.float32)
pair = (stride, stride), (padding, padding)
col2im_numba(y, kernel, kernel, *pair, out_numba)
col2im_numpy(y, kernel, kernel, *pair, out_numpy)
print("largest difference, NumPy twin vs Numba:", np.abs(out_numba - out_numpy).max())
t_col2im = {"NumPy twin": timed(lambda: col2im_numpy(y, kernel, kernel, *pair, out_numpy)),
            "Numba kernel": timed(lambda: col2im_numba(y, kernel, kernel, *pair, out_numba))}
for name, seconds in t_col2im.items():
    print(f"  {name:<13} {format_seconds(seconds):>9}")
speedups["col2im: Numba vs NumPy twin"] = t_col2im["NumPy twin"] / t_col2im["Numba kernel"]

# %% [markdown]
# Here the twin is already reasonable — its $k_h k_w$ large slice-adds are as many C loops —
# so the gap is smaller than for the scatter-add. A kernel pays off most where NumPy would
# need a Python loop over many small pieces, or a slow general-purpose routine like
# `np.add.at`.
#
# ## 6. A fused LSTM against an op-level LSTM
#
# An LSTM is the extreme case: a recurrence of $T$ steps, each a handful of small ops.
# With input $x_t$ and state $(h, c)$, gate order $i, f, g, o$:
#
# $$z = x_t W_{ih}^\top + h_{t-1} W_{hh}^\top + b, \qquad
# i, f, o = \sigma(z_i), \sigma(z_f), \sigma(z_o), \quad g = \tanh(z_g),$$
# $$c_t = f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t).$$
#
# Written with `tinydyn` ops, each step records some twenty small ops (count them below: the
# slices and transposes are ops too), each with its Python overhead:

# %%
def lstm_op_level(x, w_ih, w_hh, bias):
    """The LSTM step by step with tinydyn ops; returns all hidden states (B, T, H)."""
    B, T, _ = x.shape
    H = w_hh.shape[1]
    h = td.zeros(B, H)
    c = td.zeros(B, H)
    hs = []
    for t in range(T):
        z = x[:, t] @ w_ih.T + h @ w_hh.T + bias
        i, f = z[:, :H].sigmoid(), z[:, H:2 * H].sigmoid()
        g, o = z[:, 2 * H:3 * H].tanh(), z[:, 3 * H:].sigmoid()
        c = f * c + i * g
        h = o * c.tanh()
        hs.append(h)
    return td.stack(hs, dim=1)


# %% [markdown]
# `tinydyn.lstm` is one autograd op over the whole sequence. Its forward does the input
# projection $x W_{ih}^\top$ for all steps in one large matrix product, then runs the
# recurrence in a compiled loop (`tinydyn.kernels.lstm`); its backward is one compiled loop
# too. Same weights, same numbers:

# %%
B, T, I, H = 16, 50, 32, 64
x_seq = td.tensor(rng.normal(size=(B, T, I)).astype(np.float32))
bound = 1 / np.sqrt(H)
w_ih = td.tensor(rng.uniform(-bound, bound, (4 * H, I)).astype(np.float32), requires_grad=True)
w_hh = td.tensor(rng.uniform(-bound, bound, (4 * H, H)).astype(np.float32), requires_grad=True)
bias = td.tensor(rng.uniform(-bound, bound, 4 * H).astype(np.float32), requires_grad=True)

hs_ops = lstm_op_level(x_seq, w_ih, w_hh, bias)
hs_fused, h_T, c_T = td.lstm(x_seq, None, None, w_ih, w_hh, bias)
print(f"B={B}, T={T}, I={I}, H={H}; hidden states {hs_fused.shape}")
print("largest difference, fused vs op-level:", np.abs(hs_fused.data - hs_ops.data).max())

t_lstm = {"op-level forward": timed(lambda: lstm_op_level(x_seq, w_ih, w_hh, bias)),
          "fused forward": timed(lambda: td.lstm(x_seq, None, None, w_ih, w_hh, bias))}


def train_step(forward):
    for p in (w_ih, w_hh, bias):
        p.grad = None
    forward().sum().backward()


t_lstm["op-level forward + backward"] = timed(
    lambda: train_step(lambda: lstm_op_level(x_seq, w_ih, w_hh, bias)))
t_lstm["fused forward + backward"] = timed(
    lambda: train_step(lambda: td.lstm(x_seq, None, None, w_ih, w_hh, bias)[0]))
for name, seconds in t_lstm.items():
    print(f"  {name:<28} {format_seconds(seconds):>9}")
speedups["LSTM forward: fused vs op-level"] = (t_lstm["op-level forward"]
                                               / t_lstm["fused forward"])
speedups["LSTM forward + backward: fused vs op-level"] = (
    t_lstm["op-level forward + backward"] / t_lstm["fused forward + backward"])

# %% [markdown]
# The op-level version spends most of its time outside arithmetic: creating tensors, recording
# nodes, and (in the backward) walking a graph of $T$ times twenty nodes. The fused op records one
# node for the whole sequence. The catch is flexibility: a dynamic method that decides at every
# step whether to read, skim or jump cannot hide inside a fixed compiled loop — unless the
# decision is expressed as data the kernel reads, such as the padding `mask` argument of
# `tinydyn.lstm`, which carries the state unchanged through masked steps. Later lessons keep
# returning to this trade-off.
#
# ## 7. The speed-ups, side by side

# %%
labels = list(speedups)
values = [speedups[k] for k in labels]
fig, ax = plt.subplots(figsize=(8, 3.8))
bars = ax.barh(labels, values, color=["tab:blue" if "Numba" in k or "fused" in k else "tab:gray"
                                      for k in labels])
ax.set_xscale("log")
ax.axvline(1, color="black", lw=0.8)
for bar, v in zip(bars, values):
    ax.text(v * 1.1, bar.get_y() + bar.get_height() / 2, f"{v:.1f}×", va="center", fontsize=9)
ax.invert_yaxis()
ax.set_xlim(0.5, max(values) * 4)
ax.set_xlabel("speed-up (baseline time / time), log scale")
ax.set_title("Measured speed-ups on this machine")
plt.show()
for label, v in speedups.items():
    print(f"{label:<45} {v:8.1f}×")

# %% [markdown]
# The pattern: compiling pays most where the alternative is Python doing per-element or
# per-step work (the loop, the recurrence), and least where NumPy already does large chunks of
# work per call. Measure before writing a kernel — and keep its NumPy twin.
#
# ## Exercise 02
#
# Open `exercises/02_kernels/student.py` and write the pair from section 4 yourself:
#
# * `scatter_add_rows_numba(out, index, src)` — the loop, compiled with `@njit(cache=True)`;
# * `scatter_add_rows_numpy(out, index, src)` — the twin, with whole-array NumPy and no Python
#   loop over rows (`np.add.at` is accepted; sort + `np.add.reduceat` is faster).
#
# Both must add repeated indices correctly and leave `out` unchanged for an empty index. Grade
# them from the repository root with `tinydyn grade 02`.
