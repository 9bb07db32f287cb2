"""Exercise 04 (VCRNN): the partial-update mask and its cost.

The student writes the four pieces of lesson 04 that decide and price a VCRNN step:

* ``vcrnn_soft_mask(m, d, sharpness, eps)``: the trainable mask
  ``e_j = thres_eps(sigmoid(sharpness * (m d - (j + 1/2))))``;
* ``vcrnn_rows(m, d)``: the hard decision it saturates to, ``k = clip(ceil(m d - 1/2), 0, d)``;
* ``vcrnn_step_hard(x, h, w_ih, w_hh, bias, k)``: one step recomputing rows ``0 .. k-1`` only;
* ``vcrnn_step_flops(k, input_size, hidden_size)``: the FLOPs of one step, scheduler included.

The references come from the library: :func:`tinydyn.kernels.vcrnn.soft_mask`,
:func:`~tinydyn.kernels.vcrnn.rows_from_ratio`, the compiled hard inference kernel
(:func:`~tinydyn.kernels.vcrnn.vcrnn_hard_forward`, run for one step with its scheduler
pinned so that it picks exactly k rows) and the cost model of
:mod:`tinydyn.dynamic.skimming.vcrnn`.
"""

from __future__ import annotations

import math

import numpy as np

from tinydyn.dynamic.skimming.vcrnn import rnn_step_flops, scheduler_flops
from tinydyn.kernels.vcrnn import rows_from_ratio, soft_mask, vcrnn_hard_forward

TITLE = "VCRNN: the partial-update mask and its cost"
LESSON = "lessons/04_vcrnn.py"
PREREQUISITES = ("01", "02")  # lessons to have done first (the instructors' syllabus)
# What student.py may import (see tinydyn.grading.integrity); nothing from tinydyn.
ALLOWED_IMPORTS = ("numpy", "math")

D, DX = 12, 5  # hidden and input size of the graded step
# Ratios whose m*d is exactly representable and sits on a tie or next to a boundary (d = 8):
# 0 and 1 (no row, every row), half-integers (ties go down: 0.5 -> 0, 3.5 -> 3, 2.5 -> 2), and
# values a plain ceil(m d) or round(m d) gets wrong.
EDGE_RATIOS = np.array([0.0, 1.0, 0.5 / 8, 2.5 / 8, 3.5 / 8, 3.25 / 8, 3.75 / 8, 7.75 / 8,
                        0.1 / 8, 7.9 / 8])


def _mask(m, d, sharpness, eps):
    m = np.asarray(m, np.float64)
    return soft_mask(m, int(d), float(sharpness), float(eps))


def _rows(m, d):
    return rows_from_ratio(np.asarray(m, np.float64), int(d))


def _step_hard(x, h, w_ih, w_hh, bias, k):
    """The library's hard kernel for one step, its scheduler pinned to choose exactly k rows
    (u = v = 0 and a bias whose sigmoid is k / d; +-50 saturate to 0 and to every row)."""
    d = h.shape[0]
    k = int(k)
    logit = -50.0 if k == 0 else 50.0 if k == d else math.log(k / (d - k))
    zeros_d, zeros_x = np.zeros(d), np.zeros(x.shape[0])
    h_new, _, ks = vcrnn_hard_forward(np.asarray(x, np.float64)[None, None], np.array([1]),
                                      np.asarray(h, np.float64)[None], w_ih, w_hh, bias,
                                      zeros_d, zeros_x, np.array([logit]))
    assert int(ks[0, 0]) == k
    return h_new[0]


def _step_flops(k, input_size, hidden_size):
    return scheduler_flops(int(input_size), int(hidden_size)) + rnn_step_flops(
        int(input_size), int(hidden_size), int(k))


class SOLUTION:
    """The functions of ``exercises/04_vcrnn/student.py``, implemented with the library."""

    vcrnn_soft_mask = staticmethod(_mask)
    vcrnn_rows = staticmethod(_rows)
    vcrnn_step_hard = staticmethod(_step_hard)
    vcrnn_step_flops = staticmethod(_step_flops)


def make_references(seed: int) -> dict:
    """Inputs and the library's outputs, float64 (int64 for row counts and FLOPs)."""
    rng = np.random.default_rng(seed)
    out = {}
    # the soft mask: a moderate sharpness without threshold, then a sharp one with it
    out["mask_m"] = np.concatenate([[0.0, 1.0], rng.uniform(0, 1, 6)])
    out["mask_d"] = np.array(D)
    out["mask_sharpness"] = np.array(3.0)
    out["mask_expected"] = _mask(out["mask_m"], D, 3.0, 0.0)
    out["thres_m"] = rng.uniform(0.1, 0.9, 5)
    out["thres_sharpness"] = np.array(2.0)
    out["thres_eps"] = np.array(0.05)
    out["thres_expected"] = _mask(out["thres_m"], D, 2.0, 0.05)
    # the hard decision
    out["rows_m"] = np.concatenate([EDGE_RATIOS, rng.uniform(0, 1, 6)])
    out["rows_d"] = np.array(8)
    out["rows_expected"] = _rows(out["rows_m"], 8)
    # one hard step, for k = 0, d and values between
    ks = np.concatenate([[0, D], rng.integers(1, D, 4)]).astype(np.int64)
    out["step_k"] = ks
    out["step_x"] = rng.standard_normal((len(ks), DX))
    out["step_h"] = rng.uniform(-1, 1, (len(ks), D))
    out["step_w_ih"] = rng.standard_normal((D, DX)) / math.sqrt(DX)
    out["step_w_hh"] = rng.standard_normal((D, D)) / math.sqrt(D)
    out["step_bias"] = rng.standard_normal(D) * 0.1
    out["step_expected"] = np.stack([
        _step_hard(out["step_x"][i], out["step_h"][i], out["step_w_ih"], out["step_w_hh"],
                   out["step_bias"], k) for i, k in enumerate(ks)])
    # the cost of one step
    sizes = np.array([[0, 3, 4], [4, 3, 4], [2, 3, 4], [0, 32, 64], [64, 32, 64]], np.int64)
    sizes = np.concatenate([sizes, np.stack([rng.integers(0, 17, 3), rng.integers(1, 9, 3),
                                             np.full(3, 16)], axis=1)]).astype(np.int64)
    out["flops_cases"] = sizes  # (k, input_size, hidden_size) per row
    out["flops_expected"] = np.array([_step_flops(*row) for row in sizes], np.int64)
    return out
