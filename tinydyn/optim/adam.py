"""Adam and AdamW: per-coordinate step sizes from running moments of the gradient.

At step ``t`` (counting from 1), with gradient ``g`` and parameter ``w``::

    m <- beta1 * m + (1 - beta1) * g            first moment (a running mean of g)
    v <- beta2 * v + (1 - beta2) * g**2         second moment (a running mean of g**2)
    m_hat = m / (1 - beta1**t)                  both start at 0, so early averages are too
    v_hat = v / (1 - beta2**t)                  small; dividing by 1 - beta**t undoes that
    w <- w - lr * m_hat / (sqrt(v_hat) + eps)

The two differ only in weight decay. ``Adam`` adds ``weight_decay * w`` to ``g`` (an L2
penalty), which then gets rescaled by ``1 / sqrt(v_hat)`` like the rest of the gradient.
``AdamW`` *decouples* it (Loshchilov & Hutter, 2019): ``w <- w * (1 - lr * weight_decay)``
before the update, so every weight decays at the same rate whatever its gradient history.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from tinydyn._checks import check_float, fail
from tinydyn.optim.optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)`` (L2 decay)."""

    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @classmethod
    def _check_options(cls, fn: str, options: dict) -> dict:
        betas = options["betas"]
        if isinstance(betas, np.ndarray):  # a checkpoint round trip may turn the tuple to array
            betas = betas.tolist()
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            fail(fn, f"betas must be a pair (beta1, beta2), got {betas!r}", TypeError)
        for i, b in enumerate(betas):
            if isinstance(b, bool) or not isinstance(b, numbers.Real):
                fail(fn, f"betas[{i}] must be a number, got {type(b).__name__} {b!r}", TypeError)
            if not 0.0 <= b < 1.0:
                fail(fn, f"betas[{i}] must be in [0, 1), got {float(b)}")
        return {
            "lr": check_float(fn, "lr", options["lr"], low=0),
            "betas": (float(betas[0]), float(betas[1])),
            "eps": check_float(fn, "eps", options["eps"], low=0),
            "weight_decay": check_float(fn, "weight_decay", options["weight_decay"], low=0),
        }

    def _update(self, p, grad, group, state):
        w, lr, wd = p.data, group["lr"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(w)
            state["exp_avg_sq"] = np.zeros_like(w)
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]

        g = grad  # never written to: the gradient belongs to the caller
        if wd and self._decoupled:
            w *= 1.0 - lr * wd
        elif wd:
            g = np.multiply(w, wd, out=self._buffer(p, 1))
            g += grad

        s = self._buffer(p)
        m *= beta1
        np.multiply(g, 1.0 - beta1, out=s)
        m += s
        v *= beta2
        np.multiply(g, g, out=s)
        s *= 1.0 - beta2
        v += s

        # lr * m_hat / (sqrt(v_hat) + eps), with the bias corrections folded into scalars
        bias1, bias2 = 1.0 - beta1**t, 1.0 - beta2**t
        np.sqrt(v, out=s)
        s *= 1.0 / math.sqrt(bias2)
        s += group["eps"]
        np.divide(m, s, out=s)
        s *= lr / bias1
        w -= s


class AdamW(Adam):
    """``AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2)``.

    Adam with decoupled weight decay: ``w <- w * (1 - lr * weight_decay)`` before each update.
    """

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
