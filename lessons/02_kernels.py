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
# 2. what compiling costs, and how the on-disk cache removes most of that cost;
# 3. `NUMBA_DISABLE_JIT`, for debugging a kernel as plain Python;
# 4. a kernel and its NumPy twin (scatter-add), and the backend switch between them;
# 5. a second pair, col2im, the backward of a convolution;
# 6. the fused LSTM kernel against an LSTM written step by step with `tinydyn` ops;
# 7. all the measured speed-ups in one plot.

# %% [markdown]
# Every timing on this page is one measurement on the machine that runs it, often a small one
# shared with other work: read the ratios, not the absolute times. Each table gives the median
# of several samples and their spread (interquartile range / median). So that threads do not
# fight over the cores, NumPy's BLAS and Numba are pinned to one thread:

# %%
import inspect
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
from numba import njit

import tinydyn as td
from tinydyn.course.notebook import claim, pin_threads, plot_bars, say, show_table, time_table
from tinydyn.kernels import get_backend, use_backend
from tinydyn.kernels.im2col import col2im, col2im_numba, col2im_numpy, im2col
from tinydyn.kernels.scatter import scatter_add_rows, scatter_add_rows_numba, scatter_add_rows_numpy
from tinydyn.measure import format_seconds

pin_threads(1)
rng = np.random.default_rng(0)
speedups = {}  # label -> measured speed-up, plotted in section 7


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

# %%
n = 100_000
x = rng.normal(size=n)
x_list = x.tolist()
versions = {"Python loop": lambda: sum_squares(x_list), "NumPy": lambda: np.sum(x * x),
            "Numba": lambda: sum_squares_numba(x),
            "Numba, fastmath": lambda: sum_squares_fastmath(x)}
t_sum = time_table(versions, reference="Python loop")
ns = {name: 1e9 * t.median / n for name, t in t_sum.items()}
claim(ns["Python loop"] > 10 * max(ns["Numba"], ns["NumPy"]),
      "Per element: {py:.0f} ns in the Python loop, {nb:.2f} ns compiled, {np_:.2f} ns in NumPy.",
      py=ns["Python loop"], nb=ns["Numba"], np_=ns["NumPy"])
for name in ("Numba", "Numba, fastmath", "NumPy"):
    speedups[f"sum of squares: {name} vs Python loop"] = (t_sum["Python loop"].median
                                                         / t_sum[name].median)

# %% [markdown]
# Where do the Python loop's nanoseconds go? For each element the interpreter dispatches
# several bytecodes (load, index, multiply, add, store, next iteration), and every
# intermediate float is a heap-allocated object with a reference count. The arithmetic itself
# is a tiny fraction of that (the compiled loop does it all at least ten times faster, as the
# cell checks).
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

# %% [markdown]
# ### What `fastmath` changes
#
# The plain loop is a strict chain: each `total += ...` waits for the previous one, because
# floating-point addition is not associative and the compiler may not reorder it.
# `fastmath=True` permits reordering, so the compiler keeps several partial sums in vector
# registers. A different order rounds differently; the results, to all 17 digits:

# %%
results = {name: fn() for name, fn in versions.items()}
show_table([[name, repr(float(r))] for name, r in results.items()], ["", "sum of squares"])
plain, fast = results["Numba"], results["Numba, fastmath"]
claim(t_sum["Numba, fastmath"].median < t_sum["Numba"].median,
      "fastmath moved the sum by {d:.2g} ({ulps:.0f} units in the last place, a relative change "
      "of {rel:.1g}) and ran {r:.1f}x faster than the plain compiled loop.",
      d=fast - plain, ulps=abs(fast - plain) / np.spacing(plain), rel=abs(fast - plain) / plain,
      r=t_sum["Numba"].median / t_sum["Numba, fastmath"].median)
say("NumPy's pairwise sum took {r:.2f}x the time of the plain compiled loop.",
    r=t_sum["NumPy"].median / t_sum["Numba"].median)

# %% [markdown]
# NumPy's sum also adds in its own order (pairwise, several lanes at once), which is why its
# last digits can differ from the loop's too. A change in the last digits is harmless for
# training, but it means two implementations of one float function are compared with a
# tolerance, never with `==`. `tinydyn`'s kernels allow only the reorderings they need
# (`fastmath={"reassoc", "contract", "nsz"}` in the LSTM kernel).

