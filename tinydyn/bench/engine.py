"""`tinydyn bench engine`: the autograd engine and the Numba kernels against their baselines.

What each target asks (ratio = tinydyn time / baseline time, measured in the same run):

* a tiny op + backward no slower than PyTorch (ratio ≤ 1): the engine's own Python overhead
  per op is no worse than PyTorch's dispatcher;
* each Numba kernel at least 5x faster than its NumPy twin (ratio ≤ 0.2);
* the fused LSTM within 1.5x of ``torch.nn.LSTM`` for a training step (forward + backward),
  and no slower than it at batch 1 (inference, one sequence at a time).

The whole-model training steps (LSTM classifier, Transformer, CNN) are in
:mod:`tinydyn.bench.models`; ``tinydyn bench engine`` runs both lists.

Both sides run in one process, so they share its allocator: importing tinydyn tunes glibc's
malloc to reuse freed memory (see :mod:`tinydyn.autograd.memory`), and PyTorch gains from
that as much as tinydyn does.
"""

from __future__ import annotations

import numpy as np

import tinydyn as td
from tinydyn.bench.harness import Skip, Workload, torch_or_skip
from tinydyn.kernels.backend import use_backend


def _tiny_op():
    a = td.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    b = td.tensor([2.0, 3.0, 4.0, 5.0], requires_grad=True)

    def ours():
        a.grad = b.grad = None
        (a * b).sum().backward()

    fns = {"tinydyn": ours}
    torch = torch_or_skip()
    if isinstance(torch, Skip):
        fns["torch"] = torch
    else:
        ta = torch.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
        tb = torch.tensor([2.0, 3.0, 4.0, 5.0], requires_grad=True)

        def theirs():
            ta.grad = tb.grad = None
            (ta * tb).sum().backward()

        fns["torch"] = theirs
    return fns


def _twins(run):
    """The same kernel call under the Numba backend (ours) and the NumPy twin (baseline)."""

    def numpy_twin():
        with use_backend("numpy"):
            run()

    with use_backend("numba"):
        run()  # compile (or load from the cache) before timing

    def numba():
        with use_backend("numba"):
            run()

    return {"tinydyn": numba, "numpy twin": numpy_twin}


def _scatter():
    try:
        from tinydyn.kernels.scatter import scatter_add_rows
    except ImportError as err:
        raise Skip(f"scatter kernel missing: {err}") from None
    rng = np.random.default_rng(0)
    out = np.zeros((1000, 64), np.float32)
    index = rng.integers(0, 1000, 3200)
    src = rng.standard_normal((3200, 64)).astype(np.float32)
    return _twins(lambda: scatter_add_rows(out, index, src))


def _col2im(n, c, hw):
    def setup():
        try:
            from tinydyn.kernels.im2col import col2im, im2col
        except ImportError as err:
            raise Skip(f"im2col kernels missing: {err}") from None
        rng = np.random.default_rng(0)
        x = rng.standard_normal((n, c, hw, hw)).astype(np.float32)
        cols = np.ascontiguousarray(im2col(x, 3, 3, 1, 1))
        return _twins(lambda: col2im(cols, x.shape, 3, 3, 1, 1))

    return setup


def _lstm_inputs(batch, steps, n_in, hidden, requires_grad):
    rng = np.random.default_rng(0)
    k = 1 / np.sqrt(hidden)

    def param(*shape):
        return rng.uniform(-k, k, shape).astype(np.float32)

    x = rng.standard_normal((batch, steps, n_in)).astype(np.float32)
    return x, param(4 * hidden, n_in), param(4 * hidden, hidden), param(4 * hidden)


def _lstm(batch, steps, n_in, hidden, train):
    def setup():
        if not hasattr(td, "lstm"):
            raise Skip("fused LSTM op missing")
        x, w_ih, w_hh, b = _lstm_inputs(batch, steps, n_in, hidden, train)
        tx = td.tensor(x, requires_grad=train)
        tw = [td.tensor(a, requires_grad=train) for a in (w_ih, w_hh, b)]
        h0 = td.zeros(batch, hidden)
        c0 = td.zeros(batch, hidden)

        def ours():
            if train:
                for t in (tx, *tw):
                    t.grad = None
                hs, _, _ = td.lstm(tx, h0, c0, *tw)
                hs.sum().backward()
            else:
                with td.no_grad():
                    td.lstm(tx, h0, c0, *tw)

        fns = {"tinydyn": ours}
        torch = torch_or_skip()
        if isinstance(torch, Skip):
            fns["torch nn.LSTM"] = torch
            return fns
        net = torch.nn.LSTM(n_in, hidden, batch_first=True)
        with torch.no_grad():
            net.weight_ih_l0.copy_(torch.from_numpy(w_ih))
            net.weight_hh_l0.copy_(torch.from_numpy(w_hh))
            net.bias_ih_l0.copy_(torch.from_numpy(b))
            net.bias_hh_l0.zero_()
        px = torch.from_numpy(x).requires_grad_(train)

        def theirs():
            if train:
                net.zero_grad()
                px.grad = None
                hs, _ = net(px)
                hs.sum().backward()
            else:
                with torch.no_grad():
                    net(px)

        fns["torch nn.LSTM"] = theirs
        return fns

    return setup


KERNEL_NOTE = "a Numba kernel at least 5x faster than its NumPy twin"


def workloads() -> list[Workload]:
    return [
        Workload("tiny op: (a*b).sum().backward(), 4 elements", _tiny_op, {"torch": 1.0},
                 note="per-op overhead no worse than PyTorch's"),
        Workload("scatter-add rows: V=1000, D=64, N=3200", _scatter, {"numpy twin": 0.2},
                 note=KERNEL_NOTE),
        Workload("col2im: x (64, 16, 8, 8), 3x3, pad 1", _col2im(64, 16, 8),
                 {"numpy twin": 0.2}, note=KERNEL_NOTE),
        Workload("col2im: x (16, 16, 32, 32), 3x3, pad 1", _col2im(16, 16, 32),
                 {"numpy twin": 0.2}, note=KERNEL_NOTE),
        Workload("LSTM fwd+bwd: B=32, T=100, I=64, H=128", _lstm(32, 100, 64, 128, True),
                 {"torch nn.LSTM": 1.5},
                 note="a fused-LSTM training pass within 1.5x of torch.nn.LSTM's"),
        Workload("LSTM forward: B=1, T=100, I=64, H=128", _lstm(1, 100, 64, 128, False),
                 {"torch nn.LSTM": 1.0},
                 note="batch-1 inference no slower than torch.nn.LSTM"),
    ]
