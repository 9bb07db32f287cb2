"""Exercise 04 (VCRNN): the partial-update mask and its cost.

Work through lesson 04 (``lessons/04_vcrnn.py``) first. A VCRNN step has a scheduler that
outputs a ratio ``m in [0, 1]``: the fraction of the hidden state (size d) to recompute, always
the *first* rows. You write the four pieces that turn ``m`` into work and into a price:

1. ``vcrnn_soft_mask``: the smooth mask used in training,
       e_j = thres_eps(sigmoid(sharpness * (m * d - (j + 1/2))))     for j = 0 .. d-1,
   where ``thres_eps`` sets values below eps to exactly 0 and above 1 - eps to exactly 1;
2. ``vcrnn_rows``: the hard decision it becomes when the sharpness is large,
       k = clip(ceil(m * d - 1/2), 0, d)      (m * d rounded to an integer, ties going down);
3. ``vcrnn_step_hard``: one step of the Elman cell that recomputes rows 0 .. k-1 only,
       h_new[:k] = tanh(w_hh[:k] @ h + w_ih[:k] @ x + bias[:k]),   h_new[k:] = h[k:];
4. ``vcrnn_step_flops``: what that step costs (multiply-add = 2 FLOPs).

All arrays are float64 NumPy arrays; do not modify your inputs.
Check your work with ``tinydyn grade 04`` (or ``pytest exercises/04_vcrnn``).
"""

import numpy as np  # noqa: F401  (you will need it)


def vcrnn_soft_mask(m, d, sharpness, eps):
    """The soft mask for ratios ``m``.

    Args:
        m: (N,) ratios in [0, 1]. d: the hidden size (int). sharpness: lambda > 0 (float).
        eps: the threshold in [0, 0.5) (float); 0 means no thresholding.

    Returns:
        (N, d) float64: row n is the mask of ratio ``m[n]``. Entries below ``eps`` are exactly
        0.0 and entries above ``1 - eps`` exactly 1.0 (only when eps > 0).
    """
    raise NotImplementedError(
        "exercise 04 (vcrnn): implement vcrnn_soft_mask — see lesson 04")


def vcrnn_rows(m, d):
    """How many leading rows each ratio recomputes: ``clip(ceil(m d - 1/2), 0, d)``.

    Args:
        m: (N,) ratios in [0, 1]; d: the hidden size (int).

    Returns:
        (N,) int64 row counts in [0, d]: m = 0 gives 0, m = 1 gives d, and when ``m d`` is
        exactly halfway between two integers the smaller one wins (m d = 2.5 gives 2).
    """
    raise NotImplementedError(
        "exercise 04 (vcrnn): implement vcrnn_rows — see lesson 04")


def vcrnn_step_hard(x, h, w_ih, w_hh, bias, k):
    """One hard VCRNN step that computes only the first ``k`` rows of the candidate.

    Args:
        x: (d_x,) input; h: (d,) previous state; w_ih: (d, d_x); w_hh: (d, d); bias: (d,).
        k: int in [0, d], the number of leading rows to recompute.

    Returns:
        (d,) the new state: rows ``0 .. k-1`` are ``tanh(w_hh[:k] @ h + w_ih[:k] @ x +
        bias[:k])`` (every column of h is read), rows ``k ..`` are copied from ``h`` exactly —
        whatever the weights of those rows hold. Return a new array; leave ``h`` unchanged.
    """
    raise NotImplementedError(
        "exercise 04 (vcrnn): implement vcrnn_step_hard — see lesson 04")


def vcrnn_step_flops(k, input_size, hidden_size):
    """The FLOPs of one hard step that recomputes ``k`` rows, the scheduler included.

    The convention of lesson 04 (multiply-add = 2 FLOPs), with d = hidden_size and
    d_x = input_size:

    * scheduler ``m = sigmoid(u . h + v . x + b)``: ``2 (d + d_x)`` for the two dot products,
      plus 4 (the bias, the sigmoid, ``m d - 1/2``, the row count);
    * candidate rows: ``2 k (d + d_x)`` for ``w_hh[:k] @ h`` and ``w_ih[:k] @ x``, plus ``2 k``
      (the bias and the tanh of each row).

    Returns:
        an int.
    """
    raise NotImplementedError(
        "exercise 04 (vcrnn): implement vcrnn_step_flops — see lesson 04")
