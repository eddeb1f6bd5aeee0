"""RMSprop (PyTorch's algorithm, with optional momentum and centering).

For each parameter p with gradient g, one step does:

    g = g + weight_decay * p                        (weight_decay > 0)
    s = alpha * s + (1 - alpha) * g * g             running mean of squared gradients
    a = a + (1 - alpha) * (g - a)                   running mean of gradients (centered only)
    d = sqrt(s - a * a) + eps   if centered, else sqrt(s) + eps
    buf = momentum * buf + g / d;  p = p - lr * buf     (momentum > 0)
    p = p - lr * g / d                                  (momentum = 0)

``maximize=True`` climbs instead: g is negated first.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tinydl.backend import get_array_module
from tinydl.optim.optimizer import Optimizer
from tinydl.tensor import Tensor


def _rmsprop_update_numpy(param: Any, grad: Any, square_avg: Any, grad_avg: Any,
                          momentum_buffer: Any, lr: float, alpha: float, eps: float,
                          weight_decay: float, momentum: float) -> None:
    """One RMSprop step on arrays, in place (param, square_avg, grad_avg, momentum_buffer).

    Shapes: all arrays have the parameter's shape. grad_avg is None unless centered;
    momentum_buffer is None unless momentum > 0.
    """
    xp = get_array_module(param)
    scratch = xp.empty_like(param)
    if weight_decay != 0:
        decayed = xp.multiply(param, weight_decay)
        decayed += grad
        grad = decayed
    square_avg *= alpha
    xp.multiply(grad, grad, out=scratch)
    scratch *= 1.0 - alpha
    square_avg += scratch
    if grad_avg is not None:
        xp.subtract(grad, grad_avg, out=scratch)
        scratch *= 1.0 - alpha
        grad_avg += scratch
        xp.multiply(grad_avg, grad_avg, out=scratch)
        xp.subtract(square_avg, scratch, out=scratch)
        xp.sqrt(scratch, out=scratch)
    else:
        xp.sqrt(square_avg, out=scratch)
    scratch += eps  # the denominator d
    xp.divide(grad, scratch, out=scratch)  # g / d
    if momentum_buffer is not None:
        momentum_buffer *= momentum
        momentum_buffer += scratch
        xp.multiply(momentum_buffer, -lr, out=scratch)
    else:
        scratch *= -lr
    param += scratch


class RMSprop(Optimizer):
    """RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
    centered=False, capturable=False, foreach=None, maximize=False, differentiable=False).

    capturable, foreach and differentiable are accepted for compatibility and change nothing.

    State per parameter: "step", "square_avg", and "momentum_buffer" (momentum > 0) and
    "grad_avg" (centered).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False):
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        for key in ("lr", "eps", "weight_decay", "momentum", "alpha"):
            self._check_range("RMSprop", key, group[key], 0.0)

    def _update(self, param: Tensor, grad: Any, group: dict[str, Any]) -> None:
        if group["maximize"]:
            grad = -grad
        state = self._state_for(param)
        xp = param.xp
        if "step" not in state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(param.data)
        if group["momentum"] > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = xp.zeros_like(param.data)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = xp.zeros_like(param.data)
        state["step"] += 1
        _rmsprop_update_numpy(param.data, grad, state["square_avg"],
                              state["grad_avg"] if group["centered"] else None,
                              state["momentum_buffer"] if group["momentum"] > 0 else None,
                              float(group["lr"]), float(group["alpha"]), float(group["eps"]),
                              float(group["weight_decay"]), float(group["momentum"]))
