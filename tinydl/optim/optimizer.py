"""Optimizer: the base class of SGD, Adam, AdamW and RMSprop.

An optimizer holds the parameters in *parameter groups*: a list of dicts, each with a
``"params"`` list and its own hyper-parameters (``"lr"``, ``"momentum"``, ...). Values a group
leaves out are filled in from the optimizer's defaults, so

    SGD([{"params": model.body.parameters()},
         {"params": model.head.parameters(), "lr": 1e-2}], lr=1e-3, momentum=0.9)

trains the head ten times faster. Changing ``optimizer.param_groups[0]["lr"]`` between steps
changes the learning rate (that is all a learning-rate scheduler does).

Per-parameter state (momentum buffers, Adam's moments) lives in ``optimizer.state[param]``,
on the parameter's device. ``state_dict()`` lists it in PyTorch's layout, with parameters
referred to by their position in the groups, and with NumPy arrays, so
``tinydl.io.save(optimizer.state_dict(), path)`` stores it (the state's keys are the positions
as strings, "0", "1", ..., because checkpoint dicts have string keys; ``load_state_dict``
accepts ints as well).

Updates change ``param.data`` in place with plain array operations: an optimizer step is not
part of any graph.
"""
from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Iterable
from typing import Any

from tinydl import backend
from tinydl.autograd import enable_grad
from tinydl.errors import DTypeError, ShapeError
from tinydl.nn.module import zero_grads_
from tinydl.tensor import Tensor


class _Required:
    """Marks a hyper-parameter without a default (SGD's lr)."""

    def __repr__(self) -> str:
        return "<required>"


required = _Required()


