"""Time the fused LSTM (tinydyn.lstm) against torch.nn.LSTM in the same process.

    python benchmarks/lstm_vs_torch.py [--repeats 30]

Workloads (input 64, hidden 128, 100 steps): forward+backward of ``hs.sum()`` at batch 32,
and a forward at batch 1 without gradients. Each row prints tinydyn's median, the baseline's
median and their ratio; the two are measured alternately, repeat by repeat, so that a change
in machine load hits both. The NumPy twins are timed too (once per workload, to show what
compiling the loops buys).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import tinydyn as td
from tinydyn.kernels import lstm as kernel
from tinydyn.kernels.backend import use_backend


def inputs(batch, steps, n_in, hidden, requires_grad):
    rng = np.random.default_rng(0)
    k = 1 / np.sqrt(hidden)
    arrays = [rng.standard_normal((batch, steps, n_in)),
              rng.uniform(-k, k, (4 * hidden, n_in)), rng.uniform(-k, k, (4 * hidden, hidden)),
              rng.uniform(-k, k, 4 * hidden)]
    return [a.astype(np.float32) for a in arrays]


def tinydyn_step(arrays, hidden, train):
    x, w_ih, w_hh, b = (td.tensor(a, requires_grad=train) for a in arrays)
    h0 = td.zeros(x.shape[0], hidden)

    def step():
        if train:
            for t in (x, w_ih, w_hh, b):
                t.grad = None
            hs, _, _ = td.lstm(x, h0, h0, w_ih, w_hh, b)
            hs.sum().backward()
        else:
            with td.no_grad():
                td.lstm(x, h0, h0, w_ih, w_hh, b)

    return step


def torch_step(torch, arrays, train):
    x, w_ih, w_hh, b = arrays
    net = torch.nn.LSTM(x.shape[2], w_hh.shape[1], batch_first=True)
    with torch.no_grad():
        net.weight_ih_l0.copy_(torch.from_numpy(w_ih))
        net.weight_hh_l0.copy_(torch.from_numpy(w_hh))
        net.bias_ih_l0.copy_(torch.from_numpy(b))
        net.bias_hh_l0.zero_()
    px = torch.from_numpy(x).requires_grad_(train)

    def step():
        if train:
            net.zero_grad()
            px.grad = None
            hs, _ = net(px)
            hs.sum().backward()
        else:
            with torch.no_grad():
                net(px)

    return step


def alternate(fns, repeats, warmup=3):
    """Median seconds of each function, timed in turn within every repeat."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, acc in zip(fns, times):
            start = time.perf_counter()
            fn()
            acc.append(time.perf_counter() - start)
    return [float(np.median(t)) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    kernel.warmup()
    try:
        import torch
    except ImportError:
        torch = None
    print(f"{'workload':<36}{'tinydyn':>11}{'baseline':>11}{'ratio':>8}  baseline")
    for label, batch, train in (("fwd+bwd B=32 T=100 I=64 H=128", 32, True),
                                ("forward B=1 T=100 I=64 H=128", 1, False)):
        arrays = inputs(batch, 100, 64, 128, train)
        ours = tinydyn_step(arrays, 128, train)
        rows = []
        if torch is not None:
            ours_t, theirs = alternate([ours, torch_step(torch, arrays, train)], args.repeats)
            rows.append((ours_t, theirs, f"torch {torch.__version__} nn.LSTM, "
                                         f"{torch.get_num_threads()} threads"))
        with use_backend("numpy"):
            twin = alternate([ours], max(3, args.repeats // 5))[0]
        ours_t = rows[0][0] if rows else alternate([ours], args.repeats)[0]
        rows.append((ours_t, twin, "tinydyn NumPy twins"))
        for mine, base, name in rows:
            print(f"{label:<36}{mine * 1e3:>9.2f}ms{base * 1e3:>9.2f}ms{mine / base:>8.2f}  {name}")


if __name__ == "__main__":
    main()
