"""Containers: Sequential, ModuleList and ModuleDict hold sub-modules and register each one,
so their parameters are found by ``parameters()`` and saved by ``state_dict()``."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from tinydyn._checks import check_int, fail
from tinydyn.nn.module import Module

__all__ = ["ModuleDict", "ModuleList", "Sequential"]


def _check_index(fn: str, index, length: int) -> int:
    index = check_int(fn, "index", index)
    if not -length <= index < length:
        fail(fn, f"index {index} is out of range for {length} modules", IndexError)
    return index % length


class Sequential(Module):
    """Modules applied one after another: ``Sequential(Linear(4, 8), ReLU(), Linear(8, 2))``.
    Also accepts one ``OrderedDict`` of name -> module."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            items = list(modules[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(modules)]
        for name, module in items:
            if not isinstance(module, Module):
                fail("Sequential", f"every entry must be a Module, got {type(module).__name__} "
                     f"at {name!r}", TypeError)
            self.add_module(name, module)

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        return list(self._modules.values())[_check_index("Sequential", index, len(self))]

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self


class ModuleList(Module):
    """A list of modules, each registered (so their parameters are found), indexable as a list."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def append(self, module: Module) -> ModuleList:
        if not isinstance(module, Module):
            fail("ModuleList.append", f"module must be a Module, got {type(module).__name__}",
                 TypeError)
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules) -> ModuleList:
        if isinstance(modules, Module) or not hasattr(modules, "__iter__"):
            fail("ModuleList.extend", f"modules must be an iterable of Modules, got "
                 f"{type(modules).__name__}", TypeError)
        for module in modules:
            self.append(module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(list(self._modules.values())[index])
        return self._modules[str(_check_index("ModuleList", index, len(self)))]

    def __setitem__(self, index, module: Module) -> None:
        index = _check_index("ModuleList", index, len(self))
        if not isinstance(module, Module):
            fail("ModuleList", f"module must be a Module, got {type(module).__name__}", TypeError)
        self._modules[str(index)] = module


class ModuleDict(Module):
    """A dict of str -> module, each registered, in insertion order."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            items = modules.items() if isinstance(modules, Mapping) else modules
            for name, module in items:
                self[name] = module

    def __setitem__(self, name: str, module: Module) -> None:
        if not isinstance(module, Module):
            fail("ModuleDict", f"value for {name!r} must be a Module, got "
                 f"{type(module).__name__}", TypeError)
        self.add_module(name, module)

    def __getitem__(self, name: str) -> Module:
        if name not in self._modules:
            fail("ModuleDict", f"no module named {name!r}; keys are {list(self._modules)}",
                 KeyError)
        return self._modules[name]

    def __delitem__(self, name: str) -> None:
        self[name]  # raises the KeyError above for an unknown name
        del self._modules[name]

    def __contains__(self, name) -> bool:
        return name in self._modules

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()
