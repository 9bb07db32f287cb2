"""DY-Conv's temperature annealing: linear from 30 to 1 over the first steps, then 1.

Near-uniform attention early (a large temperature) lets every kernel receive gradient before
the softmax commits; with 1 from the start it saturates early and the losing kernels stop
learning. The per-iteration form of the reference code is
``tau(it) = 1 + max(0, (tau0 - 1) * (I - it) / I)``, which is a linear
:class:`~tinydyn.optim.scalar_schedule.ScalarSchedule` from tau0 to 1 over I steps.
"""

from __future__ import annotations

from tinydyn._checks import check_float, check_int, fail
from tinydyn.dynamic.dyconv.layers import DynamicConv2d, MixtureConv2d
from tinydyn.nn.module import Module
from tinydyn.optim.scalar_schedule import ScalarSchedule

__all__ = ["set_attention_mode", "set_temperature", "temperature_schedule"]


def temperature_schedule(steps: int, start: float = 30.0, end: float = 1.0) -> ScalarSchedule:
    """``start`` at step 0, linear to ``end`` at ``steps``, held at ``end`` after."""
    fn = "temperature_schedule"
    steps = check_int(fn, "steps", steps, min_value=0)
    start = check_float(fn, "start", start, low=0.0, low_open=True)
    end = check_float(fn, "end", end, low=0.0, low_open=True)
    return ScalarSchedule(start, end, steps, kind="linear")


def set_temperature(model: Module, temperature: float) -> int:
    """Set the temperature of every DynamicConv2d in ``model``; return how many were set."""
    if not isinstance(model, Module):
        fail("set_temperature", f"model must be a Module, got {type(model).__name__}", TypeError)
    layers = [m for m in model.modules() if isinstance(m, DynamicConv2d)]
    for layer in layers:
        layer.temperature = temperature
    return len(layers)


def set_attention_mode(model: Module, mode: str) -> int:
    """Set 'sample' or 'batch' mixing on every dynamic convolution in ``model``."""
    if not isinstance(model, Module):
        fail("set_attention_mode", f"model must be a Module, got {type(model).__name__}",
             TypeError)
    layers = [m for m in model.modules() if isinstance(m, MixtureConv2d)]
    for layer in layers:
        layer.set_attention_mode(mode)
    return len(layers)
