"""Module and Parameter: the building blocks every layer and model is made of.

A Module registers what you assign to it: a ``Parameter`` becomes one of its parameters, a
Module becomes a child, a ``buffer`` (``register_buffer``) is state that is saved but not
trained (BatchNorm's running mean). ``state_dict()`` lists all of them by dotted name, as in
PyTorch, so weights move between tinydl and PyTorch by name.
"""
from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from tinydl import backend
from tinydl.autograd import is_grad_enabled, no_grad
from tinydl.errors import DTypeError, ShapeError
from tinydl.ops.hooks import tap_gradients
from tinydl.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module trains: requires_grad is on and Modules register it."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None):
        super().__init__(data, dtype=dtype, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


def zero_grads_(params: Iterable[Tensor], set_to_none: bool = True) -> None:
    """Set each parameter's ``.grad`` to None, or fill it with zeros (set_to_none=False)."""
    for param in params:
        if param.grad is None:
            continue
        if set_to_none:
            param.grad = None
            continue
        grad = param.grad.data
        # a gradient may be a read-only broadcast view: replace it then
        if getattr(getattr(grad, "flags", None), "writeable", True):
            grad[...] = 0
        else:
            param.grad = Tensor(param.xp.zeros_like(param.data))


class RemovableHandle:
    """What ``register_*_hook`` returns: ``handle.remove()`` takes the hook off (also as a
    context manager: ``with layer.register_forward_hook(f): ...``)."""

    _ids = itertools.count()

    def __init__(self, table: OrderedDict, entry: Any, prepend: bool = False):
        self.id = next(RemovableHandle._ids)
        self._table = table
        table[self.id] = entry
        if prepend:
            table.move_to_end(self.id, last=False)

    def remove(self) -> None:
        self._table.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


class _BackwardHookTap:
    """One forward call's bookkeeping for full backward hooks: gradient taps on the tensor
    inputs and the outputs, and the grad_output the input tap hands to the hooks."""

    def __init__(self, module: Module):
        self.module = module
        self.tensor_positions: list[int] = []  # where the positional Tensor inputs are
        self.tapped: list[int] = []  # which of those need a gradient (ranks among tensors)
        self.grad_output: tuple = ()

    def wrap_inputs(self, args: tuple) -> tuple:
        self.tensor_positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.tapped = [rank for rank, i in enumerate(self.tensor_positions)
                       if args[i].requires_grad]
        if not self.tapped:
            return args
        positions = [self.tensor_positions[rank] for rank in self.tapped]
        tapped = tap_gradients(tuple(args[i] for i in positions), self._at_inputs)
        args = list(args)
        for position, tensor in zip(positions, tapped):
            args[position] = tensor
        return tuple(args)

    def wrap_outputs(self, output: Any) -> Any:
        single = isinstance(output, Tensor)
        outputs = (output,) if single else tuple(output) if isinstance(output, (tuple, list)) \
            else ()
        tensors = [o for o in outputs if isinstance(o, Tensor) and o.requires_grad]
        if not tensors or len(tensors) != len(outputs):
            return output  # nothing differentiable comes out (or a mix): no hook to call
        tapped = tap_gradients(tuple(tensors), self._at_outputs)
        return tapped[0] if single else type(output)(tapped)

    def _at_outputs(self, grads: tuple) -> tuple:
        grads = tuple(grads)
        for hook in list(self.module._backward_pre_hooks.values()):
            result = hook(self.module, grads)
            if result is not None:
                grads = _checked_grads(self.module, "backward pre-hook", result, len(grads),
                                       "outputs", "grad_output")
        self.grad_output = grads
        if not self.tapped:  # no input needs a gradient: the hooks run now
            self._run_hooks((None,) * len(self.tensor_positions))
        return grads

    def _at_inputs(self, grads: tuple) -> tuple:
        grad_input = [None] * len(self.tensor_positions)
        for rank, grad in zip(self.tapped, grads):
            grad_input[rank] = grad
        grad_input = self._run_hooks(tuple(grad_input))
        return tuple(grad_input[rank] for rank in self.tapped)

    def _run_hooks(self, grad_input: tuple) -> tuple:
        for hook in list(self.module._backward_hooks.values()):
            result = hook(self.module, grad_input, self.grad_output)
            if result is not None:
                grad_input = _checked_grads(self.module, "backward hook", result,
                                            len(grad_input), "inputs", "grad_input")
        return grad_input


def _checked_grads(module: Module, kind: str, result: Any, count: int, of: str,
                   like: str) -> tuple:
    """A hook's replacement gradients as a tuple of the expected length, or a clear error."""
    result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
    if len(result) != count:
        raise ValueError(f"{type(module).__name__} {kind}: returned {len(result)} gradients "
                         f"for {count} {of}; return a tuple like {like} (or None)")
    return result


class Module:
    """Base class for layers and models: subclasses set attributes in ``__init__`` and define
    ``forward``; calling the module runs forward."""

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_backward_hooks", OrderedDict())
        object.__setattr__(self, "_backward_pre_hooks", OrderedDict())

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

    def add_module(self, name: str, module: Module) -> None:
        setattr(self, name, module)

    # ---- calling -------------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._forward_pre_hooks or self._forward_hooks or self._backward_hooks or \
                self._backward_pre_hooks:
            return self._call_with_hooks(args, kwargs)
        return self.forward(*args, **kwargs)

    # ---- hooks ---------------------------------------------------------------------------------
    def register_forward_pre_hook(self, hook: Callable, *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args)`` before each forward; a non-None result replaces args
        (a tuple, or one value). with_kwargs: ``hook(module, args, kwargs)`` returning None or
        (args, kwargs). Returns a handle whose ``remove()`` takes the hook off."""
        return RemovableHandle(self._forward_pre_hooks, (hook, with_kwargs), prepend)

    def register_forward_hook(self, hook: Callable, *, prepend: bool = False,
                              with_kwargs: bool = False) -> RemovableHandle:
        """Call ``hook(module, args, output)`` after each forward (``hook(module, args, kwargs,
        output)`` with with_kwargs); a non-None result replaces the output. Feature extraction:
        ``layer.register_forward_hook(lambda m, i, o: saved.append(o.detach()))``."""
        return RemovableHandle(self._forward_hooks, (hook, with_kwargs), prepend)

    def register_full_backward_hook(self, hook: Callable, *,
                                    prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_input, grad_output)`` when backward reaches this module's
        inputs: grad_output holds the gradients of the outputs, grad_input those of the
        positional Tensor inputs (None for one that needs no gradient). A non-None result (a
        tuple like grad_input) replaces grad_input. The module must be called with gradients
        recorded; hooks registered after a forward see only later forwards."""
        return RemovableHandle(self._backward_hooks, hook, prepend)

    def register_full_backward_pre_hook(self, hook: Callable, *,
                                        prepend: bool = False) -> RemovableHandle:
        """Call ``hook(module, grad_output)`` when the gradients of the outputs arrive, before
        backward goes through the module; a non-None result (a tuple like grad_output)
        replaces grad_output."""
        return RemovableHandle(self._backward_pre_hooks, hook, prepend)

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        for hook, with_kwargs in list(self._forward_pre_hooks.values()):
            if with_kwargs:
                result = hook(self, args, kwargs)
                if result is not None:
                    args, kwargs = result
            else:
                result = hook(self, args)
                if result is not None:
                    args = result if isinstance(result, tuple) else (result,)
        tap = None
        if (self._backward_hooks or self._backward_pre_hooks) and is_grad_enabled():
            tap = _BackwardHookTap(self)
            args = tap.wrap_inputs(args)
        output = self.forward(*args, **kwargs)
        for hook, with_kwargs in list(self._forward_hooks.values()):
            result = hook(self, args, kwargs, output) if with_kwargs else hook(self, args, output)
            if result is not None:
                output = result
        if tap is not None:
            output = tap.wrap_outputs(output)
        return output

    # ---- traversal -----------------------------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """This module and every module inside it, with dotted names ('' for self).

        A module that appears twice (shared) is listed once, unless remove_duplicate=False.
        """
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name,
                                               remove_duplicate)

    def get_submodule(self, target: str) -> Module:
        """The module at dotted path ``target`` ("" is self): ``model.get_submodule("0.fc")``."""
        module = self
        for part in target.split(".") if target else []:
            if part not in module._modules:
                raise AttributeError(f"get_submodule: {type(module).__name__} has no submodule "
                                     f"{part!r} (in {target!r}); its children are "
                                     f"{list(module._modules)}")
            module = module._modules[part]
        return module

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every submodule (children first) and then on self; returns self.
        The usual use: ``model.apply(init_weights)``."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        yield from ((n, m) for n, m in self._modules.items() if m is not None)

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Every parameter with its dotted name, each shared parameter once."""
        seen: set[int] = set()
        for module_name, module in self.named_modules(prefix=prefix):
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
    def train(self, mode: bool = True) -> Module:
        """Training mode (Dropout drops, BatchNorm uses batch statistics); returns self."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode (Dropout off, BatchNorm uses running statistics); returns self."""
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: set it to None (the default, as in PyTorch 2),
        or fill it with zeros (set_to_none=False)."""
        zero_grads_(self.parameters(), set_to_none)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    # ---- devices and dtypes --------------------------------------------------------------------
    def to(self, target: Any) -> Module:
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

    def cpu(self) -> Module:
        return self.to("cpu")

    def cuda(self) -> Module:
        return self.to("cuda")

    def double(self) -> Module:
        import numpy

        return self.to(numpy.float64)

    def float(self) -> Module:
        import numpy

        return self.to(numpy.float32)

    # ---- saving --------------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, Tensor]:
        """Parameters and buffers by dotted name (the tensors themselves, not copies)."""
        state: OrderedDict[str, Tensor] = OrderedDict()
        for module_name, module in self.named_modules(remove_duplicate=False):
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