class Optimizer:
    """Base class: parameter groups, per-parameter state, zero_grad, state_dict.

    Subclasses pass their defaults to ``__init__``, check a group's hyper-parameters in
    ``_check_group`` and update the parameters in ``step``.
    """

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]):
        self.defaults = dict(defaults)
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{type(self).__name__}: parameters must be given in a fixed order "
                            "(a list or model.parameters()), not a set")
        groups = [params] if isinstance(params, Tensor) else list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty list of parameters; pass "
                             "model.parameters() (does the model register any Parameters?)")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ---- parameter groups ------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group (a dict with "params" and optional hyper-parameters) to train as well."""
        name = type(self).__name__
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: a parameter group must be a dict with a 'params' entry, "
                            f"got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}: a parameter group needs a 'params' entry, got keys "
                             f"{sorted(param_group)}")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: parameters must be given in a fixed order (a list or "
                            "model.parameters()), not a set")
        params = [params] if isinstance(params, Tensor) else list(params)
        for param in params:
            if not isinstance(param, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, got a "
                                f"{type(param).__name__}")
            if not param.is_leaf:
                raise ValueError(f"{name}: cannot optimize a tensor of shape {param.shape} that "
                                 "an op computed (not a leaf); optimize the Parameters it was "
                                 "computed from")
            if param.dtype.kind != "f":
                raise DTypeError(f"{name}: can only optimize floating tensors, got one of dtype "
                                 f"{param.dtype} and shape {param.shape}")
        ids = [id(p) for p in params]
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if len(set(ids)) != len(ids) or taken & set(ids):
            raise ValueError(f"{name}: a parameter appears twice (in one group or in two "
                             "groups); give each parameter once")
        for key, default in self.defaults.items():
            if key not in group:
                if default is required:
                    raise ValueError(f"{name}: the parameter group has no {key!r} and "
                                     f"{name} has no default for it; pass {key}=...")
                group[key] = default
        group["params"] = params
        self._check_group(group)
        self.param_groups.append(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        """Raise a clear error for a bad hyper-parameter (subclasses override)."""

    @staticmethod
    def _check_range(optimizer: str, name: str, value: Any, low: float,
                     high: float | None = None, high_inclusive: bool = False) -> None:
        """``value`` must be a number with low <= value (< or <= high)."""
        inside = isinstance(value, numbers.Real) and value >= low
        if inside and high is not None:
            inside = value <= high if high_inclusive else value < high
        if not inside:
            upper = "" if high is None else f" and {'<=' if high_inclusive else '<'} {high}"
            raise ValueError(f"{optimizer}: {name} must be a number >= {low}{upper}, got {value!r}")

    # ---- gradients -------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: set ``.grad`` to None (default) or fill it with zeros."""
        zero_grads_((p for group in self.param_groups for p in group["params"]), set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; returns closure() when one is given.

        closure: a function that recomputes the loss (zero_grad, forward, backward) and
        returns it; it runs with gradients enabled before the update.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._update_group(group, [(param, param.grad.data) for param in group["params"]
                                       if param.grad is not None])
        return loss

    def _update_group(self, group: dict[str, Any], pairs: list) -> None:
        """Update a group's (parameter, gradient array) pairs: one at a time by default
        (``_update``); an optimizer may override it to update them all in one call."""
        for param, grad in pairs:
            self._update(param, grad, group)

    def _update(self, param: Tensor, grad: Any, group: dict[str, Any]) -> None:
        """Update one parameter in place (subclasses define it)."""
        raise NotImplementedError(f"{type(self).__name__} must define _update()")

    def _state_for(self, param: Tensor) -> dict[str, Any]:
        state = self.state.get(param)
        if state is None:
            state = self.state[param] = {}
        return state

    # ---- saving and loading ------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """{"state": {"0": {...}, ...}, "param_groups": [{..., "params": [0, 1, ...]}, ...]}.

        Parameters are numbered in group order; state arrays are NumPy copies (so the dict
        can be saved with tinydl.io.save and later steps do not change it).
        """
        index_of: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {key: value for key, value in group.items() if key != "params"}
            for param in group["params"]:
                index_of.setdefault(id(param), len(index_of))
            packed["params"] = [index_of[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for param in group["params"]:
                if param in self.state:
                    state[str(index_of[id(param)])] = {
                        key: _host_copy(value) for key, value in self.state[param].items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyper-parameters and state saved by ``state_dict`` (after tinydl.io.load too).

        The optimizer must have been built over the same parameters in the same groups; state
        arrays move to each parameter's device and take its float dtype. Everything is checked
        before anything changes: a state that does not fit (another optimizer's, another
        model's) raises and leaves this optimizer as it was.
        """
        name = type(self).__name__
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError(f"{name}.load_state_dict: expected a dict with 'state' and "
                             "'param_groups' (from optimizer.state_dict())")
        saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved_groups, (list, tuple)) or not isinstance(saved_state, dict):
            raise TypeError(f"{name}.load_state_dict: 'param_groups' must be a list and "
                             "'state' a dict (from optimizer.state_dict())")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the saved state has {len(saved_groups)} "
                             f"parameter groups, this optimizer has {len(self.param_groups)}")
        param_at: dict[int, Tensor] = {}
        for number, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if not isinstance(saved, dict) or not isinstance(saved.get("params"), (list, tuple)):
                raise TypeError(f"{name}.load_state_dict: parameter group {number} is not a "
                                 "dict with a 'params' list")
            self._check_same_optimizer(saved, number)
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}.load_state_dict: parameter group {number} has "
                                 f"{len(saved['params'])} parameters in the saved state and "
                                 f"{len(group['params'])} here; build the optimizer over the "
                                 "same model")
            for index, param in zip(saved["params"], group["params"]):
                param_at[_position(name, index)] = param
        if len(param_at) != sum(len(group["params"]) for group in self.param_groups):
            raise ValueError(f"{name}.load_state_dict: the saved groups number a parameter "
                             "twice; the file is damaged")
        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, values in saved_state.items():
            index = _position(name, key)
            if index not in param_at:
                raise ValueError(f"{name}.load_state_dict: state for parameter {index}, but the "
                                 f"groups number only {len(param_at)} parameters")
            if not isinstance(values, dict):
                raise TypeError(f"{name}.load_state_dict: the state of parameter {index} is a "
                                 f"{type(values).__name__}, expected a dict")
            param = param_at[index]
            new_state[param] = {field: _state_value_for(name, field, value, param)
                                for field, value in values.items()}
        new_groups = []
        for number, (group, saved) in enumerate(zip(self.param_groups, saved_groups)):
            restored = {key: _plain(value) for key, value in saved.items() if key != "params"}
            for key in self.defaults:  # settings newer than the file: keep this optimizer's
                restored.setdefault(key, group[key])
            restored["params"] = group["params"]
            try:
                self._check_group(restored)
            except (ValueError, TypeError) as error:
                raise type(error)(f"{name}.load_state_dict: saved parameter group {number}: "
                                  f"{error}") from error
            new_groups.append(restored)
        self.state = new_state
        self.param_groups = new_groups

    def _check_same_optimizer(self, saved_group: dict[str, Any], number: int) -> None:
        """Refuse a group holding settings that only another optimizer class has (Adam's betas
        loaded into SGD). Settings no tinydl optimizer knows (PyTorch's foreach, a scheduler's
        initial_lr) are kept and ignored."""
        known = _settings_of_all_optimizers() - _IMPLEMENTATION_FLAGS
        foreign = sorted(key for key in saved_group if key not in self.defaults and key in known)
        if not foreign:
            return
        name = type(self).__name__
        owners = [cls.__name__ for cls in _optimizer_classes()
                  if set(foreign) <= _settings_of(cls)] or ["another optimizer"]
        raise ValueError(f"{name}.load_state_dict: parameter group {number} of the saved state "
                         f"has settings {foreign}, which {name} does not have: it is the state "
                         f"of {' or '.join(owners)}, not of {name}; load it into the optimizer "
                         "class that saved it")

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for number, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {number}")
            for key in sorted(group):
                if key != "params":
                    lines.append(f"    {key}: {group[key]}")
        lines.append(")")
        return "\n".join(lines)


