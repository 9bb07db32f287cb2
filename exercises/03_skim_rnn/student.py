"""Exercise 03 (Skim-RNN): one skim step with Gumbel-softmax, and hard skimming inference.

Work through lesson 03 (``lessons/03_skim_rnn.py``) first. Skim-RNN keeps one state (h, c) of
size d and two LSTM cells that both read the concatenation ``xh = [x; h]`` (d_x + d values):

* the big cell, ``z = w_big @ xh + b_big`` (4d values), updates all d dims of (h, c);
* the small cell, ``z = w_small @ xh + b_small`` (4d' values), updates only the first d' dims;
  dims d'..d are copied unchanged (that is what makes skimming cheap).

Both are ordinary LSTM cells with the gate blocks in the order i, f, g, o::

    i, f, o = sigmoid(z_i), sigmoid(z_f), sigmoid(z_o);  g = tanh(z_g)
    c_new = f * c_prev + i * g;                          h_new = o * tanh(c_new)

where ``c_prev`` is the part of c the cell updates (all of it for the big cell, ``c[:d']`` for
the small one). The decision reads the same ``xh``: logits ``l = w_dec @ xh + b_dec`` with
index 0 = read and 1 = skim, and ``p = softmax(l)``.

All arrays are float64 NumPy arrays; return NumPy arrays, and do not modify your inputs.
Check your work with ``tinydyn grade 03`` (or ``pytest exercises/03_skim_rnn``).
"""

import numpy as np  # noqa: F401  (you will need it)


def skim_step(x, h, c, w_big, b_big, w_small, b_small, w_dec, b_dec, gumbel_noise, tau, hard):
    """One soft Skim-RNN step for a batch, with a Gumbel-softmax decision.

    Args:
        x: (B, d_x); h, c: (B, d).
        w_big: (4d, d_x + d), b_big: (4d,); w_small: (4d', d_x + d), b_small: (4d',);
        w_dec: (2, d_x + d), b_dec: (2,).
        gumbel_noise: (B, 2) Gumbel samples g (given, so the step is deterministic).
        tau: the temperature (> 0). hard: bool.

    Returns:
        ``(h_new, c_new, r)``: (B, d), (B, d) and the decision weights r (B, 2):
        ``y = softmax((log p + g) / tau)`` per row; ``r = y``, or with ``hard`` the one-hot of
        ``argmax y`` (a tie goes to index 0, read). Both candidates are computed, and
        ``h_new = r[:, 0:1] * h_read + r[:, 1:2] * h_skim`` (c alike), where ``h_skim`` is the
        small cell's d' values followed by ``h[:, d':]`` unchanged.
    """
    raise NotImplementedError("exercise 03 (skim_rnn): implement skim_step — see lesson 03")


def skim_inference(xs, h0, c0, w_big, b_big, w_small, b_small, w_dec, b_dec, threshold):
    """Hard skimming over one sequence: at each step run ONLY the chosen cell.

    Args:
        xs: (T, d_x) the inputs; h0, c0: (d,) the initial state; weights as in
            :func:`skim_step`; threshold: a float in [0, 1].

    Returns:
        ``(h, c, skims)``: the final state, (d,) each, and ``skims`` (T,) bool: step t is
        skimmed when ``p_t(skim) > threshold`` (strictly: threshold 1 reads every token), and
        then only the small cell runs and dims d'..d are copied; otherwise the big cell runs.
    """
    raise NotImplementedError("exercise 03 (skim_rnn): implement skim_inference — see lesson 03")