# %% [markdown]
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


calls = []
for dtype in (np.float64, np.float32):
    a_, b_ = rng.normal(size=1000).astype(dtype), rng.normal(size=1000).astype(dtype)
    for which in ("1st", "2nd"):
        start = time.perf_counter()
        scale_add(a_, b_, dtype(2.0))
        calls.append([f"{which} call, {dtype.__name__}", time.perf_counter() - start])
show_table([[name, format_seconds(s)] for name, s in calls], ["", "time"], align="lr")
slowdown = min(calls[i][1] / calls[i + 1][1] for i in (0, 2))
claim(slowdown > 10, "Each first call compiled: it took at least {r:.0f}x its second call. "
      "Specialisations compiled: {k}.", r=slowdown, k=len(scale_add.signatures))

# %% [markdown]
# Each new combination of argument types is a new compilation (a *specialisation*): float32
# arrays are not float64 arrays to the machine code. `tinydyn`'s wrappers therefore normalise
# what they can before calling a kernel (for example, every index array becomes int64), so
# that each kernel has at most one specialisation per float dtype.
#
# Compiled code lives in the process: a new process compiles again. With `@njit(cache=True)`
# Numba also writes the machine code to disk (next to the source file, or in
# `NUMBA_CACHE_DIR`), keyed by the function's source and argument types, and a later process
# loads it instead of compiling. To watch it, we write a small module to a temporary folder.
# The first compilation in a process also starts up the compiler, so the module first
# compiles a trivial `warm_up`, then times two calls of a cached `sum_squares`:

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

    warm_up(1.0)
    x = np.ones(200_000)
    start = time.perf_counter()
    sum_squares(x)
    first = time.perf_counter() - start
    start = time.perf_counter()
    sum_squares(x)
    print(first, time.perf_counter() - start, type(sum_squares).__name__)
""")


# %% [markdown]
# (The module is one cell because it is one file: it runs on its own, in a new process.) We
# run it in three fresh processes that share one cache folder: the first compiles and writes
# the cache, the second loads it, the third runs with `NUMBA_DISABLE_JIT=1` (section 3).

# %%
def run_module(folder, **env_vars):
    """Run the module in a fresh Python process; return (1st call s, 2nd call s, type name)."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_JIT"}
    env.update(NUMBA_CACHE_DIR=str(folder / "numba_cache"), **env_vars)
    out = subprocess.run([sys.executable, "kernel_demo.py"], cwd=folder, env=env,
                         capture_output=True, text=True, check=True, timeout=120).stdout
    first, second, kind = out.split()
    return float(first), float(second), kind


# %%
with tempfile.TemporaryDirectory() as tmp:
    folder = Path(tmp)
    (folder / "kernel_demo.py").write_text(MODULE)
    compiled = run_module(folder)
    cache_files = sorted(p.suffix for p in (folder / "numba_cache").rglob("*") if p.is_file())
    loaded = run_module(folder)
    no_jit = run_module(folder, NUMBA_DISABLE_JIT="1")
print("files in the cache folder:", cache_files)
show_table([[name, format_seconds(first), format_seconds(second), kind]
            for name, (first, second, kind) in [("1: compiles, writes the cache", compiled),
                                                ("2: loads the cache", loaded),
                                                ("3: NUMBA_DISABLE_JIT=1", no_jit)]],
           ["process", "1st call", "2nd call", "sum_squares is a"], align="lrrl")

# %% [markdown]
# The cache holds an index (`.nbi`) and the machine code (`.nbc`). What it saved:

# %%
claim(loaded[0] < compiled[0] / 2,
      "Loading from the cache took {load}, compiling took {comp}: the cache made the first "
      "call {r:.0f}x cheaper.", load=format_seconds(loaded[0]),
      comp=format_seconds(compiled[0]), r=compiled[0] / loaded[0])
say("The loaded first call still cost {r:.0f}x a warm call ({warm}).",
    r=loaded[0] / loaded[1], warm=format_seconds(loaded[1]))

# %% [markdown]
# A loaded first call is not free: Numba reads the index, checks that the source file has
# not changed, and links the machine code into the process. That is a one-off cost per kernel
# and dtype, much smaller than compiling. Every `tinydyn` kernel is compiled with `cache=True`,
# and each kernel module has a `warmup()` that compiles (or loads) its kernels for float32 and
# float64 ahead of time; the course runner gives all lessons one shared cache folder.

