"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay.

With gradient ``g``, parameter ``w``, learning rate ``lr`` (PyTorch's formulation)::

    g   <- g + weight_decay * w                         (L2 penalty, folded into the gradient)
    buf <- g                                            on the first step, then
    buf <- momentum * buf + (1 - dampening) * g         on every later one
    d   <- g + momentum * buf    if nesterov  else  buf
    w   <- w - lr * d

Without momentum ``d = g``: plain SGD.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import check_float, fail
from tinydyn.optim.optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """``SGD(params, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False)``."""

    def __init__(self, params, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    @classmethod
    def _check_options(cls, fn: str, options: dict) -> dict:
        out = {
            "lr": check_float(fn, "lr", options["lr"], low=0),
            "momentum": check_float(fn, "momentum", options["momentum"], low=0),
            "dampening": check_float(fn, "dampening", options["dampening"], low=0, high=1),
            "weight_decay": check_float(fn, "weight_decay", options["weight_decay"], low=0),
            "nesterov": options["nesterov"],
        }
        if not isinstance(out["nesterov"], (bool, np.bool_)):
            fail(fn, f"nesterov must be a bool, got {type(out['nesterov']).__name__} "
                 f"{out['nesterov']!r}", TypeError)
        out["nesterov"] = bool(out["nesterov"])
        if out["nesterov"] and (out["momentum"] == 0 or out["dampening"] != 0):
            fail(fn, "nesterov=True needs momentum > 0 and dampening = 0, got "
                 f"momentum={out['momentum']}, dampening={out['dampening']}")
        return out

    def _update(self, p, grad, group, state):
        w, lr, momentum = p.data, group["lr"], group["momentum"]
        s = self._buffer(p)
        d = grad  # never written to: the gradient belongs to the caller
        if group["weight_decay"]:
            np.multiply(w, group["weight_decay"], out=s)
            s += grad
            d = s
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(d, dtype=w.dtype)
            else:
                buf *= momentum
                if group["dampening"]:
                    buf += (1.0 - group["dampening"]) * d
                else:
                    buf += d
            if group["nesterov"]:
                # w -= lr * (d + momentum * buf), as two in-place passes through one buffer
                np.multiply(d, lr, out=s)
                w -= s
                np.multiply(buf, lr * momentum, out=s)
                w -= s
                return
            d = buf
        np.multiply(d, lr, out=s)
        w -= s
