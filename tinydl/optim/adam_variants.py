"""Adamax, NAdam and RAdam: three variations on Adam (see adam.py), with PyTorch's formulas.

All three keep Adam's first moment m = beta1 * m + (1 - beta1) * g (computed as a lerp
towards g) and differ in how they scale it. For a parameter p with gradient g at step t:

Adamax replaces the second moment by an infinity norm:

    u = max(beta2 * u, |g| + eps)
    p = p - lr / (1 - beta1^t) * m / u

NAdam (Adam with Nesterov momentum) uses a momentum schedule mu_t that warms up,
mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay)), and its running product M_t:

    v = beta2 * v + (1 - beta2) * g * g;   d = sqrt(v / (1 - beta2^t)) + eps
    p = p - lr * (1 - mu_t) / (1 - M_t) * g / d - lr * mu_{t+1} / (1 - M_t * mu_{t+1}) * m / d

RAdam (rectified Adam) takes plain momentum steps until the variance estimate is reliable:

    rho_inf = 2 / (1 - beta2) - 1;   rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
    m_hat = m / (1 - beta1^t)
    rho_t > 5:  r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
                p = p - lr * m_hat * r * sqrt(1 - beta2^t) / (sqrt(v) + eps)
    otherwise:  p = p - lr * m_hat

weight_decay adds weight_decay * p to g first (L2), or, with decoupled_weight_decay=True
(NAdam, RAdam), shrinks p by lr * weight_decay instead (as AdamW does). ``maximize=True``
negates g first. ``foreach``, ``capturable`` and ``differentiable`` are accepted for
compatibility and change nothing.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from tinydl.optim.adam import Adam
from tinydl.optim.optimizer import Optimizer, maximize_and_decay
from tinydl.tensor import Tensor


def _prepared_grad(param: Tensor, grad: Any, group: dict[str, Any]) -> Any:
    """g after maximize and weight decay (L2 on g, or decoupled: p shrinks in place)."""
    if group.get("decoupled_weight_decay", False):
        param.data *= 1 - group["lr"] * group["weight_decay"]
        return -grad if group["maximize"] else grad
    return maximize_and_decay(param, grad, group)


def _moments(optimizer: Optimizer, param: Tensor, second: str) -> dict[str, Any]:
    """The parameter's state, started as {"step": 0, "exp_avg": 0, second: 0} when new."""
    state = optimizer._state_for(param)
    if "step" not in state:
        state["step"] = 0
        state["exp_avg"] = param.xp.zeros_like(param.data)
        state[second] = param.xp.zeros_like(param.data)
    return state


def _lerp_(average: Any, target: Any, weight: float) -> None:
    """average += weight * (target - average), in place."""
    average += weight * (target - average)


class Adamax(Optimizer):
    """Adamax(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, foreach=None, *,
    maximize=False, differentiable=False, capturable=False).

    State per parameter: "step", "exp_avg" and "exp_inf".
    """

    _check_group = Adam._check_group  # lr, eps, weight_decay >= 0; 0 <= betas < 1

    def __init__(self, params: Iterable[Any], lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, param: Tensor, grad: Any, group: dict[str, Any]) -> None:
        state = _moments(self, param, "exp_inf")
        state["step"] += 1
        grad = _prepared_grad(param, grad, group)
        beta1, beta2 = group["betas"]
        xp = param.xp
        _lerp_(state["exp_avg"], grad, 1 - beta1)
        state["exp_inf"] *= beta2
        xp.maximum(state["exp_inf"], xp.abs(grad) + group["eps"], out=state["exp_inf"])
        step_lr = group["lr"] / (1 - beta1 ** state["step"])
        param.data -= step_lr * (state["exp_avg"] / state["exp_inf"])


class NAdam(Optimizer):
    """NAdam(params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    momentum_decay=4e-3, decoupled_weight_decay=False, *, foreach=None, maximize=False,
    capturable=False, differentiable=False).

    State per parameter: "step", "mu_product" (a number), "exp_avg" and "exp_avg_sq".
    """

    def __init__(self, params: Iterable[Any], lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        momentum_decay=momentum_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        Adam._check_group(self, group)
        self._check_range("NAdam", "momentum_decay", group["momentum_decay"], 0.0)

    def _update(self, param: Tensor, grad: Any, group: dict[str, Any]) -> None:
        state = _moments(self, param, "exp_avg_sq")
        state.setdefault("mu_product", 1.0)
        state["step"] += 1
        step = state["step"]
        grad = _prepared_grad(param, grad, group)
        beta1, beta2 = group["betas"]
        lr, decay = group["lr"], group["momentum_decay"]
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (step * decay))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((step + 1) * decay))
        state["mu_product"] *= mu
        mu_product = state["mu_product"]
        _lerp_(state["exp_avg"], grad, 1 - beta1)
        exp_avg_sq = state["exp_avg_sq"]
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * (grad * grad)
        denom = param.xp.sqrt(exp_avg_sq / (1 - beta2 ** step)) + group["eps"]
        param.data -= lr * (1.0 - mu) / (1.0 - mu_product) * (grad / denom)
        param.data -= lr * mu_next / (1.0 - mu_product * mu_next) * (state["exp_avg"] / denom)


class RAdam(Optimizer):
    """RAdam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    decoupled_weight_decay=False, *, foreach=None, maximize=False, capturable=False,
    differentiable=False).

    State per parameter: "step", "exp_avg" and "exp_avg_sq".
    """

    _check_group = Adam._check_group

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _update(self, param: Tensor, grad: Any, group: dict[str, Any]) -> None:
        state = _moments(self, param, "exp_avg_sq")
        state["step"] += 1
        step = state["step"]
        grad = _prepared_grad(param, grad, group)
        beta1, beta2 = group["betas"]
        _lerp_(state["exp_avg"], grad, 1 - beta1)
        exp_avg_sq = state["exp_avg_sq"]
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * (grad * grad)
        correction2 = 1 - beta2 ** step
        corrected_avg = state["exp_avg"] / (1 - beta1 ** step)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * beta2 ** step / correction2
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                             / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            adaptive = math.sqrt(correction2) / (param.xp.sqrt(exp_avg_sq) + group["eps"])
            param.data -= corrected_avg * group["lr"] * adaptive * rect
        else:
            param.data -= corrected_avg * group["lr"]
