"""Exercise 09 (dynamic convolution): DY-Conv's forward pass, piece by piece.

Work through lesson 09 (``lessons/09_dynamic_conv.py``) first. A DY-Conv layer holds K kernels
``W_k`` (O, C/g, kh, kw) and biases ``b_k`` (O,). For each input ``x_n`` it computes

    a_n  = mean of x_n over its H x W pixels                     (C,)
    z_n  = FC2(relu(FC1(a_n)))                                   (K,)
    pi_n = softmax(z_n / tau)                                    (K,)
    W~_n = sum_k pi_n[k] W_k,    b~_n = sum_k pi_n[k] b_k
    y_n  = conv(x_n; W~_n) + b~_n                                (O, Ho, Wo)

You write three pieces:

1. ``kernel_attention``: the attention pi over the K kernels, with a temperature;
2. ``aggregate_kernels``: each sample's own kernel and bias;
3. ``per_sample_conv2d``: a convolution in which every sample has its own kernel.

"conv" is what deep-learning libraries call a convolution: a cross-correlation, the kernel is
not flipped. All arrays are NumPy float64 arrays; do not modify your inputs. Check your work
with ``tinydyn grade 09`` (or ``pytest exercises/09_dynamic_conv``).
"""

import numpy as np  # noqa: F401  (you will need it)


def kernel_attention(x, fc1_weight, fc1_bias, fc2_weight, fc2_bias, temperature):
    """The attention over the K kernels, one row per sample.

    ``a = mean of x over (H, W)``; ``h = relu(a @ fc1_weight.T + fc1_bias)``;
    ``z = h @ fc2_weight.T + fc2_bias``; ``pi = softmax(z / temperature)`` over the K kernels.
    The logits may be large: compute the softmax stably.

    Args:
        x: (N, C, H, W). fc1_weight: (hidden, C). fc1_bias: (hidden,).
        fc2_weight: (K, hidden). fc2_bias: (K,). temperature: float > 0.

    Returns:
        (N, K): non-negative rows that sum to 1.
    """
    raise NotImplementedError(
        "exercise 09 (dynamic_conv): implement kernel_attention — see lesson 09")


def aggregate_kernels(pi, weight, bias):
    """Each sample's kernel and bias: the mix of the K kernels by that sample's attention.

    ``kernels[n] = sum_k pi[n, k] * weight[k]`` and ``biases[n] = sum_k pi[n, k] * bias[k]``.
    Every sample keeps its own row of ``pi``.

    Args:
        pi: (N, K). weight: (K, O, C/g, kh, kw). bias: (K, O).

    Returns:
        ``(kernels, biases)``: (N, O, C/g, kh, kw) and (N, O).
    """
    raise NotImplementedError(
        "exercise 09 (dynamic_conv): implement aggregate_kernels — see lesson 09")


def per_sample_conv2d(x, kernels, biases, stride, padding, groups):
    """A 2-D convolution (cross-correlation) with one kernel per sample.

    ``x`` is zero-padded by ``padding`` pixels on every side; the output has
    ``Ho = (H + 2 * padding - kh) // stride + 1`` rows (likewise ``Wo``), and::

        y[n, o, i, j] = biases[n, o] + sum_{c, u, v} kernels[n, o, c, u, v]
                        * x_padded[n, g * C/g + c, i * stride + u, j * stride + v]

    where ``g = o // (O / groups)`` is the group of output channel o: the C input channels and
    O output channels are split into ``groups`` blocks, and output block g sees only input
    block g (``groups = C`` is a depthwise convolution).

    Args:
        x: (N, C, H, W). kernels: (N, O, C/groups, kh, kw). biases: (N, O).
        stride, padding, groups: ints (stride >= 1, padding >= 0, groups divides C and O).

    Returns:
        (N, O, Ho, Wo).
    """
    raise NotImplementedError(
        "exercise 09 (dynamic_conv): implement per_sample_conv2d — see lesson 09")
