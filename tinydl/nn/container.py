"""Containers: Sequential (a pipeline), ModuleList and ModuleDict (registered collections of
modules), ParameterList and ParameterDict (registered collections of parameters)."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

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

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self._modules)), module)
        return self


class ModuleList(Module):
    """A list of modules whose parameters the parent sees."""

    def __init__(self, modules: Iterable[Module] = ()):
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
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


class _RegisteredDict(Module):
    """The dict interface ModuleDict and ParameterDict share, over one of the module's tables
    (``_modules`` or ``_parameters``, named by ``_table``). Subclasses define __setitem__."""

    _table = "_modules"

    def _entries(self) -> OrderedDict[str, Any]:
        return getattr(self, self._table)

    def __getitem__(self, key: str) -> Any:
        return self._entries()[key]

    def __delitem__(self, key: str) -> None:
        delattr(self, key)

    def __contains__(self, key: str) -> bool:
        return key in self._entries()

    def __len__(self) -> int:
        return len(self._entries())

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries())

    def keys(self) -> Iterable[str]:
        return self._entries().keys()

    def values(self) -> Iterable[Any]:
        return self._entries().values()

    def items(self) -> Iterable[tuple[str, Any]]:
        return self._entries().items()

    def get(self, key: str, default: Any = None) -> Any:
        return self._entries().get(key, default)

    def pop(self, key: str) -> Any:
        value = self._entries()[key]
        del self[key]
        return value

    def update(self, entries: dict | Iterable[tuple[str, Any]]) -> None:
        pairs = entries.items() if hasattr(entries, "items") else entries
        for key, value in pairs:
            self[key] = value


class ModuleDict(_RegisteredDict):
    """A dict of modules whose parameters the parent sees."""

    def __init__(self, modules: dict | None = None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __setitem__(self, name: str, module: Module) -> None:
        self.add_module(name, module)


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

    def append(self, value: Any) -> ParameterList:
        setattr(self, str(len(self._parameters)), _as_parameter("ParameterList", value))
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
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


class ParameterDict(_RegisteredDict):
    """A dict of Parameters the parent module trains, keyed by name."""

    _table = "_parameters"

    def __init__(self, parameters: dict | Iterable[tuple[str, Any]] | None = None):
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __setitem__(self, key: str, value: Any) -> None:
        if not isinstance(key, str) or not key or "." in key:
            raise KeyError(f"ParameterDict: keys must be non-empty strings without '.', got "
                           f"{key!r}")
        setattr(self, key, _as_parameter("ParameterDict", value))

    def extra_repr(self) -> str:
        return ", ".join(f"({k}): {tuple(p.shape)}" for k, p in self.items())
