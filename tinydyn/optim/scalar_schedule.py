"""Scalar schedules: a number that changes with the training step, optimizer or not.

Dynamic networks anneal many such numbers: the Gumbel-softmax temperature of a skimming gate,
the weight of a sparsity or load-balancing penalty, the target ratio of kept tokens, PAD-Net's
dynamic ratio. A :class:`ScalarSchedule` is a pure function of the step (``sched(step)``),
plus an optional counter (``sched.step()``, ``sched.value``) that checkpoints with the model::

    tau = ScalarSchedule(5.0, 0.5, steps=1000, kind="exponential")
    tau(0), tau(500), tau(1000), tau(5000)     # 5.0, 1.58..., 0.5, 0.5 (held after `steps`)
    skim_tau = exp_decay(1.0, rate=1e-4, floor=0.5)   # Skim-RNN: max(0.5, exp(-1e-4 * step))
"""

from __future__ import annotations

import math

from tinydyn._checks import check_float, check_int, fail

__all__ = ["ScalarSchedule", "exp_decay"]

KINDS = ("linear", "exponential", "constant", "exp_decay")


class ScalarSchedule:
    """A value going from ``start`` to ``end`` over ``steps`` steps, then held at ``end``.

    Kinds (``f = min(step, steps) / steps``, the fraction of the way done):

    * ``"linear"``: ``start + (end - start) * f``;
    * ``"exponential"``: ``start * (end / start) ** f``, a geometric interpolation (equal
      ratios per step), so ``start`` and ``end`` must be > 0;
    * ``"constant"``: ``start`` at every step (``end`` and ``steps`` may be left out);
    * ``"exp_decay"``: ``max(floor, start * exp(-rate * step))``, unbounded in time; build it
      with :meth:`ScalarSchedule.exp_decay` (or :func:`exp_decay`).
    """

    def __init__(self, start, end=None, steps=None, kind="linear", *, rate=None, floor=None):
        fn = "ScalarSchedule"
        if kind not in KINDS:
            fail(fn, f"kind must be one of {KINDS}, got {kind!r}")
        self.kind = kind
        self.start = check_float(fn, "start", start)
        self.end = self.steps = self.rate = self.floor = None
        if kind in ("linear", "exponential"):
            if end is None or steps is None:
                fail(fn, f"kind={kind!r} needs end and steps, got end={end!r}, steps={steps!r}")
            self.end = check_float(fn, "end", end)
            self.steps = check_int(fn, "steps", steps, min_value=0)
            if kind == "exponential" and (self.start <= 0 or self.end <= 0):
                fail(fn, "kind='exponential' interpolates geometrically, so start and end must "
                     f"be > 0, got start={self.start}, end={self.end}")
        elif kind == "exp_decay":
            if rate is None:
                fail(fn, "kind='exp_decay' needs rate")
            self.rate = check_float(fn, "rate", rate, low=0)
            self.floor = check_float(fn, "floor", 0.0 if floor is None else floor)
        if kind != "exp_decay" and (rate is not None or floor is not None):
            fail(fn, f"rate and floor apply to kind='exp_decay' only, got kind={kind!r}")
        self.last_step = 0

    @classmethod
    def exp_decay(cls, start, rate, floor=0.0) -> ScalarSchedule:
        """``max(floor, start * exp(-rate * step))`` (Skim-RNN's Gumbel temperature)."""
        return cls(start, kind="exp_decay", rate=rate, floor=floor)

    def __call__(self, step) -> float:
        """The value at ``step`` (an int >= 0)."""
        step = check_int("ScalarSchedule", "step", step, min_value=0)
        if self.kind == "constant":
            return self.start
        if self.kind == "exp_decay":
            return max(self.floor, self.start * math.exp(-self.rate * step))
        if step >= self.steps:  # also covers steps == 0: straight to `end`
            return self.end
        f = step / self.steps
        if self.kind == "linear":
            return self.start + (self.end - self.start) * f
        return self.start * (self.end / self.start) ** f

    # ---- an optional counter, for training loops that checkpoint the schedule --------------
    @property
    def value(self) -> float:
        """The value at the counter ``last_step``."""
        return self(self.last_step)

    def step(self) -> float:
        """Advance the counter by one; return the new value."""
        self.last_step += 1
        return self.value

    def state_dict(self) -> dict:
        """The kind, the parameters it uses and the counter: plain numbers and a string."""
        state = {"kind": self.kind, "start": self.start, "end": self.end, "steps": self.steps,
                 "rate": self.rate, "floor": self.floor, "last_step": self.last_step}
        return {k: v for k, v in state.items() if v is not None}  # no None: .npz-friendly

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` (validated as a fresh construction would be)."""
        fn = "ScalarSchedule.load_state_dict"
        required, optional = {"kind", "start", "last_step"}, {"end", "steps", "rate", "floor"}
        if (not isinstance(state, dict) or not required <= set(state)
                or not set(state) <= required | optional):
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            fail(fn, f"expected a dict with keys {sorted(required)} and some of "
                 f"{sorted(optional)}, got {got}", TypeError)
        kind = str(state["kind"])  # a checkpoint round trip may hand back a NumPy string
        fresh = ScalarSchedule(state["start"], state.get("end"), state.get("steps"), kind,
                               rate=state.get("rate"), floor=state.get("floor"))
        fresh.last_step = check_int(fn, "last_step", state["last_step"], min_value=0)
        self.__dict__.update(fresh.__dict__)

    def __repr__(self) -> str:
        if self.kind == "exp_decay":
            args = f"start={self.start}, rate={self.rate}, floor={self.floor}"
        elif self.kind == "constant":
            args = f"start={self.start}"
        else:
            args = f"start={self.start}, end={self.end}, steps={self.steps}"
        return f"ScalarSchedule({args}, kind={self.kind!r})"


def exp_decay(start, rate, floor=0.0) -> ScalarSchedule:
    """``max(floor, start * exp(-rate * step))`` as a :class:`ScalarSchedule`."""
    return ScalarSchedule.exp_decay(start, rate, floor)
