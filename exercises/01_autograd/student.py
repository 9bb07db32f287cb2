"""Exercise 01 (autograd): write three pieces of a backward pass by hand.

Work through lesson 01 (``lessons/01_autograd.py``) first. Replace each ``raise
NotImplementedError`` with your code, using NumPy only (no tinydyn: the point is to derive the
gradients yourself). Every array you receive is float64; return float64 arrays.

Check your work with ``tinydyn test 01`` (or ``pytest exercises/01_autograd``); the tests feed
your functions the stored inputs in ``references.npz`` and compare with the library's outputs.
"""

import numpy as np  # noqa: F401  (you will need it)


def softmax_cross_entropy_backward(logits, targets):
    """Gradient of the MEAN cross-entropy loss with respect to the logits.

    Args:
        logits: (N, C) float64, one row of unnormalised class scores per example.
        targets: (N,) int64, the correct class of each row, in ``[0, C)``.

    Returns:
        dlogits: (N, C) float64.

    The loss is ``L = (1/N) * sum_i -log softmax(logits[i])[targets[i]]`` with
    ``softmax(z)_j = exp(z_j) / sum_k exp(z_k)``. Its gradient is

        dL/dlogits[i, j] = (softmax(logits[i])_j - [j == targets[i]]) / N

    Logits may be as large as 1e4 in absolute value: ``exp(1e4)`` overflows, so subtract each
    row's maximum before exponentiating (softmax does not change when a row is shifted).
    Do not modify ``logits`` or ``targets``.
    """
    raise NotImplementedError(
        "exercise 01 (autograd): implement softmax_cross_entropy_backward — see lesson 01")


def layer_norm_backward(x, gamma, dout, eps=1e-5):
    """Gradients of layer norm ``y = xhat * gamma + beta`` over the last axis.

    Args:
        x: (N, D) float64, the input; each row is normalised on its own.
        gamma: (D,) float64, the scale.
        dout: (N, D) float64, the gradient of the loss with respect to ``y``.
        eps: float, added to the variance.

    Returns:
        (dx, dgamma, dbeta): shapes (N, D), (D,), (D,), float64.

    Forward, per row: ``mu = mean(x)``, ``var = mean((x - mu)**2)`` (biased: divide by D),
    ``rstd = 1 / sqrt(var + eps)``, ``xhat = (x - mu) * rstd``, ``y = xhat * gamma + beta``.

    ``gamma`` and ``beta`` are shared by all rows, so their gradients sum over the rows:
    ``dbeta = sum_i dout[i]`` and ``dgamma = sum_i dout[i] * xhat[i]``. For ``dx``, start from
    ``g = dout * gamma`` (the gradient with respect to ``xhat``) and remember that ``mu`` and
    ``var`` depend on every element of the row; the result fits in one line with ``rstd``,
    ``xhat`` and two row means: of ``g`` and of ``g * xhat``.
    """
    raise NotImplementedError(
        "exercise 01 (autograd): implement layer_norm_backward — see lesson 01")


def topological_order(graph):
    """Order the nodes of a directed acyclic graph so that every node comes after its parents.

    Args:
        graph: dict mapping every node (an int) to the list of its parents (ints). Nodes
            without parents map to ``[]``; every parent is itself a key of the dict.

    Returns:
        A list holding every node exactly once, each after all of its parents. Any such order
        is accepted.

    This is the order a backward pass walks (reversed). Write it without recursion: the graph
    of an unrolled RNN is thousands of nodes deep, and the tests include a chain of 10,000
    nodes, far beyond Python's recursion limit. Kahn's algorithm (count each node's parents;
    emit a node when its count reaches zero) or a depth-first search with an explicit stack
    both work.
    """
    raise NotImplementedError(
        "exercise 01 (autograd): implement topological_order — see lesson 01")
