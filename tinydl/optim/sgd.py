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

from tinydl.kernels.optim import sgd_momentum_update_  # Numba when installed, else NumPy
from tinydl.optim.optimizer import Optimizer, required
from tinydl.tensor import Tensor


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
        sgd_momentum_update_(param.data, grad, buf, float(group["lr"]), momentum,
                             float(group["dampening"]), bool(group["nesterov"]),
                             float(group["weight_decay"]), first_step)
