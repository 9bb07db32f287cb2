"""Exercise 09 (dynamic convolution), a mutant: kernel_attention ignores the temperature:
softmax(z) instead of softmax(z / tau)."""

import numpy as np

from tinydyn.grading.exercises.ex09_dynamic_conv import SOLUTION


def kernel_attention(x, fc1_weight, fc1_bias, fc2_weight, fc2_bias, temperature):
    a = x.mean(axis=(2, 3))
    h = np.maximum(0.0, a @ fc1_weight.T + fc1_bias)
    z = (h @ fc2_weight.T + fc2_bias)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


aggregate_kernels = SOLUTION.aggregate_kernels
per_sample_conv2d = SOLUTION.per_sample_conv2d
