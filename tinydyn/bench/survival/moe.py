"""Where a mixture of experts' saving survives: against expert width and number of tokens.

An MoE layer with E experts of width F holds the parameters of a dense block of width E*F but
runs only k of them per token: against that dense block its FLOP saving is about E/k. The
question is how much of it the time keeps once routing, gathering, scattering and E small matrix
products replace one large one. E = 8, top-2 (a noisy top-k router without noise at inference),
d = 64, dropless; inference (no graph), against the dense FFN with E*F hidden units, in
alternating warm blocks. Steps = the autograd ops one call runs.
"""

from __future__ import annotations

import numpy as np

from tinydyn.autograd.tensor import Tensor
from tinydyn.bench.survival.common import inference, sweep, time_pair
from tinydyn.dynamic.moe import MoELayer, NoisyTopKRouter
from tinydyn.dynamic.moe.cost import dense_ffn_cost, moe_layer_cost
from tinydyn.dynamic.moe.models import _DenseFFN
from tinydyn.measure.latency import count_ops

__all__ = ["FAMILY", "measure"]

FAMILY = "moe"
D, E, K = 64, 8, 2
WIDTHS, QUICK_WIDTHS = (32, 64, 128, 256), (32, 128)
TOKENS, QUICK_TOKENS = (16, 128, 1024, 4096), (16, 1024)
AT_WIDTH, AT_TOKENS = 64, 1024  # the width of the token sweep, the tokens of the width sweep


def _measure_at(width: int, tokens: int, repeats: int, rng) -> list:
    data = Tensor(rng.standard_normal((tokens, D)).astype(np.float32))
    moe = MoELayer(NoisyTopKRouter(D, E, k=K, rng=rng), D, width, E, rng=rng).eval()
    dense = _DenseFFN(D, E * width, rng, np.float32).eval()
    seconds = time_pair({"dense": inference(dense, data), "MoE": inference(moe, data)},
                        repeats)
    n_assigned = len(moe.last_routing.token)
    steps = {name: count_ops(fn) for name, fn in (("dense", inference(dense, data)),
                                                  ("MoE", inference(moe, data)))}
    return [{"method": f"MoE E={E} top-{K}", "base_steps": steps["dense"], "steps": steps["MoE"],
             "base_flops": dense_ffn_cost(D, E * width, tokens) / tokens,
             "flops": moe_layer_cost(moe, tokens, n_assigned)["per_token"],
             "base_seconds": seconds["dense"] / tokens, "seconds": seconds["MoE"] / tokens}]


def measure(quick: bool = False, seed: int = 0, log=print) -> list[dict]:
    """Points against the expert width (1024 tokens) and the number of tokens (width 64).

    The "size" axis here is not at batch 1: a single token is not how an MoE layer runs, so
    its size sweep is at 1024 tokens."""
    return sweep(FAMILY, _measure_at, sizes=QUICK_WIDTHS if quick else WIDTHS,
                 batches=QUICK_TOKENS if quick else TOKENS, at_size=AT_WIDTH,
                 size_name="expert width", size_batch=AT_TOKENS, batch_name="tokens",
                 quick=quick, seed=seed, log=log)