# PyTorch's flags choosing how an update runs, never what it computes: not a sign of another class
_IMPLEMENTATION_FLAGS = {"foreach", "fused", "capturable", "differentiable"}


def _optimizer_classes() -> list[type]:
    """Every Optimizer subclass defined so far (tinydl's and the user's)."""
    found, pending = [], list(Optimizer.__subclasses__())
    while pending:
        cls = pending.pop(0)
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def _settings_of(cls: type) -> set[str]:
    """The hyper-parameter names an optimizer class takes (its constructor's arguments)."""
    try:
        names = inspect.signature(cls.__init__).parameters
    except (TypeError, ValueError):
        return set()
    return set(names) - {"self", "params", "args", "kwargs"}


def _settings_of_all_optimizers() -> set[str]:
    return set().union(*(_settings_of(cls) for cls in _optimizer_classes()))


def _position(optimizer: str, key: Any) -> int:
    """A parameter's position from a state_dict ("3" or 3)."""
    try:
        return int(key)
    except (TypeError, ValueError):
        raise ValueError(f"{optimizer}.load_state_dict: {key!r} is not a parameter position; "
                         "the saved state is damaged") from None


def _host_copy(value: Any) -> Any:
    """State values for a state_dict: arrays as NumPy copies, numbers and None as they are."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, backend._ARRAY_TYPES):
        return backend.to_numpy(value).copy()
    return value


def _plain(value: Any) -> Any:
    """A hyper-parameter from a loaded file: 0-d arrays become Python numbers."""
    if hasattr(value, "shape") and hasattr(value, "item") and value.shape == ():
        return value.item()
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


def _state_value_for(optimizer: str, field: str, value: Any, param: Tensor) -> Any:
    """A saved state value made ready for ``param``: arrays copied to its device and dtype."""
    if value is None:
        return None
    if isinstance(value, Tensor):
        value = value.data
    if not hasattr(value, "shape") or value.shape == ():
        number = value.item() if hasattr(value, "item") else value
        return int(number) if field == "step" else number
    if tuple(value.shape) != param.shape:
        raise ShapeError(f"{optimizer}.load_state_dict: state {field!r} has shape "
                         f"{tuple(value.shape)} but its parameter has shape {param.shape}")
    array = backend.to_device(value, param.device)
    dtype = param.dtype if array.dtype.kind == "f" else array.dtype
    return array.astype(dtype, copy=True)


def maximize_and_decay(param: Tensor, grad: Any, group: dict[str, Any]) -> Any:
    """The gradient most updates start from: negated with ``maximize``, plus
    ``weight_decay * p`` (an L2 penalty) when weight_decay > 0. A new array; grad is kept."""
    if group["maximize"]:
        grad = -grad
    if group["weight_decay"] != 0:
        grad = grad + group["weight_decay"] * param.data
    return grad
