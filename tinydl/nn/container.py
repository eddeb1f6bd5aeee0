"""Containers: Sequential (a pipeline), ModuleList and ModuleDict (registered collections of
modules), ParameterList and ParameterDict (registered collections of parameters)."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterable, Iterator

from tinydl.nn.module import Module, Parameter
from tinydl.tensor import Tensor


class Sequential(Module):
    """Modules applied one after another: Sequential(Linear(4, 8), ReLU(), Linear(8, 3))."""

    def __init__(self, *modules: Any):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(modules):
                self.add_module(str(index), module)

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, index: int | slice) -> Any:
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*modules[index])
        return modules[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def append(self, module: Module) -> "Sequential":
        self.add_module(str(len(self._modules)), module)
        return self


class ModuleList(Module):
    """A list of modules whose parameters the parent sees."""

    def __init__(self, modules: Iterable[Module] = ()):
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module: Module) -> "ModuleList":
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> "ModuleList":
        for module in modules:
            self.append(module)
        return self

    def __getitem__(self, index: int | slice) -> Any:
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return ModuleList(modules[index])
        return modules[index]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


class ModuleDict(Module):
    """A dict of modules whose parameters the parent sees."""

    def __init__(self, modules: dict | None = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, name: str) -> Module:
        return self._modules[name]

    def __setitem__(self, name: str, module: Module) -> None:
        self.add_module(name, module)

    def __contains__(self, name: str) -> bool:
        return name in self._modules

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def keys(self) -> Iterable[str]:
        return self._modules.keys()

    def values(self) -> Iterable[Module]:
        return self._modules.values()

    def items(self) -> Iterable[tuple[str, Module]]:
        return self._modules.items()

    def __delitem__(self, name: str) -> None:
        delattr(self, name)

    def pop(self, name: str) -> Module:
        module = self._modules[name]
        del self[name]
        return module

    def update(self, modules: dict | Iterable[tuple[str, Module]]) -> None:
        pairs = modules.items() if hasattr(modules, "items") else modules
        for name, module in pairs:
            self[name] = module


def _as_parameter(container: str, value: Any) -> Parameter:
    """A Parameter as is; any other Tensor becomes a Parameter over the same data (as torch)."""
    if isinstance(value, Parameter):
        return value
    if isinstance(value, Tensor):
        return Parameter(value.data, dtype=value.dtype)
    raise TypeError(f"{container}: holds Parameters (or Tensors, made Parameters), got a "
                    f"{type(value).__name__}")


class ParameterList(Module):
    """A list of Parameters the parent module trains: ``ParameterList([Parameter(w) ...])``.
    Their names are "0", "1", ... (as in PyTorch's state_dict)."""

    def __init__(self, values: Iterable[Any] | None = None):
        super().__init__()
        for value in values or ():
            self.append(value)

    def append(self, value: Any) -> "ParameterList":
        setattr(self, str(len(self._parameters)), _as_parameter("ParameterList", value))
        return self

    def extend(self, values: Iterable[Any]) -> "ParameterList":
        for value in values:
            self.append(value)
        return self

    def __getitem__(self, index: int | slice) -> Any:
        params = list(self._parameters.values())
        if isinstance(index, slice):
            return ParameterList(params[index])
        return params[index]

    def __setitem__(self, index: int, value: Any) -> None:
        index = range(len(self))[index]  # negative indices count from the end; IndexError
        setattr(self, str(index), _as_parameter("ParameterList", value))

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._parameters.values())

    def extra_repr(self) -> str:
        return ", ".join(f"({i}): {tuple(p.shape)}" for i, p in enumerate(self))


class ParameterDict(Module):
    """A dict of Parameters the parent module trains, keyed by name."""

    def __init__(self, parameters: dict | Iterable[tuple[str, Any]] | None = None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str) -> Parameter:
        return self._parameters[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str) or not key or "." in key:
            raise KeyError(f"ParameterDict: keys must be non-empty strings without '.', got "
                           f"{key!r}")
        setattr(self, key, _as_parameter("ParameterDict", value))

    def __delitem__(self, key: str) -> None:
        delattr(self, key)

    def __contains__(self, key: str) -> bool:
        return key in self._parameters

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[str]:
        return iter(self._parameters)

    def keys(self) -> Iterable[str]:
        return self._parameters.keys()

    def values(self) -> Iterable[Parameter]:
        return self._parameters.values()

    def items(self) -> Iterable[tuple[str, Parameter]]:
        return self._parameters.items()

    def get(self, key: str, default: Any = None) -> Any:
        return self._parameters.get(key, default)

    def pop(self, key: str) -> Parameter:
        value = self._parameters[key]
        del self[key]
        return value

    def update(self, parameters: dict | Iterable[tuple[str, Any]]) -> None:
        pairs = parameters.items() if hasattr(parameters, "items") else parameters
        for key, value in pairs:
            self[key] = value

    def extra_repr(self) -> str:
        return ", ".join(f"({k}): {tuple(p.shape)}" for k, p in self.items())
