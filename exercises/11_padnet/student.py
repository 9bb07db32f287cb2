"""Exercise 11 (PAD-Net): the mask saliency, IMP's schedule and global threshold, post-processing.

Work through lesson 11 (``lessons/11_padnet.py``) first. You work on a partially dynamic
*linear* layer: sample n's weight mixes K kernels ``W_k`` (d_in, d_out) with given weights
``pi[n]`` (rows sum to 1), and a mask ``M`` (d_in, d_out) of 0/1 decides, entry by entry,
whether the weight is dynamic (M = 1) or the shared static value ``Wbar`` (M = 0)::

    lambda_d = 2 * sigmoid(phi),   lambda_s = 2 - lambda_d
    W~_n = lambda_d * M * (sum_k pi[n, k] W_k) + lambda_s * (1 - M) * Wbar
    y_n  = x_n @ W~_n                                    (no bias)

You write seven pieces:

1. ``pad_forward``: the layer's outputs;
2. ``mask_saliency``: the gradient of the loss with respect to the (relaxed) mask;
3. ``exponential_schedule``: IMP's target densities kappa^(t/T);
4. ``global_masks``: one global threshold over several layers' scores;
5. ``iterative_partition``: the IMP loop;
6. ``compress``: post-processing (keep only what the mask uses, fold in the scales);
7. ``compressed_forward``: the layer computed from the compressed values.

All arrays are NumPy float64 arrays unless said otherwise; do not modify your inputs.
Check your work with ``tinydyn grade 11`` (or ``pytest exercises/11_padnet``).
"""

import numpy as np  # noqa: F401  (you will need it)


def pad_forward(x, pi, kernels, static, mask, phi):
    """The PAD layer's outputs.

    Args:
        x: (N, d_in). pi: (N, K), rows sum to 1. kernels: (K, d_in, d_out).
        static: (d_in, d_out) (Wbar). mask: (d_in, d_out) of 0.0/1.0. phi: float.

    Returns:
        (N, d_out): ``y_n = x_n @ W~_n`` with ``W~_n`` as in the module docstring.
    """
    raise NotImplementedError("exercise 11 (padnet): implement pad_forward — see lesson 11")


def mask_saliency(x, pi, kernels, static, mask, phi, target):
    """The IMP saliency before taking its magnitude: ``g = dL/dM`` at the given mask.

    Treat the mask as real-valued and differentiate
    ``L = 0.5 * (1/N) * sum_n ||y_n - target_n||^2`` with respect to every entry of it
    (by hand: the chain rule through ``W~_n``; no finite differences here).

    Args: as :func:`pad_forward`, plus target (N, d_out).

    Returns:
        (d_in, d_out), the gradient.
    """
    raise NotImplementedError("exercise 11 (padnet): implement mask_saliency — see lesson 11")


def exponential_schedule(kappa, iterations):
    """IMP's target dynamic fractions after rounds t = 1..T: ``kappa ** (t / T)``.

    Args: kappa: float in (0, 1]. iterations: int T >= 1.

    Returns: (T,) float64.
    """
    raise NotImplementedError(
        "exercise 11 (padnet): implement exponential_schedule — see lesson 11")


def global_masks(scores, density):
    """One global threshold over every layer's scores.

    Keep dynamic the ``round(density * total)`` entries with the largest scores over all
    layers together (total = number of entries of all layers; round half up:
    ``floor(density * total + 0.5)``). Ties are broken by position: layers in the order given,
    entries in C (row-major) order within a layer, the earlier position first.

    Args:
        scores: a list of arrays (any shapes), one per layer, non-negative.
        density: float in [0, 1].

    Returns:
        a list of float64 0.0/1.0 arrays, the masks, shaped like the scores.
    """
    raise NotImplementedError("exercise 11 (padnet): implement global_masks — see lesson 11")


def iterative_partition(saliency_fn, shapes, kappa, iterations):
    """Iterative Mode Partition.

    Start with every mask all ones. For each round t = 1..T: call ``saliency_fn(masks)``
    (it returns one array of saliencies per layer, computed at the current masks), normalise
    their magnitudes by the global sum, and recompute the masks *from scratch* with
    :func:`global_masks` at density ``kappa ** (t / T)``.

    Args:
        saliency_fn: callable, list of masks -> list of arrays of the same shapes.
        shapes: list of tuples, one per layer. kappa: float in (0, 1]. iterations: int >= 1.

    Returns:
        the list of final masks (float64 0.0/1.0 arrays).
    """
    raise NotImplementedError(
        "exercise 11 (padnet): implement iterative_partition — see lesson 11")


def compress(kernels, static, mask, phi):
    """Post-processing: keep only the values the mask uses, with the scale factors folded in.

    Args: kernels (K, d_in, d_out), static (d_in, d_out), mask (d_in, d_out) 0/1, phi float.

    Returns:
        ``(dynamic_values, static_values, index)``:
        index: int64 (n_dyn,), the flat (C-order) positions where mask == 1, increasing;
        dynamic_values: (K, n_dyn), ``lambda_d * W_k`` at those positions;
        static_values: (n_static,), ``lambda_s * Wbar`` at the other positions, increasing
        position order.
    """
    raise NotImplementedError("exercise 11 (padnet): implement compress — see lesson 11")


def compressed_forward(x, pi, dynamic_values, static_values, index, shape):
    """The layer's outputs computed from the compressed values only.

    Args:
        x: (N, d_in). pi: (N, K). dynamic_values, static_values, index: as returned by
        :func:`compress`. shape: (d_in, d_out).

    Returns:
        (N, d_out), equal (to float rounding) to ``pad_forward`` of the uncompressed layer.
    """
    raise NotImplementedError(
        "exercise 11 (padnet): implement compressed_forward — see lesson 11")
