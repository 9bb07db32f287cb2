"""Modules: objects that own parameters, buffers and sub-modules, named as in PyTorch.

A :class:`Module` finds its parameters by watching attribute assignment::

    class MLP(Module):
        def __init__(self):
            super().__init__()
            self.fc1 = Linear(4, 8)        # a sub-module, registered as "fc1"
            self.scale = Parameter([1.0])  # a parameter, registered as "scale"

so ``named_parameters()`` yields ``scale``, ``fc1.weight``, ``fc1.bias`` (as in PyTorch: a
module's own parameters first, then each sub-module's, depth first), and
``state_dict()`` / ``load_state_dict()`` save and restore exactly those arrays (plus buffers,
non-trainable arrays such as BatchNorm's running statistics, from :meth:`Module.register_buffer`).
"""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Mapping

import numpy as np

from tinydyn._checks import fail
from tinydyn.autograd.tensor import Tensor

__all__ = ["Module", "ModuleDict", "ModuleList", "Parameter", "Sequential"]


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable: always floating, ``requires_grad=True``.

    The data is copied, so a Parameter never aliases the array it was built from.
    """

    __slots__ = ()

    def __init__(self, data, dtype=None):
        array = Tensor(data, dtype=dtype).data  # copies; Python floats become float32
        if array.dtype.kind != "f":
            fail("Parameter", f"data must be floating point, got dtype {array.dtype}", TypeError)
        super().__init__(array, requires_grad=True, _copy=False)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


def _check_name(fn: str, name) -> str:
    # Dots separate levels in state_dict keys, so a dot inside one name would be ambiguous.
    if not isinstance(name, str):
        fail(fn, f"name must be a str, got {type(name).__name__} {name!r}", TypeError)
    if name == "" or "." in name:
        fail(fn, f"name must be non-empty and contain no '.', got {name!r}")
    return name


def _array_of(value) -> np.ndarray:
    return value.data if isinstance(value, Tensor) else value


class Module:
    """Base class of every layer and model. Subclasses call ``super().__init__()`` first, assign
    Parameters and Modules as attributes, and define ``forward``."""

    def __init__(self):
        # object.__setattr__ because our own __setattr__ needs these dicts to exist already
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration ---------------------------------------------------------------------
    def _registry(self, fn: str) -> tuple:
        d = self.__dict__
        if "_parameters" not in d:
            fail(fn, f"{type(self).__name__}.__init__ must call super().__init__() before "
                 "assigning parameters or sub-modules", RuntimeError)
        return d["_parameters"], d["_buffers"], d["_modules"]

    def _is_registered(self, name: str) -> bool:
        d = self.__dict__
        return any(name in d.get(registry, ()) for registry in ("_parameters", "_buffers",
                                                                 "_modules"))

    def __setattr__(self, name: str, value) -> None:
        # Parameters and Modules are registered; assigning to a registered name must keep the
        # kind (e.g. a Tensor cannot silently replace a Parameter); anything else is an attribute.
        if isinstance(value, (Parameter, Module)) or self._is_registered(name):
            params, buffers, modules = self._registry("Module.__setattr__")
            if isinstance(value, Parameter):
                self._forget(name)
                params[name] = value
            elif isinstance(value, Module):
                self._forget(name)
                modules[name] = value
            elif name in params:
                if value is not None:
                    fail("Module.__setattr__", f"cannot assign {type(value).__name__} to "
                         f"parameter {name!r}: expected a Parameter or None", TypeError)
                params[name] = None
            elif name in buffers:
                if value is not None and not isinstance(value, (np.ndarray, Tensor)):
                    fail("Module.__setattr__", f"cannot assign {type(value).__name__} to "
                         f"buffer {name!r}: expected a numpy array, a Tensor or None", TypeError)
                buffers[name] = value
            else:
                if value is not None:
                    fail("Module.__setattr__", f"cannot assign {type(value).__name__} to "
                         f"sub-module {name!r}: expected a Module or None", TypeError)
                modules[name] = None
            return
        object.__setattr__(self, name, value)

    def _forget(self, name: str) -> None:
        """Remove ``name`` from wherever it was registered (it is about to be re-registered)."""
        self.__dict__.pop(name, None)
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        self._non_persistent.discard(name)

    def __getattr__(self, name: str):
        # Only called when normal lookup fails, i.e. for registered names.
        d = self.__dict__
        if "_parameters" in d:  # absent only before Module.__init__ (or while copying)
            for registry in (d["_parameters"], d["_buffers"], d["_modules"]):
                if name in registry:
                    return registry[name]
        raise AttributeError(f"{type(self).__name__} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        if name in self._parameters or name in self._buffers or name in self._modules:
            self._forget(name)
        else:
            object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register ``param`` under ``name`` (same as ``self.<name> = param``; None reserves it)."""
        _check_name("register_parameter", name)
        if param is not None and not isinstance(param, Parameter):
            fail("register_parameter", f"param must be a Parameter or None, got "
                 f"{type(param).__name__}", TypeError)
        self._registry("register_parameter")
        self._forget(name)
        self._parameters[name] = param

    def register_buffer(self, name: str, array, persistent: bool = True) -> None:
        """Register a non-trainable array (e.g. running statistics) saved in ``state_dict``
        (unless ``persistent=False``); it is then read and assigned as ``self.<name>``."""
        _check_name("register_buffer", name)
        if array is not None and not isinstance(array, (np.ndarray, Tensor)):
            fail("register_buffer", f"array must be a numpy array, a Tensor or None, got "
                 f"{type(array).__name__}", TypeError)
        self._registry("register_buffer")
        self._forget(name)
        self._buffers[name] = array
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Register ``module`` under ``name`` (same as ``self.<name> = module``)."""
        _check_name("add_module", name)
        if module is not None and not isinstance(module, Module):
            fail("add_module", f"module must be a Module or None, got {type(module).__name__}",
                 TypeError)
        self._registry("add_module")
        self._forget(name)
        self._modules[name] = module

    # ---- traversal ------------------------------------------------------------------------
    def named_children(self):
        """(name, module) for each direct sub-module, in registration order."""
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = ""):
        """(dotted name, module) for this module and all descendants, depth first; a module
        reachable twice is yielded once. The root has the name ``prefix`` ("" by default)."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{n}" if name else n, m) for n, m in module.named_children()]
            stack.extend(reversed(children))  # reversed: pop() then visits them in order

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_parameters(self, prefix: str = ""):
        """(dotted name, Parameter) for every parameter; a shared Parameter is yielded once."""
        seen = set()
        for module_name, module in self.named_modules(prefix):
            for name, param in module._parameters.items():
                if param is None or id(param) in seen:
                    continue
                seen.add(id(param))
                yield (f"{module_name}.{name}" if module_name else name), param

    def parameters(self):
        for _, param in self.named_parameters():
            yield param

    def named_buffers(self, prefix: str = ""):
        for module_name, module in self.named_modules(prefix):
            for name, buf in module._buffers.items():
                if buf is not None:
                    yield (f"{module_name}.{name}" if module_name else name), buf

    def buffers(self):
        for _, buf in self.named_buffers():
            yield buf

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Total number of scalar parameters (shared ones counted once)."""
        return sum(p.size for p in self.parameters() if p.requires_grad or not trainable_only)

    # ---- modes and gradients --------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode on this module and every descendant (Dropout, BatchNorm read it)."""
        if not isinstance(mode, bool):
            fail("train", f"mode must be a bool, got {type(mode).__name__} {mode!r}", TypeError)
        for module in self.modules():
            object.__setattr__(module, "training", mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def zero_grad(self) -> None:
        """Drop every parameter's gradient (``grad = None``: the next backward starts afresh)."""
        for param in self.parameters():
            param.grad = None

    def to(self, dtype) -> Module:
        """Cast every floating parameter and buffer to ``dtype`` in place (e.g. float64 for a
        gradient check); Parameter objects are kept, so references to them stay valid."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            fail("Module.to", f"dtype must be floating point, got {dtype}", TypeError)
        for param in self.parameters():
            param.data = param.data.astype(dtype)
            param.grad = None
        for module in self.modules():
            for name, buf in module._buffers.items():
                if buf is not None and _array_of(buf).dtype.kind == "f":
                    if isinstance(buf, Tensor):
                        buf.data = buf.data.astype(dtype)
                    else:
                        module._buffers[name] = buf.astype(dtype)
        return self

    def double(self) -> Module:
        return self.to(np.float64)

    def float(self) -> Module:
        return self.to(np.float32)

    # ---- state ----------------------------------------------------------------------------
    def _state_slots(self) -> OrderedDict:
        """Dotted name -> (owning module, registry, local name), in state_dict order."""
        slots = OrderedDict()
        for module_name, module in self.named_modules():
            dot = f"{module_name}." if module_name else ""
            for name, param in module._parameters.items():
                if param is not None:
                    slots[dot + name] = (module, module._parameters, name)
            for name, buf in module._buffers.items():
                if buf is not None and name not in module._non_persistent:
                    slots[dot + name] = (module, module._buffers, name)
        return slots

    def state_dict(self) -> OrderedDict:
        """Dotted name -> a copy of each parameter's and persistent buffer's array."""
        return OrderedDict(
            (key, np.array(_array_of(registry[name]), copy=True))
            for key, (_, registry, name) in self._state_slots().items()
        )

    def load_state_dict(self, state, strict: bool = True) -> IncompatibleKeys:
        """Copy the arrays of ``state`` into this module's parameters and buffers.

        Everything is checked first — missing and unexpected keys (when ``strict``), shapes and
        dtypes — and a single ValueError lists every problem; on error nothing is changed.
        Returns ``(missing_keys, unexpected_keys)``.
        """
        fn = "load_state_dict"
        if not isinstance(state, Mapping):
            fail(fn, f"state must be a mapping of name -> array, got {type(state).__name__}",
                 TypeError)
        slots = self._state_slots()
        missing = [k for k in slots if k not in state]
        unexpected = [k for k in state if k not in slots]
        problems = []
        if strict and missing:
            problems.append(f"missing keys {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys {unexpected}")
        arrays = {}
        for key, (_, registry, name) in slots.items():
            if key not in state:
                continue
            value = state[key]
            if not isinstance(value, (np.ndarray, Tensor)):
                problems.append(f"{key!r} must be a numpy array or Tensor, got "
                                f"{type(value).__name__}")
                continue
            value, target = _array_of(value), _array_of(registry[name])
            if value.shape != target.shape:
                problems.append(f"shape mismatch for {key!r}: expected {target.shape}, "
                                f"got {value.shape}")
            elif value.dtype != target.dtype:
                problems.append(f"dtype mismatch for {key!r}: expected {target.dtype}, "
                                f"got {value.dtype}")
            arrays[key] = value
        if problems:
            fail(fn, f"cannot load state into {type(self).__name__} (nothing was changed): "
                 + "; ".join(problems))
        for key, value in arrays.items():
            _, registry, name = slots[key]
            target = registry[name]
            if isinstance(target, Tensor):  # a new array: the Parameter object stays the same
                target.data = np.array(value, copy=True)
            else:
                registry[name] = np.array(value, copy=True)
        return IncompatibleKeys(missing, unexpected)

    # ---- calling and printing -------------------------------------------------------------
    def forward(self, *args, **kwargs):
        fail(f"{type(self).__name__}.forward", "not implemented: subclasses of Module must "
             "define forward()", NotImplementedError)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (its constructor arguments)."""
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self.named_children()]
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        head = f"{type(self).__name__}(" + (f"{extra}" if extra else "")
        body = "\n  ".join(lines)
        return f"{head}\n  {body}\n)"


# The containers subclass Module, so they are imported once Module exists; they stay importable
# from here (``from tinydyn.nn.module import ModuleList``).
from tinydyn.nn.containers import ModuleDict, ModuleList, Sequential  # noqa: E402
