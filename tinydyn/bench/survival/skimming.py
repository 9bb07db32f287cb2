"""Where the skimming RNNs' savings survive: realisation against hidden size and batch size.

The decisions are pinned rather than learned, so every size runs the same share of work:

* **Skim-RNN**: the decision weights read one input feature, so about half of the tokens (those
  whose first feature is positive) are skimmed by a small cell of d/8 units;
* **VCRNN**: the scheduler's weights are 0 and its bias makes it update exactly d/4 rows.

The baseline is the fused LSTM kernel on the same inputs; each method is timed in alternating
warm blocks with it. Steps = the sequential steps of the recurrence (T for all three).
"""

from __future__ import annotations

import numpy as np

from tinydyn.bench.survival.common import sweep, time_pair
from tinydyn.dynamic.skimming.skim_rnn import SkimLSTM, skim_rnn_flops
from tinydyn.dynamic.skimming.vcrnn import vcrnn_flops
from tinydyn.kernels.lstm import lstm_forward
from tinydyn.kernels.skim_rnn import hard_weights, skim_hard_forward
from tinydyn.kernels.vcrnn import vcrnn_hard_forward
from tinydyn.measure.flops import lstm_cell_flops

__all__ = ["FAMILY", "measure"]

FAMILY = "skimming"
INPUT, STEPS = 32, 100
SIZES, QUICK_SIZES = (64, 128, 256, 512), (64, 256)
BATCHES, QUICK_BATCHES = (1, 4, 16, 64), (1, 16)
AT_SIZE = 128  # the hidden size of the batch sweep


def _candidates(d: int, batch: int, rng) -> tuple[dict, dict]:
    """Functions to time (LSTM, Skim-RNN, VCRNN on one batch) and their steps and FLOPs."""
    x = rng.standard_normal((batch, STEPS, INPUT)).astype(np.float32)
    lengths = np.full(batch, STEPS, np.int64)
    zeros = np.zeros((batch, d), np.float32)
    skim = SkimLSTM(INPUT, d, max(1, d // 8), rng=rng)
    w = [p.data for p in skim._weights()]
    w_dec, b_dec = np.zeros_like(w[6]), np.zeros_like(w[7])
    w_dec[1, 0], w_dec[0, 0] = 30.0, -30.0  # skim when the first input feature is positive
    weights = hard_weights(*w[:6], w_dec, b_dec)
    skims = skim_hard_forward(x, lengths, zeros, zeros, weights)[2]
    k = d // 4  # VCRNN: the bias log(k / (d - k)) makes the update ratio exactly k / d
    no_u, no_v = np.zeros(d, np.float32), np.zeros(INPUT, np.float32)
    b_s = np.array([np.log(k / (d - k))], np.float32)
    w_ih = (rng.standard_normal((d, INPUT)) / np.sqrt(INPUT)).astype(np.float32)
    w_hh = (rng.standard_normal((d, d)) / np.sqrt(d)).astype(np.float32)
    bias = np.zeros(d, np.float32)
    ks = vcrnn_hard_forward(x, lengths, zeros, w_ih, w_hh, bias, no_u, no_v, b_s)[2]
    assert (ks == k).all(), "the pinned scheduler must update exactly d/4 rows"
    fns = {"LSTM": lambda: lstm_forward(x, zeros, zeros, *w[:3]),
           "Skim-RNN": lambda: skim_hard_forward(x, lengths, zeros, zeros, weights),
           "VCRNN": lambda: vcrnn_hard_forward(x, lengths, zeros, w_ih, w_hh, bias, no_u, no_v,
                                              b_s)}
    cost = {"LSTM": STEPS * lstm_cell_flops(INPUT, d),
            "Skim-RNN": float(skim_rnn_flops(skims, INPUT, d, max(1, d // 8)).mean()),
            "VCRNN": float(vcrnn_flops(ks, INPUT, d).mean())}
    return fns, cost


def _measure_at(d: int, batch: int, repeats: int, rng) -> list:
    fns, cost = _candidates(d, batch, rng)
    seconds = time_pair(fns, repeats)
    return [{"method": name, "base_steps": STEPS, "base_flops": float(cost["LSTM"]),
             "base_seconds": seconds["LSTM"] / batch, "steps": STEPS,
             "flops": float(cost[name]), "seconds": seconds[name] / batch}
            for name in ("Skim-RNN", "VCRNN")]


def measure(quick: bool = False, seed: int = 0, log=print) -> list[dict]:
    """Points of realisation against hidden size (batch 1) and against batch size (d = 128)."""
    return sweep(FAMILY, _measure_at, sizes=QUICK_SIZES if quick else SIZES,
                 batches=QUICK_BATCHES if quick else BATCHES, at_size=AT_SIZE,
                 size_name="hidden size", quick=quick, seed=seed, log=log)
