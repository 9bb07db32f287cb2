"""Exercise 03 (Skim-RNN): the library's references and solution.

The student writes one soft Skim-RNN step with Gumbel-softmax (``skim_step``) and the hard
skimming loop over a sequence (``skim_inference``). Weights are given on the concatenation
``[x; h]`` (one matrix per cell), gates in the order i, f, g, o. The references come from the
library: the soft step is :func:`tinydyn.dynamic.skimming.skim_rnn.skim_rnn` on a one-step
sequence with the Gumbel noise passed in (so it is deterministic), the hard loop is
:func:`tinydyn.kernels.skim_rnn.skim_hard_forward` at batch 1.
"""

from __future__ import annotations

import numpy as np

import tinydyn
from tinydyn.dynamic.skimming.skim_rnn import skim_rnn
from tinydyn.kernels.skim_rnn import hard_weights, skim_hard_forward

TITLE = "Skim-RNN: one skim step with Gumbel-softmax, and hard skimming inference"
LESSON = "lessons/03_skim_rnn.py"
PREREQUISITES = ("01", "02")  # lessons to have done first (the instructors' syllabus)
# What student.py may import (see tinydyn.grading.integrity); nothing from tinydyn.
ALLOWED_IMPORTS = ("numpy", "math")

B, DX, D, DS, T = 5, 3, 6, 2, 16
STEP_CASES = {"soft": (0.7, False), "hard": (0.5, True)}   # (tau, hard)
THRESHOLDS = {"low": 0.25, "half": 0.5, "one": 1.0}
SATURATED = 9   # the sequence's token with p(skim) = 1.0 exactly


def _split(w_big, b_big, w_small, b_small, w_dec, b_dec, dx):
    """The library's argument order: input and hidden weights apart, per cell."""
    return (w_big[:, :dx], w_big[:, dx:], b_big, w_small[:, :dx], w_small[:, dx:], b_small,
            w_dec, b_dec)


class SOLUTION:
    """The functions of ``exercises/03_skim_rnn/student.py``, computed by the library."""

    @staticmethod
    def skim_step(x, h, c, w_big, b_big, w_small, b_small, w_dec, b_dec, gumbel_noise, tau,
                  hard):
        t = [tinydyn.Tensor(np.asarray(a, np.float64)) for a in
             _split(w_big, b_big, w_small, b_small, w_dec, b_dec, x.shape[1])]
        _, h_new, c_new, _, r = skim_rnn(tinydyn.Tensor(x[:, None]), tinydyn.Tensor(h),
                                         tinydyn.Tensor(c), *t, tau=float(tau),
                                         hard=bool(hard), noise=gumbel_noise[:, None])
        return h_new.data, c_new.data, r.data[:, 0]

    @staticmethod
    def skim_inference(xs, h0, c0, w_big, b_big, w_small, b_small, w_dec, b_dec, threshold):
        weights = hard_weights(*(np.ascontiguousarray(a, np.float64) for a in
                                 _split(w_big, b_big, w_small, b_small, w_dec, b_dec,
                                        xs.shape[1])))
        h, c, skims, _ = skim_hard_forward(xs[None], np.array([len(xs)]), h0[None], c0[None],
                                           weights, float(threshold))
        return h[0], c[0], skims[0]


def _weights(rng):
    k = DX + D
    return {"w_big": rng.standard_normal((4 * D, k)) * 0.5,
            "b_big": rng.standard_normal(4 * D) * 0.3,
            "w_small": rng.standard_normal((4 * DS, k)) * 0.5,
            "b_small": rng.standard_normal(4 * DS) * 0.3,
            "w_dec": rng.standard_normal((2, k)) * 0.7, "b_dec": rng.standard_normal(2) * 0.3}


def make_references(seed: int) -> dict:
    """Inputs and the library's outputs, float64.

    Step cases: a batch of ``B`` rows with Gumbel noise, soft (tau 0.7) and straight-through
    hard (tau 0.5, noise redrawn until some rows read and some skim, so a decision shared by
    the whole batch is caught); plus ``skimall`` whose noise makes every row skim (the copied
    tail must be exactly h). Inference: one sequence of ``T`` tokens at thresholds 0.25, 0.5
    and 1 (read all); token ``SATURATED`` has p(skim) = 1.0 exactly, so at threshold 1 a
    ``p >= threshold`` comparison skims it where the strict ``>`` reads it.
    """
    rng = np.random.default_rng(seed)
    refs = _weights(rng)
    w = [refs[k] for k in ("w_big", "b_big", "w_small", "b_small", "w_dec", "b_dec")]
    x = rng.standard_normal((B, DX))
    h, c = rng.standard_normal((B, D)) * 0.5, rng.standard_normal((B, D)) * 0.5
    refs.update({"step_x": x, "step_h": h, "step_c": c})
    for name, (tau, hard) in STEP_CASES.items():
        while True:  # the hard case must mix reading and skimming rows (redraw until it does)
            noise = rng.gumbel(size=(B, 2))
            h_new, c_new, r = SOLUTION.skim_step(x, h, c, *w, noise, tau, hard)
            if not hard or 0 < r[:, 1].sum() < B:
                break
        refs.update({f"step_{name}_noise": noise, f"step_{name}_tau": np.array(tau),
                     f"step_{name}_hard": np.array(hard), f"step_{name}_h": h_new,
                     f"step_{name}_c": c_new, f"step_{name}_r": r})
    noise = np.stack([np.full(B, -5.0), np.full(B, 30.0)], axis=1)  # skim wins everywhere
    h_new, c_new, r = SOLUTION.skim_step(x, h, c, *w, noise, 0.5, True)
    refs.update({"step_skimall_noise": noise, "step_skimall_h": h_new, "step_skimall_c": c_new,
                 "step_skimall_r": r})
    xs = rng.standard_normal((T, DX))
    # one token whose decision saturates: l_skim - l_read >= 60 whatever h is (|h| < 1), so
    # p(skim) rounds to exactly 1.0 and only a strict ``p > threshold`` reads it at threshold 1
    dw = refs["w_dec"][1] - refs["w_dec"][0]
    margin = 60.0 + np.abs(dw[DX:]).sum() + abs(refs["b_dec"][1] - refs["b_dec"][0])
    xs[SATURATED] = dw[:DX] * margin / (dw[:DX] @ dw[:DX])
    h0, c0 = rng.standard_normal(D) * 0.5, rng.standard_normal(D) * 0.5
    refs.update({"seq_xs": xs, "seq_h0": h0, "seq_c0": c0})
    for name, threshold in THRESHOLDS.items():
        h_T, c_T, skims = SOLUTION.skim_inference(xs, h0, c0, *w, threshold)
        refs.update({f"seq_{name}_threshold": np.array(threshold), f"seq_{name}_h": h_T,
                     f"seq_{name}_c": c_T, f"seq_{name}_skims": skims})
    return refs