# %% [markdown]
# ## 3. `NUMBA_DISABLE_JIT`: debugging a kernel as Python
#
# The third process ran with `NUMBA_DISABLE_JIT=1`. Then `@njit` returns the Python function
# untouched (the type printed is a plain `function`), and the kernel runs as an ordinary
# Python loop:

# %%
say("Without the JIT the warm call took {t}, {r:.0f}x the compiled warm call.",
    t=format_seconds(no_jit[1]), r=no_jit[1] / loaded[1])

# %% [markdown]
# Slow, but you can put a `print` or a `breakpoint()` inside the kernel, and an out-of-range
# index raises an `IndexError` with a traceback instead of reading arbitrary memory (compiled
# code does not check bounds). This is why every `tinydyn` kernel is written as plain loops on
# NumPy arrays: the same source must run under both. Two more reasons to keep a kernel small:
# a compiled loop does not notice Ctrl-C until it returns, and an error from Numba's type
# inference points at the whole function, not at a line of your thinking.
#
# `NUMBA_DISABLE_JIT` is read once, when Numba is imported: set it before starting Python,
# not in a running notebook.

# %% [markdown]
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
# Row 0 should hold $1 + 10 = 11$; the fancy-indexed `+=` kept only the last write.
#
# In `tinydyn` every kernel comes as a pair with **the same signature**: a compiled loop and a
# NumPy twin. The loop is the obvious code — a loop has no trouble with repeats, since each
# `+=` sees the previous one:

# %%
print(inspect.getsource(scatter_add_rows_numba.py_func))

# %% [markdown]
# The twin has to avoid a Python loop over rows. NumPy has a routine for exactly this,
# `np.add.at(out, index, src)`. The twin takes another route: it sorts the rows by
# destination, sums each run of equal destinations with `np.add.reduceat`, and then adds the
# run sums — whose destinations are now unique — with ordinary fancy indexing:

# %%
print(inspect.getsource(scatter_add_rows_numpy))

# %% [markdown]
# The twin is not only a fallback. It is a second, independent implementation: `tinydyn`'s
# tests compare the two on random inputs, which catches bugs in either. Here are all three on
# an embedding-sized problem — a float32 table of $V$ rows of width $D$ receiving $N$ token
# gradients. Sums in a different order round differently, so we compare with a tolerance:

# %%
V, D, N = 2000, 64, 20_000
index = rng.integers(0, V, size=N)
src = rng.normal(size=(N, D)).astype(np.float32)
scatter = {"np.add.at": np.add.at, "NumPy twin": scatter_add_rows_numpy,
           "Numba kernel": scatter_add_rows_numba}
outs = {name: np.zeros((V, D), np.float32) for name in scatter}
for name, kernel in scatter.items():
    kernel(outs[name], index, src)
for name in ("np.add.at", "NumPy twin"):
    gap = np.abs(outs[name] - outs["Numba kernel"]).max()
    print(f"largest difference, {name} vs Numba kernel: {gap:.1e}")
    assert np.allclose(outs[name], outs["Numba kernel"], rtol=1e-5, atol=1e-5)

# %% [markdown]
# Now their speed. The timed calls keep adding into one scratch array, which does not change
# the work:

# %%
scratch = np.zeros((V, D), np.float32)
t_scatter = time_table({name: (lambda k=k: k(scratch, index, src))
                        for name, k in scatter.items()}, reference="np.add.at")
ratio = {name: t_scatter["np.add.at"].median / t.median for name, t in t_scatter.items()}
claim(ratio["Numba kernel"] > max(1.0, ratio["NumPy twin"]),
      "The Numba kernel is the fastest of the three: {k:.1f}x np.add.at's speed.",
      k=ratio["Numba kernel"])
say("The twin ran at {t:.2f}x np.add.at's speed on this run.", t=ratio["NumPy twin"])
speedups["scatter-add: Numba vs np.add.at"] = ratio["Numba kernel"]
speedups["scatter-add: NumPy twin vs np.add.at"] = ratio["NumPy twin"]

