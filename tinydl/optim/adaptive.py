"""Adagrad and Adadelta: a learning rate per coordinate, from the history of its gradients.

Adagrad, for each parameter p with gradient g, step t (1, 2, ...):

    g = g + weight_decay * p                           (weight_decay > 0)
    sum = sum + g * g                                  every squared gradient so far
    p = p - lr / (1 + (t - 1) * lr_decay) * g / (sqrt(sum) + eps)

Adadelta keeps two running means instead of a sum, so old gradients fade (rho is their decay):

    g = g + weight_decay * p                           (weight_decay > 0)
    square_avg = rho * square_avg + (1 - rho) * g * g
    delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g
    acc_delta = rho * acc_delta + (1 - rho) * delta * delta
    p = p - lr * delta

``maximize=True`` climbs instead: g is negated first. The formulas are PyTorch's (its
single-tensor path); ``foreach``, ``fused``, ``capturable`` and ``differentiable`` are accepted
for compatibility and change nothing (tinydl has one update path per optimizer).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tinydl.optim.optimizer import Optimizer, maximize_and_decay
from tinydl.tensor import Tensor


class Adagrad(Optimizer):
    """Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
    eps=1e-10, foreach=None, *, maximize=False, differentiable=False, fused=None).

    State per parameter: "step" and "sum" (starts at initial_accumulator_value).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None):
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        for key in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            self._check_range("Adagrad", key, group[key], 0.0)

    def _update(self, param: Tensor, grad: Any, group: dict[str, Any]) -> None:
        state = self._state_for(param)
        if "step" not in state:
            state["step"] = 0
            state["sum"] = param.xp.full_like(param.data, group["initial_accumulator_value"])
        state["step"] += 1
        grad = maximize_and_decay(param, grad, group)
        step_lr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] += grad * grad
        param.data -= step_lr * grad / (param.xp.sqrt(state["sum"]) + group["eps"])


class Adadelta(Optimizer):
    """Adadelta(params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
    capturable=False, maximize=False, differentiable=False).

    State per parameter: "step", "square_avg" and "acc_delta".
    """

    def __init__(self, params: Iterable[Any], lr: float = 1.0, rho: float = 0.9,
                 eps: float = 1e-6, weight_decay: float = 0.0, foreach: bool | None = None, *,
                 capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False):
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        for key in ("lr", "eps", "weight_decay"):
            self._check_range("Adadelta", key, group[key], 0.0)
        self._check_range("Adadelta", "rho", group["rho"], 0.0, 1.0, high_inclusive=True)

    def _update(self, param: Tensor, grad: Any, group: dict[str, Any]) -> None:
        xp = param.xp
        state = self._state_for(param)
        if "step" not in state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(param.data)
            state["acc_delta"] = xp.zeros_like(param.data)
        state["step"] += 1
        grad = maximize_and_decay(param, grad, group)
        rho, eps = group["rho"], group["eps"]
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        square_avg *= rho
        square_avg += (1 - rho) * grad * grad
        delta = xp.sqrt(acc_delta + eps) / xp.sqrt(square_avg + eps) * grad
        acc_delta *= rho
        acc_delta += (1 - rho) * delta * delta
        param.data -= group["lr"] * delta
