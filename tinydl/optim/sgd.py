"""Stochastic gradient descent, with momentum, Nesterov momentum and weight decay (PyTorch's).

For each parameter p with gradient g, one step does:

    g = g + weight_decay * p                       (L2 penalty, when weight_decay > 0)
    buf = g                      on the first step (momentum > 0)
    buf = momentum * buf + (1 - dampening) * g     on later steps
    g = g + momentum * buf       with nesterov, else g = buf
    p = p - lr * g

``maximize=True`` climbs instead: g is negated first.
"""
from __future__ import annotations

from typing import Any, Iterable

from tinydl.backend import get_array_module
from tinydl.optim.optimizer import Optimizer, required
from tinydl.tensor import Tensor


def _sgd_momentum_update_numpy(param: Any, grad: Any, buf: Any, lr: float, momentum: float,
                               dampening: float, nesterov: bool, weight_decay: float,
                               first_step: bool) -> None:
    """One SGD step on arrays, in place: ``param`` (and ``buf``) change; ``grad`` does not.

    Shapes: param, grad and buf all have the parameter's shape; buf is None when
    momentum == 0. first_step: buf holds nothing yet and is set to the gradient.
    """
    xp = get_array_module(param)
    scratch = xp.empty_like(param)
    if weight_decay != 0:
        direction = xp.multiply(param, weight_decay)
        direction += grad  # g + weight_decay * p
    else:
        direction = grad
    if buf is not None:
        if first_step:
            buf[...] = direction
        else:
            buf *= momentum
            xp.multiply(direction, 1.0 - dampening, out=scratch)
            buf += scratch
        if nesterov:
            xp.multiply(buf, momentum, out=scratch)
            scratch += direction  # g + momentum * buf
            direction = scratch
        else:
            direction = buf
    xp.multiply(direction, -lr, out=scratch)
    param += scratch


class SGD(Optimizer):
    """SGD(params, lr, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False).

    params: model.parameters() or a list of parameter groups (dicts). See the module docstring
    for the update rule. State per parameter: "momentum_buffer" (only with momentum).
    """

    def __init__(self, params: Iterable[Any], lr: float = required, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 maximize: bool = False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        self._check_range("SGD", "lr", group["lr"], 0.0)
        self._check_range("SGD", "momentum", group["momentum"], 0.0)
        self._check_range("SGD", "weight_decay", group["weight_decay"], 0.0)
        self._check_range("SGD", "dampening", group["dampening"], 0.0, 1.0, high_inclusive=True)
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: nesterov=True needs momentum > 0 and dampening = 0, got "
                             f"momentum={group['momentum']}, dampening={group['dampening']}")

    def _update(self, param: Tensor, grad: Any, group: dict[str, Any]) -> None:
        if group["maximize"]:
            grad = -grad
        momentum = float(group["momentum"])
        buf, first_step = None, False
        if momentum != 0:  # plain SGD keeps no state, as in PyTorch
            state = self._state_for(param)
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = param.xp.zeros_like(param.data)
                first_step = True
        _sgd_momentum_update_numpy(param.data, grad, buf, float(group["lr"]), momentum,
                                   float(group["dampening"]), bool(group["nesterov"]),
                                   float(group["weight_decay"]), first_step)