# %% [markdown]
# The kernel does the minimum: one pass over `src`, each row added where it belongs. The twin
# pays for sorting $N$ indices and for copying `src` in sorted order before it adds anything;
# `np.add.at` pays for a general routine that accepts any index expression. Which of those
# two wins depends on the NumPy version (NumPy 1.25 gave `ufunc.at` a fast path), the sizes and
# the machine — this run's answer is printed above.

# %% [markdown]
# ### The backend switch
#
# Library code never calls a `*_numba` or `*_numpy` function directly: it calls the wrapper
# (`scatter_add_rows`), which validates its arguments and asks
# `tinydyn.kernels.backend.dispatch` for the implementation of the current backend. The
# backend is `"numba"` by default, set by the environment variable `TINYDYN_BACKEND` or by
# `tinydyn.kernels.set_backend`, and switched temporarily with `use_backend`. So a whole model
# can run on the NumPy twins — here, an embedding lookup and its backward, with the same
# sizes as above:

# %%
embedding = td.nn.Embedding(V, D, rng=rng)  # a float32 table of V rows, width D
tokens = rng.integers(0, V, size=N)


def embedding_backward():
    embedding.weight.grad = None
    embedding(tokens).sum().backward()
    return embedding.weight.grad.data


def on_backend(name):
    with use_backend(name):
        return embedding_backward()


# %%
with use_backend("numpy"):
    print("inside use_backend('numpy'): get_backend() =", repr(get_backend()))
print("after the with-block       : get_backend() =", repr(get_backend()))
gap = np.abs(on_backend("numba") - on_backend("numpy")).max()
print(f"largest difference between the two backends' gradients: {gap:.1e}")
t_embedding = time_table({"numpy": lambda: on_backend("numpy"),
                          "numba": lambda: on_backend("numba")}, reference="numpy")

# %%
end_to_end = t_embedding["numpy"].median / t_embedding["numba"].median
kernel_alone = t_scatter["NumPy twin"].median / t_scatter["Numba kernel"].median
claim(end_to_end < kernel_alone,
      "Switching the backend speeds the whole lookup + backward up {e:.1f}x, less than the "
      "{k:.1f}x of the scatter-add alone.", e=end_to_end, k=kernel_alone)

# %% [markdown]
# Only the scatter-add inside the backward changes with the backend; the lookup, the sum and
# the engine's own bookkeeping cost the same on both, and they dilute the kernel's gain.

# %% [markdown]
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
assert np.isclose(lhs, rhs, rtol=1e-5)

# %% [markdown]
# The two inner products agree to float32 rounding (`col2im` works in float32). The Numba
# kernel loops over each image plane through a small zero-bordered buffer; the NumPy twin does
# one strided slice-add per kernel offset $(i, j)$, $k_h k_w$ of them. Both fill an output
# array allocated by the wrapper:

# %%
out_numba, out_numpy = np.empty(shape, np.float32), np.empty(shape, np.float32)
pair = (stride, stride), (padding, padding)
col2im_numba(y, kernel, kernel, *pair, out_numba)
col2im_numpy(y, kernel, kernel, *pair, out_numpy)
print(f"largest difference, NumPy twin vs Numba: {np.abs(out_numba - out_numpy).max():.1e}")
t_col2im = time_table({"NumPy twin": lambda: col2im_numpy(y, kernel, kernel, *pair, out_numpy),
                       "Numba kernel": lambda: col2im_numba(y, kernel, kernel, *pair,
                                                            out_numba)})
speedups["col2im: Numba vs NumPy twin"] = (t_col2im["NumPy twin"].median
                                           / t_col2im["Numba kernel"].median)
claim(speedups["col2im: Numba vs NumPy twin"] < kernel_alone,
      "The kernel's lead over its twin is {c:.1f}x here, smaller than the {s:.1f}x of the "
      "scatter-add.", c=speedups["col2im: Numba vs NumPy twin"], s=kernel_alone)

# %% [markdown]
# Here the twin is already reasonable: its $k_h k_w$ slice-adds are as many C loops over whole
# arrays, with no sort and no index to follow. A kernel pays off most where NumPy would need a
# Python loop over many small pieces, or a general-purpose routine.

