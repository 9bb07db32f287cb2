"""Learning-rate schedules: the lr of every param group as a function of a step counter.

Used as in torch: build the schedule after the optimizer, call ``scheduler.step()`` once per
epoch (or per batch, whichever unit the schedule is written in) *after* ``optimizer.step()``::

    opt = Adam(model.parameters(), lr=1e-3)
    sched = LinearWarmup(opt, warmup_steps=100, after=CosineAnnealingLR(opt, T_max=900))
    for batch in loader:
        ...; opt.step(); sched.step()

Each schedule here is written in closed form, ``lr_at(t)`` from the group's base lr (its lr when
the schedule was built) and the counter ``t``; ``step()`` advances ``t`` and writes the new lr
into ``group["lr"]``. Building a schedule already applies ``lr_at(0)``.
"""

from __future__ import annotations

import math

from tinydyn._checks import check_float, check_int, fail
from tinydyn.optim.optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "CosineAnnealingLR", "LinearWarmup"]


class LRScheduler:
    """Base class: subclasses define ``lr_at(t)`` (one lr per group) and list ``_hparams``."""

    _hparams: tuple = ()

    def __init__(self, optimizer: Optimizer):
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            fail(name, f"optimizer must be a tinydyn.optim.Optimizer, got "
                 f"{type(optimizer).__name__}", TypeError)
        self.optimizer = optimizer
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.last_epoch = 0
        self._apply()

    def lr_at(self, t: int) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    def _apply(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.base_lrs):
            fail(f"{type(self).__name__}.step", f"the optimizer now has {len(groups)} param "
                 f"groups, but the schedule was built for {len(self.base_lrs)}")
        self._last_lr = self.lr_at(self.last_epoch)
        for group, lr in zip(groups, self._last_lr):
            group["lr"] = lr

    def step(self) -> None:
        """Advance the counter by one and set each group's lr."""
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self) -> list:
        """The lr of each param group as last set by this schedule."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """The counter, the base lrs and the hyperparameters (plain numbers)."""
        state = {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs)}
        state.update({k: getattr(self, k) for k in self._hparams})
        return state

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` and set the lrs it implies (all checked first)."""
        self._commit(self._parse_state(f"{type(self).__name__}.load_state_dict", state))

    def _parse_state(self, fn: str, state) -> dict:
        """Validate a state dict; return the attribute values it sets."""
        expected = {"last_epoch", "base_lrs", *self._hparams}
        if not isinstance(state, dict) or set(state) != expected:
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            fail(fn, f"expected a dict with keys {sorted(expected)}, got {got}", TypeError)
        base_lrs = [check_float(fn, f"base_lrs[{i}]", lr, low=0)
                    for i, lr in enumerate(state["base_lrs"])]
        if len(base_lrs) != len(self.optimizer.param_groups):
            fail(fn, f"the state has {len(base_lrs)} base lrs, the optimizer has "
                 f"{len(self.optimizer.param_groups)} param groups")
        last_epoch = check_int(fn, "last_epoch", state["last_epoch"], min_value=0)
        hparams = self._check_hparams(fn, *(state[k] for k in self._hparams))
        return {"base_lrs": base_lrs, "last_epoch": last_epoch, **dict(zip(self._hparams, hparams))}

    def _commit(self, values: dict) -> None:
        for k, v in values.items():
            setattr(self, k, v)
        self._apply()

    @staticmethod
    def _check_hparams(fn: str, *values) -> tuple:  # pragma: no cover - abstract
        """Validate the values of ``_hparams`` (in that order); return them normalised."""
        raise NotImplementedError

    def __repr__(self) -> str:
        hparams = ", ".join(f"{k}={getattr(self, k)}" for k in self._hparams)
        return f"{type(self).__name__}({hparams}, last_epoch={self.last_epoch})"


