"""Optimizers, gradient clipping, learning-rate schedules and scalar (temperature) schedules.

Names and semantics follow ``torch.optim``::

    opt = tinydyn.optim.Adam(model.parameters(), lr=1e-3)
    for x, y in loader:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        tinydyn.optim.clip_grad_norm_(model.parameters(), max_norm=1.0)
        opt.step()
"""

from tinydyn.optim.optimizer import Optimizer
from tinydyn.optim.sgd import SGD
from tinydyn.optim.adam import Adam, AdamW
from tinydyn.optim.clip import clip_grad_norm_, clip_grad_value_
from tinydyn.optim.schedules import CosineAnnealingLR, LinearWarmup, LRScheduler, StepLR
from tinydyn.optim.scalar_schedule import ScalarSchedule, exp_decay

__all__ = [
    "Optimizer", "SGD", "Adam", "AdamW", "clip_grad_norm_", "clip_grad_value_",
    "LRScheduler", "StepLR", "CosineAnnealingLR", "LinearWarmup", "ScalarSchedule", "exp_decay",
]