# %% [markdown]
# ## 6. A fused LSTM against an op-level LSTM
#
# An LSTM is the extreme case: a recurrence of $T$ steps, each a handful of small ops.
# With input $x_t$ and state $(h, c)$, gate order $i, f, g, o$:
#
# $$z = x_t W_{ih}^\top + h_{t-1} W_{hh}^\top + b, \qquad
# i, f, o = \sigma(z_i), \sigma(z_f), \sigma(z_o), \quad g = \tanh(z_g),$$
# $$c_t = f \odot c_{t-1} + i \odot g, \qquad h_t = o \odot \tanh(c_t).$$
#
# Written with `tinydyn` ops, each step records some twenty small ops (count them: the slices
# and transposes are ops too), each with its Python overhead:

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
w_ih, w_hh, bias = (td.tensor(rng.uniform(-bound, bound, s).astype(np.float32),
                              requires_grad=True) for s in [(4 * H, I), (4 * H, H), 4 * H])
hs_ops = lstm_op_level(x_seq, w_ih, w_hh, bias)
hs_fused, h_T, c_T = td.lstm(x_seq, None, None, w_ih, w_hh, bias)
print(f"B={B}, T={T}, I={I}, H={H}; hidden states {hs_fused.shape}")
print(f"largest difference, fused vs op-level: {np.abs(hs_fused.data - hs_ops.data).max():.1e}")
assert np.allclose(hs_fused.data, hs_ops.data, atol=1e-5)


# %% [markdown]
# One training step needs the forward and the backward, so we time both, forward alone and
# forward + backward:

# %%
def train_step(forward):
    for p in (w_ih, w_hh, bias):
        p.grad = None
    forward().sum().backward()


op_level = lambda: lstm_op_level(x_seq, w_ih, w_hh, bias)  # noqa: E731
fused = lambda: td.lstm(x_seq, None, None, w_ih, w_hh, bias)[0]  # noqa: E731
for part, wrap in (("forward", lambda f: f),
                   ("forward + backward", lambda f: lambda: train_step(f))):
    print(f"{part}:")
    t = time_table({"op-level": wrap(op_level), "fused": wrap(fused)}, repeats=8, block=4)
    speedups[f"LSTM {part}: fused vs op-level"] = t["op-level"].median / t["fused"].median
claim(min(speedups["LSTM forward: fused vs op-level"],
          speedups["LSTM forward + backward: fused vs op-level"]) > 1,
      "The fused op is {f:.1f}x faster on the forward and {fb:.1f}x on a training step.",
      f=speedups["LSTM forward: fused vs op-level"],
      fb=speedups["LSTM forward + backward: fused vs op-level"])

# %% [markdown]
# The op-level version spends most of its time outside arithmetic: creating tensors, recording
# nodes, and (in the backward) walking a graph of $T$ times twenty nodes. The fused op records
# one node for the whole sequence. The catch is flexibility: a dynamic method that decides at
# every step whether to read, skim or jump cannot hide inside a fixed compiled loop — unless
# the decision is expressed as data the kernel reads, such as the padding `mask` argument of
# `tinydyn.lstm`, which carries the state unchanged through masked steps. Later lessons keep
# returning to this trade-off.

# %% [markdown]
# ## 7. The speed-ups, side by side

# %%
plot_bars(speedups, xlabel="speed-up (baseline time / time), log scale", log_x=True,
          fmt="{:.1f}x", line_at=1, title="Measured speed-ups on this machine")
best = max(speedups, key=speedups.get)
claim("Python loop" in best, "The largest speed-up is against a Python loop: {b} ({v:.0f}x).",
      b=best, v=speedups[best])

# %% [markdown]
# The pattern: compiling pays most where the alternative is the interpreter doing work per
# element, and much less where NumPy already does a large chunk of work per call, as in
# col2im's slice-adds. Measure before writing a kernel — and keep its NumPy twin.

# %% [markdown]
# ## Exercise 02
#
# Open `exercises/02_kernels/student.py` and write the pair from section 4 yourself:
#
# * `scatter_add_rows_numba(out, index, src)` — the loop, compiled with `@njit(cache=True)`;
# * `scatter_add_rows_numpy(out, index, src)` — the twin, with whole-array NumPy and no Python
#   loop over rows (`np.add.at` is accepted, or the sort + `np.add.reduceat` route above).
#
# Both must add repeated indices correctly and leave `out` unchanged for an empty index. Grade
# them from the repository root with `tinydyn grade 02`.