class StepLR(LRScheduler):
    """``lr = base_lr * gamma ** (t // step_size)``: decay by ``gamma`` every ``step_size``."""

    _hparams = ("step_size", "gamma")

    def __init__(self, optimizer, step_size, gamma=0.1):
        self.step_size, self.gamma = self._check_hparams("StepLR", step_size, gamma)
        super().__init__(optimizer)

    def lr_at(self, t):
        return [base * self.gamma ** (t // self.step_size) for base in self.base_lrs]

    @staticmethod
    def _check_hparams(fn, step_size, gamma):
        return (check_int(fn, "step_size", step_size, min_value=1),
                check_float(fn, "gamma", gamma, low=0))


class CosineAnnealingLR(LRScheduler):
    """``lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2``.

    Half a cosine from ``base_lr`` at ``t = 0`` down to ``eta_min`` at ``t = T_max``. As in
    torch, the formula keeps going after ``T_max``: the lr climbs back up (period
    ``2 * T_max``), so set ``T_max`` to the number of steps you will run.
    """

    _hparams = ("T_max", "eta_min")

    def __init__(self, optimizer, T_max, eta_min=0.0):  # noqa: N803  (torch's name)
        self.T_max, self.eta_min = self._check_hparams("CosineAnnealingLR", T_max, eta_min)
        super().__init__(optimizer)

    def lr_at(self, t):
        cos = (1.0 + math.cos(math.pi * t / self.T_max)) / 2.0
        return [self.eta_min + (base - self.eta_min) * cos for base in self.base_lrs]

    @staticmethod
    def _check_hparams(fn, T_max, eta_min):  # noqa: N803
        return (check_int(fn, "T_max", T_max, min_value=1),
                check_float(fn, "eta_min", eta_min, low=0))


class LinearWarmup(LRScheduler):
    """``lr = base_lr * t / warmup_steps`` for ``t < warmup_steps``, then ``after`` (or base).

    The ramp starts at 0 (the first step does not move the weights, as with Hugging Face's
    linear warm-up) and reaches ``base_lr`` at ``t = warmup_steps``. From there on, the schedule
    ``after`` (built on the same optimizer, before this one) runs with its own counter
    starting at 0, i.e. ``after.lr_at(t - warmup_steps)``; without ``after`` the lr stays at
    ``base_lr``.
    """

    _hparams = ("warmup_steps",)

    def __init__(self, optimizer, warmup_steps, after=None):
        (self.warmup_steps,) = self._check_hparams("LinearWarmup", warmup_steps)
        if after is not None:
            if not isinstance(after, LRScheduler):
                fail("LinearWarmup", f"after must be an LRScheduler or None, got "
                     f"{type(after).__name__}", TypeError)
            if after.optimizer is not optimizer:
                fail("LinearWarmup", "after must schedule the same optimizer as the warm-up")
        self.after = after
        super().__init__(optimizer)
        if after is not None:
            # the group lrs were already moved by `after` at its t = 0; start from its bases
            self.base_lrs = list(after.base_lrs)
            self._apply()

    def lr_at(self, t):
        if t < self.warmup_steps:
            return [base * t / self.warmup_steps for base in self.base_lrs]
        if self.after is None:
            return list(self.base_lrs)
        return self.after.lr_at(t - self.warmup_steps)

    def _apply(self):
        if self.after is not None:
            # keep the delegate's own counter and last lr coherent for logging and checkpoints
            self.after.last_epoch = max(0, self.last_epoch - self.warmup_steps)
            self.after._last_lr = self.after.lr_at(self.after.last_epoch)
        super()._apply()

    def state_dict(self):
        state = super().state_dict()
        if self.after is not None:  # left out when absent: no None in a checkpoint
            state["after"] = self.after.state_dict()
        return state

    def _parse_state(self, fn, state):
        if not isinstance(state, dict):
            fail(fn, f"expected a dict, got {type(state).__name__}", TypeError)
        state = dict(state)
        after_state = state.pop("after", None)
        if (after_state is None) != (self.after is None):
            fail(fn, "the state and this warm-up disagree on whether an `after` schedule "
                 "follows the warm-up")
        values = super()._parse_state(fn, state)
        if self.after is not None:
            values["after"] = self.after._parse_state(fn + " (after)", after_state)
        return values

    def _commit(self, values):
        after_values = values.pop("after", None)
        if after_values is not None:
            self.after._commit(after_values)
        super()._commit(values)

    @staticmethod
    def _check_hparams(fn, warmup_steps):
        return (check_int(fn, "warmup_steps", warmup_steps, min_value=0),)

    def __repr__(self):
        return (f"LinearWarmup(warmup_steps={self.warmup_steps}, after={self.after!r}, "
                f"last_epoch={self.last_epoch})")
