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

from typing import Any, Iterable

from tinydl.kernels.optim import adam_update_  # Numba when installed, else NumPy
from tinydl.optim.optimizer import Optimizer
from tinydl.tensor import Tensor


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
        adam_update_(param.data, grad, state["exp_avg"], state["exp_avg_sq"], state["step"],
                     float(group["lr"]), float(beta1), float(beta2), float(group["eps"]),
                     float(group["weight_decay"]), bool(group["decoupled_weight_decay"]),
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
