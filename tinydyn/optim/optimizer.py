"""The optimizer base class: parameter groups, per-parameter state, and checkpointing.

An optimizer owns a list of *param groups*. Each group is a dict holding a list of tensors under
``"params"`` and the hyperparameters (``"lr"``, ``"momentum"``...) applied to them; a
hyperparameter missing from a group takes the optimizer's default. Schedules change
``group["lr"]`` between steps, and ``step()`` reads it afresh every time.

Subclasses provide two things:

* ``_check_options(fn, options)`` validating and normalising one group's hyperparameters;
* ``_update(p, grad, group, state)`` changing ``p.data`` *in place* from the raw gradient array.

Updates run on every training step, so they write through ``out=`` into scratch buffers the
optimizer keeps per parameter, instead of allocating a fresh array for every intermediate.
"""

from __future__ import annotations

import numpy as np

from tinydyn._checks import fail
from tinydyn.autograd.tensor import Tensor

__all__ = ["Optimizer"]


class Optimizer:
    """Base class of every optimizer (PyTorch's ``torch.optim.Optimizer`` semantics).

    Args:
        params: an iterable of tensors with ``requires_grad=True``, or a list of dicts
            (param groups), each with a ``"params"`` entry and optional per-group options.
        defaults: the options a group gets when it does not set them.
    """

    def __init__(self, params, defaults: dict):
        name = type(self).__name__
        self.defaults = self._check_options(name, dict(defaults))
        self.param_groups: list[dict] = []
        self.state: dict = {}  # param tensor -> dict of arrays/numbers (tensors hash by id)
        self._scratch: dict = {}  # id(param) -> list of work buffers, never checkpointed
        if isinstance(params, Tensor):
            fail(name, "params must be an iterable of tensors or of param-group dicts, got a "
                 "single Tensor; wrap it in a list", TypeError)
        if isinstance(params, (dict, str)) or not hasattr(params, "__iter__"):
            fail(name, "params must be an iterable of tensors or of param-group dicts, got "
                 f"{type(params).__name__}", TypeError)
        params = list(params)
        if not params:
            fail(name, "params is empty: the optimizer got no parameters to optimize")
        if all(isinstance(g, dict) for g in params):
            for group in params:
                self.add_param_group(group)
        elif any(isinstance(g, dict) for g in params):
            fail(name, "params mixes tensors and param-group dicts; pass one kind only",
                 TypeError)
        else:
            self.add_param_group({"params": params})

    # ---- to be provided by subclasses ---------------------------------------------------------
    @classmethod
    def _check_options(cls, fn: str, options: dict) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def _update(self, p: Tensor, grad: np.ndarray, group: dict, state: dict) -> None:
        raise NotImplementedError  # pragma: no cover - abstract

    # ---- param groups -------------------------------------------------------------------------
    def add_param_group(self, group: dict) -> None:
        """Append a param group; options it leaves out take the optimizer's defaults."""
        name = type(self).__name__
        where = f"param group {len(self.param_groups)}"
        if not isinstance(group, dict):
            fail(name, f"{where} must be a dict, got {type(group).__name__}", TypeError)
        if "params" not in group:
            fail(name, f"{where} has no 'params' entry")
        unknown = sorted(set(group) - set(self.defaults) - {"params"})
        if unknown:
            fail(name, f"{where} has unknown options {unknown}; expected some of "
                 f"{sorted(self.defaults)}")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        if not params:
            fail(name, f"{where} has an empty 'params' list")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for i, p in enumerate(params):
            label = f"{where}, params[{i}]"
            if not isinstance(p, Tensor):
                fail(name, f"{label} must be a Tensor, got {type(p).__name__}", TypeError)
            if not p.requires_grad:
                fail(name, f"{label} (shape {p.shape}) does not require grad; only tensors "
                     "with requires_grad=True can be optimized")
            if not p.is_leaf:
                fail(name, f"{label} (shape {p.shape}) is not a leaf tensor: it was computed "
                     "from other tensors; optimize the leaves it came from")
            if id(p) in seen:
                fail(name, f"{label} appears more than once among the optimizer's params")
            seen.add(id(p))
        options = {k: v for k, v in group.items() if k != "params"}
        options = self._check_options(f"{name}: {where}", {**self.defaults, **options})
        self.param_groups.append({"params": params, **options})

    # ---- the training-loop API ----------------------------------------------------------------
    def zero_grad(self) -> None:
        """Forget every parameter's gradient (``grad = None``, as torch's default)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient; the ones without one are skipped."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = {}
                self._update(p, p.grad.data, group, state)

    def _buffer(self, p: Tensor, k: int = 0) -> np.ndarray:
        """The k-th scratch array shaped like ``p`` (reused across steps)."""
        bufs = self._scratch.get(id(p))
        if bufs is None:
            bufs = self._scratch[id(p)] = []
        while len(bufs) <= k:
            bufs.append(None)
        buf = bufs[k]
        if buf is None or buf.shape != p.data.shape or buf.dtype != p.data.dtype:
            buf = bufs[k] = np.empty_like(p.data)
        return buf

    # ---- checkpoints --------------------------------------------------------------------------
    def _params(self) -> list:
        return [p for g in self.param_groups for p in g["params"]]

    def state_dict(self) -> dict:
        """``{"state": {index: {name: array or number}}, "param_groups": [options]}``.

        Parameters are named by their position across the groups (as in torch), so the dict
        holds only plain numbers and copies of arrays, and loads into a fresh optimizer built
        over a fresh model of the same architecture.
        """
        index = {id(p): i for i, p in enumerate(self._params())}
        state = {
            index[id(p)]: {k: (v.copy() if isinstance(v, np.ndarray) else v)
                           for k, v in s.items()}
            for p, s in self.state.items()
        }
        groups = []
        for g in self.param_groups:
            options = {k: v for k, v in g.items() if k != "params"}
            groups.append({**options, "params": [index[id(p)] for p in g["params"]]})
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore options and state saved by :meth:`state_dict`.

        Everything is checked (group count, params per group, option names, state shapes and
        dtypes) before anything changes, so a mismatch never leaves a half-loaded optimizer.
        """
        fn = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, dict) or set(state_dict) != {"state", "param_groups"}:
            got = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
            fail(fn, f"expected a dict with keys ['param_groups', 'state'], got {got}", TypeError)
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            fail(fn, f"the state has {len(saved_groups)} param groups, the optimizer has "
                 f"{len(self.param_groups)}")
        new_options = []
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            n_saved, n_here = len(saved.get("params", ())), len(group["params"])
            if n_saved != n_here:
                fail(fn, f"param group {i} has {n_saved} params in the state but {n_here} in "
                     "the optimizer")
            options = {k: v for k, v in saved.items() if k != "params"}
            if set(options) != set(self.defaults):
                fail(fn, f"param group {i} has options {sorted(options)}, expected "
                     f"{sorted(self.defaults)} (was the state saved by another optimizer?)")
            new_options.append(self._check_options(f"{fn}: param group {i}", options))

        params = self._params()
        new_state = {}
        for key, entries in dict(state_dict["state"]).items():
            if isinstance(key, bool) or not isinstance(key, (int, np.integer, str)) or (
                    isinstance(key, str) and not key.isdigit()):
                fail(fn, f"state keys must be param indices, got {key!r}", TypeError)
            idx = int(key)
            if not 0 <= idx < len(params):
                fail(fn, f"state refers to param {idx}, but the optimizer has {len(params)}")
            p = params[idx]
            restored = {}
            for k, v in entries.items():
                if k == "step":  # the only scalar entry: a step counter
                    v = int(v)
                else:
                    v = np.asarray(v)
                    if v.shape != p.data.shape:
                        fail(fn, f"state '{k}' of param {idx} has shape {v.shape}, but the param "
                             f"has shape {p.data.shape}")
                    if v.dtype != p.data.dtype:
                        fail(fn, f"state '{k}' of param {idx} has dtype {v.dtype}, but the param "
                             f"has dtype {p.data.dtype}", TypeError)
                    v = v.copy()
                restored[k] = v
            new_state[p] = restored

        for group, options in zip(self.param_groups, new_options):
            group.update(options)
        self.state = new_state

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            options = ", ".join(f"{k}={v}" for k, v in g.items() if k != "params")
            lines.append(f"  param group {i}: {len(g['params'])} params, {options}")
        return "\n".join(lines + [")"])
