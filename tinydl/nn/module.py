"""Module and Parameter: the building blocks every layer and model is made of.

A Module registers what you assign to it: a ``Parameter`` becomes one of its parameters, a
Module becomes a child, a ``buffer`` (``register_buffer``) is state that is saved but not
trained (BatchNorm's running mean). ``state_dict()`` lists all of them by dotted name, as in
PyTorch, so weights move between tinydl and PyTorch by name.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterator

from tinydl import backend
from tinydl.autograd import no_grad
from tinydl.errors import DTypeError, ShapeError
from tinydl.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module trains: requires_grad is on and Modules register it."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None):
        super().__init__(data, dtype=dtype, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class for layers and models: subclasses set attributes in ``__init__`` and define
    ``forward``; calling the module runs forward."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration --------------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() in __init__ "
                                 "before assigning parameters or layers")
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif name in self.__dict__.get("_buffer_names", ()):
            self._buffers[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._modules, self._buffers):
            table.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, value: Tensor | None) -> None:
        """Keep ``value`` as saved, untrained state (in state_dict, moved by ``to``)."""
        names = self.__dict__.setdefault("_buffer_names", set())
        names.add(name)
        self._buffers[name] = value
        object.__setattr__(self, name, value)

    def register_parameter(self, name: str, value: Parameter | None) -> None:
        """Register a parameter (or None, for an optional one such as a missing bias)."""
        if value is None:
            self._parameters.pop(name, None)
            object.__setattr__(self, name, None)
        else:
            setattr(self, name, value)

    def add_module(self, name: str, module: "Module") -> None:
        setattr(self, name, module)

    # ---- calling -------------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ---- traversal -----------------------------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        """This module and every module inside it, with dotted names ('' for self)."""
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator["Module"]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, "Module"]]:
        yield from ((n, m) for n, m in self._modules.items() if m is not None)

    def children(self) -> Iterator["Module"]:
        for _, module in self.named_children():
            yield module

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Every parameter with its dotted name, each shared parameter once."""
        seen: set[int] = set()
        for module_name, module in self.named_modules(prefix):
            for name, param in module._parameters.items():
                if param is not None and id(param) not in seen:
                    seen.add(id(param))
                    yield (f"{module_name}.{name}" if module_name else name), param

    def parameters(self) -> Iterator[Parameter]:
        for _, param in self.named_parameters():
            yield param

    def named_buffers(self) -> Iterator[tuple[str, Tensor]]:
        for module_name, module in self.named_modules():
            for name, buf in module._buffers.items():
                if buf is not None:
                    yield (f"{module_name}.{name}" if module_name else name), buf

    def buffers(self) -> Iterator[Tensor]:
        for _, buf in self.named_buffers():
            yield buf

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    # ---- modes ---------------------------------------------------------------------------------
    def train(self, mode: bool = True) -> "Module":
        """Training mode (Dropout drops, BatchNorm uses batch statistics); returns self."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> "Module":
        """Evaluation mode (Dropout off, BatchNorm uses running statistics); returns self."""
        return self.train(False)

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (set to None, as PyTorch does by default)."""
        for param in self.parameters():
            param.grad = None

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    # ---- devices and dtypes --------------------------------------------------------------------
    def to(self, target: Any) -> "Module":
        """Move (``"cuda"``) or cast (``tinydl.float64``) every parameter and buffer in place."""
        is_device = isinstance(target, backend.Device) or backend.is_device_name(target)
        for module in self.modules():
            for table in (module._parameters, module._buffers):
                for tensor in table.values():
                    if tensor is None:
                        continue
                    if is_device:
                        tensor.data = backend.to_device(tensor.data, target)
                    elif tensor.dtype.kind == "f":
                        tensor.data = tensor.data.astype(target)
                    if tensor.grad is not None:
                        tensor.grad = tensor.grad.to(target)
        return self

    def cpu(self) -> "Module":
        return self.to("cpu")

    def cuda(self) -> "Module":
        return self.to("cuda")

    def double(self) -> "Module":
        import numpy  # noqa: PLC0415

        return self.to(numpy.float64)

    def float(self) -> "Module":
        import numpy  # noqa: PLC0415

        return self.to(numpy.float32)

    # ---- saving --------------------------------------------------------------------------------
    def state_dict(self) -> "OrderedDict[str, Tensor]":
        """Parameters and buffers by dotted name (the tensors themselves, not copies)."""
        state: OrderedDict[str, Tensor] = OrderedDict()
        for module_name, module in self.named_modules():
            for table in (module._parameters, module._buffers):
                for name, tensor in table.items():
                    if tensor is not None:
                        state[f"{module_name}.{name}" if module_name else name] = tensor
        return state

    def load_state_dict(self, state_dict: Any, strict: bool = True) -> tuple[list, list]:
        """Copy values (Tensors or arrays) into this module's parameters and buffers by name.

        strict: missing or unexpected keys are an error (listing them). Shapes must match and
        values must be numeric. Every check and conversion runs before anything is assigned,
        so a failed load leaves the module as it was. Returns (missing_keys, unexpected_keys).
        """
        where = f"load_state_dict({type(self).__name__})"
        if not (hasattr(state_dict, "keys") and hasattr(state_dict, "__getitem__")):
            raise TypeError(f"{where}: expected a dict of name -> Tensor or array (what "
                            f"model.state_dict() returns), got a {type(state_dict).__name__}")
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched, unusable = [], []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            array = value.data if isinstance(value, Tensor) else value
            kinds = "biuf" + ("c" if target.dtype.kind == "c" else "")
            if not hasattr(array, "shape") or getattr(array, "dtype", None) is None:
                unusable.append(f"{key}: a {type(value).__name__}, not a Tensor or array")
            elif array.dtype.kind not in kinds:
                unusable.append(f"{key}: dtype {array.dtype} cannot become {target.dtype}")
            elif tuple(array.shape) != tuple(target.shape):
                mismatched.append(f"{key}: checkpoint {tuple(array.shape)} vs model {target.shape}")
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if mismatched:
            problems.append("shape mismatches: " + "; ".join(mismatched))
        if unusable:
            problems.append("unusable values: " + "; ".join(unusable))
        if problems:
            error_type = DTypeError if unusable and len(problems) == 1 else ShapeError
            raise error_type(f"{where}: " + " | ".join(problems) + "; nothing was loaded"
                        + (" (pass strict=False to skip missing/unexpected keys)"
                           if strict and (missing or unexpected) else ""))
        converted = {}  # every conversion first: one that fails leaves the module untouched
        for key, target in own.items():
            if key in state_dict:
                value = state_dict[key]
                array = value.data if isinstance(value, Tensor) else value
                array = backend.to_device(backend.get_array_module(array).asarray(array),
                                          target.device)
                converted[key] = array.astype(target.dtype, copy=True)
        with no_grad():
            for key, array in converted.items():
                own[key].data = array
        return missing, unexpected

    # ---- printing ------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """One line of settings shown in the printed tree (override in layers)."""
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        children = list(self.named_children())
        if not children:
            return lines[0] + ")"
        for name, child in children:
            child_text = repr(child).replace("\n", "\n  ")
            count = child.num_parameters()
            if count and not list(child.children()):
                child_text += f"  # {count:,} params"
            lines.append(f"  ({name}): {child_text}")
        lines.append(")")
        return "\n".join(lines)

    def summary(self) -> str:
        """The printed tree followed by parameter counts."""
        total = self.num_parameters()
        trainable = self.num_parameters(trainable_only=True)
        return f"{self!r}\nparameters: {total:,} ({trainable:,} trainable)"
