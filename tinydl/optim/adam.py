"""Adam and AdamW (PyTorch's algorithms, including AMSGrad).

For each parameter p with gradient g, step t (1, 2, ...) does:

    g = g + weight_decay * p                 Adam's L2 penalty (weight_decay > 0)
    p = p * (1 - lr * weight_decay)          AdamW's decoupled decay, instead of the line above
    m = beta1 * m + (1 - beta1) * g          first moment (computed as m + (1-beta1)(g - m))
    v = beta2 * v + (1 - beta2) * g * g      second moment
    v_max = max(v_max, v)                    with amsgrad; v_max is used below instead of v
    p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

``maximize=True`` climbs instead: g is negated first.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

from tinydl.backend import get_array_module
from tinydl.optim.optimizer import Optimizer
from tinydl.tensor import Tensor


def _adam_update_numpy(param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, step: int,
                       lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
                       decoupled: bool, amsgrad_max: Any = None) -> None:
    """One Adam/AdamW step on arrays, in place: param, exp_avg, exp_avg_sq (and amsgrad_max).

    Shapes: every array has the parameter's shape. step: this step's number, counting from 1.
    decoupled: AdamW's weight decay (shrink p) instead of Adam's (add weight_decay * p to g).
    amsgrad_max: the running maximum of exp_avg_sq for AMSGrad, or None.
    """
    xp = get_array_module(param)
    scratch = xp.empty_like(param)
    if weight_decay != 0:
        if decoupled:
            param *= 1.0 - lr * weight_decay
        else:
            decayed = xp.multiply(param, weight_decay)
            decayed += grad  # g + weight_decay * p
            grad = decayed
    # m += (1 - beta1) * (g - m)
    xp.subtract(grad, exp_avg, out=scratch)
    scratch *= 1.0 - beta1
    exp_avg += scratch
    # v = beta2 * v + (1 - beta2) * g * g
    exp_avg_sq *= beta2
    xp.multiply(grad, grad, out=scratch)
    scratch *= 1.0 - beta2
    exp_avg_sq += scratch
    second_moment = exp_avg_sq
    if amsgrad_max is not None:
        xp.maximum(amsgrad_max, exp_avg_sq, out=amsgrad_max)
        second_moment = amsgrad_max
    step_size = lr / (1.0 - beta1 ** step)
    # denominator: sqrt(v) / sqrt(1 - beta2^t) + eps
    xp.sqrt(second_moment, out=scratch)
    scratch /= math.sqrt(1.0 - beta2 ** step)
    scratch += eps
    # p -= step_size * m / denominator
    xp.divide(exp_avg, scratch, out=scratch)
    scratch *= -step_size
    param += scratch


class Adam(Optimizer):
    """Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
    maximize=False, decoupled_weight_decay=False).

    See the module docstring for the update. State per parameter: "step" (an int),
    "exp_avg", "exp_avg_sq" and, with amsgrad, "max_exp_avg_sq".
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        amsgrad=amsgrad, maximize=maximize,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        name = type(self).__name__
        self._check_range(name, "lr", group["lr"], 0.0)
        self._check_range(name, "eps", group["eps"], 0.0)
        self._check_range(name, "weight_decay", group["weight_decay"], 0.0)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"{name}: betas must be a pair (beta1, beta2), got {betas!r}")
        group["betas"] = tuple(betas)
        self._check_range(name, "betas[0]", betas[0], 0.0, 1.0)
        self._check_range(name, "betas[1]", betas[1], 0.0, 1.0)

    def _update(self, param: Tensor, grad: Any, group: dict[str, Any]) -> None:
        if group["maximize"]:
            grad = -grad
        state = self._state_for(param)
        if "step" not in state:
            xp = param.xp
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(param.data)
            state["exp_avg_sq"] = xp.zeros_like(param.data)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(param.data)
        elif group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = param.xp.zeros_like(param.data)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        _adam_update_numpy(param.data, grad, state["exp_avg"], state["exp_avg_sq"],
                           state["step"], float(group["lr"]), float(beta1), float(beta2),
                           float(group["eps"]), float(group["weight_decay"]),
                           bool(group["decoupled_weight_decay"]),
                           state["max_exp_avg_sq"] if group["amsgrad"] else None)


class AdamW(Adam):
    """AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
    maximize=False): Adam with decoupled weight decay (p shrinks by lr * weight_decay).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=True)
