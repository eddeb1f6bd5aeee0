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
from collections.abc import Iterable
from typing import Any

from tinydl.backend import device_of, get_array_module
from tinydl.kernels import registry
from tinydl.optim.checks import check_adam_hyper, check_state, contiguous, fusable
from tinydl.optim.optimizer import Optimizer
from tinydl.tensor import Tensor


def adam_update_reference(param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, step: int,
                          lr: float, beta1: float, beta2: float, eps: float,
                          weight_decay: float, decoupled: bool, amsgrad_max: Any = None) -> Any:
    """One Adam (decoupled=False) or AdamW (decoupled=True) step on arrays, the formula above.

    param, grad, exp_avg, exp_avg_sq (and amsgrad_max for AMSGrad): arrays of one shape and
    dtype; param, exp_avg, exp_avg_sq and amsgrad_max are updated in place. step: the 1-based
    step number this update makes. Returns param. The readable reference, registered as the
    "numpy" kernel of "adam_update_"; tinydl/kernels/optim.py has the Numba loop.
    """
    xp = get_array_module(param)  # NumPy here; CuPy (or a test stand-in) elsewhere
    if weight_decay != 0 and decoupled:
        param *= 1 - lr * weight_decay
    g = grad
    if weight_decay != 0 and not decoupled:
        g = grad + weight_decay * param
    ### BEGIN SOLUTION task 3.4
    # HINT: m, v moving averages of g and g*g; p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
    exp_avg += (1 - beta1) * (g - exp_avg)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * (g * g)
    second_moment = exp_avg_sq
    if amsgrad_max is not None:  # AMSGrad divides by the largest v seen so far
        xp.maximum(amsgrad_max, exp_avg_sq, out=amsgrad_max)
        second_moment = amsgrad_max
    step_size = lr / (1 - beta1 ** step)
    denominator = xp.sqrt(second_moment) / math.sqrt(1 - beta2 ** step) + eps
    param -= step_size * (exp_avg / denominator)
    ### END SOLUTION
    return param


registry.register("adam_update_", "numpy", adam_update_reference)


def adam_update_(param: Any, grad: Any, exp_avg: Any, exp_avg_sq: Any, step: int, lr: float,
                 beta1: float, beta2: float, eps: float, weight_decay: float, decoupled: bool,
                 amsgrad_max: Any = None) -> Any:
    """One Adam/AdamW step in place with the kernel the registry picks for param's device
    (Numba on the CPU when installed, else ``adam_update_reference``), after checking the
    arrays and hyperparameters."""
    grad = contiguous(grad)  # the kernels walk flat memory; a transposed view is copied
    op = "adam_update_"
    state = [("grad", grad), ("exp_avg", exp_avg), ("exp_avg_sq", exp_avg_sq)]
    if amsgrad_max is not None:
        state.append(("amsgrad_max", amsgrad_max))
    check_state(op, param, state)
    check_adam_hyper(op, step, lr, beta1, beta2, eps, weight_decay)
    update = registry.get(op, device_of(param).type)
    return update(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps,
                  weight_decay, decoupled, amsgrad_max)


def adam_multi_update_reference(params: list, grads: list, exp_avgs: list, exp_avg_sqs: list,
                                steps: list, lr: float, beta1: float, beta2: float, eps: float,
                                weight_decay: float, decoupled: bool) -> list:
    """``adam_update_reference`` on each tensor in turn: the reference of the fused update.

    params, grads, exp_avgs, exp_avg_sqs: lists of arrays (the i-th of each belong together);
    steps: each tensor's step number. The Numba version (tinydl/kernels/optim.py) updates them
    all in one call, its work spread over the cores.
    """
    for param, grad, exp_avg, exp_avg_sq, step in zip(params, grads, exp_avgs, exp_avg_sqs,
                                                       steps):
        adam_update_reference(param, grad, exp_avg, exp_avg_sq, step, lr, beta1, beta2, eps,
                              weight_decay, decoupled)
    return params


registry.register("adam_multi_update_", "numpy", adam_multi_update_reference)


class Adam(Optimizer):
    """Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
    foreach=None, maximize=False, capturable=False, differentiable=False, fused=None,
    decoupled_weight_decay=False).

    See the module docstring for the update. State per parameter: "step" (an int),
    "exp_avg", "exp_avg_sq" and, with amsgrad, "max_exp_avg_sq". foreach, capturable,
    differentiable and fused are accepted for compatibility and change nothing.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
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

    def _update_group(self, group: dict[str, Any], pairs: list) -> None:
        """All of the group's parameters in one fused call (adam_multi_update_) when they are
        NumPy arrays of one float dtype and AMSGrad is off; else one at a time."""
        if group["amsgrad"] or not fusable(pairs):
            super()._update_group(group, pairs)
            return
        op = "adam_multi_update_"
        params, grads, exp_avgs, exp_avg_sqs, steps = [], [], [], [], []
        maximize = group["maximize"]
        for param, grad in pairs:
            grad = contiguous(-grad if maximize else grad)
            state = self._state(param, group)
            state["step"] += 1
            exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
            check_state(op, param.data, (("grad", grad), ("exp_avg", exp_avg),
                                         ("exp_avg_sq", exp_avg_sq)))
            params.append(param.data)
            grads.append(grad)
            exp_avgs.append(exp_avg)
            exp_avg_sqs.append(exp_avg_sq)
            steps.append(state["step"])
        beta1, beta2 = float(group["betas"][0]), float(group["betas"][1])
        lr, eps, weight_decay = float(group["lr"]), float(group["eps"]), float(group["weight_decay"])
        for step in set(steps):
            check_adam_hyper(op, step, lr, beta1, beta2, eps, weight_decay)
        registry.get(op, "cpu")(params, grads, exp_avgs, exp_avg_sqs, steps, lr, beta1, beta2, eps,
                                weight_decay, bool(group["decoupled_weight_decay"]))

    def _state(self, param: Tensor, group: dict[str, Any]) -> dict[str, Any]:
        """The parameter's state, created on its first step (and max_exp_avg_sq for AMSGrad)."""
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
        return state

    def _update(self, param: Tensor, grad: Any, group: dict[str, Any]) -> None:
        if group["maximize"]:
            grad = -grad
        state = self._state(param, group)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        adam_update_(param.data, grad, state["exp_avg"], state["exp_avg_sq"], state["step"],
                     float(group["lr"]), float(beta1), float(beta2), float(group["eps"]),
                     float(group["weight_decay"]), bool(group["decoupled_weight_decay"]),
                     state["max_exp_avg_sq"] if group["amsgrad"] else None)


class AdamW(Adam):
    """AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
    maximize=False, foreach=None, capturable=False, differentiable=False, fused=None): Adam
    with decoupled weight decay (p shrinks by lr * weight_decay).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize, decoupled_weight_decay=True)
