"""ASGD: SGD that also keeps a running average of the parameters (Polyak-Ruppert averaging).

For each parameter p with gradient g at step t (1, 2, ...), with eta_1 = lr and mu_1 = 1:

    g = g + weight_decay * p                      (weight_decay > 0)
    p = p * (1 - lambd * eta_t) - eta_t * g       a decaying SGD step
    ax = ax + mu_t * (p - ax)                     the average (ax = p while mu_t = 1)
    eta_{t+1} = lr / (1 + lambd * lr * t)^alpha
    mu_{t+1} = 1 / max(1, t - t0)                 averaging starts after t0 steps

The averaged parameters are ``optimizer.state[p]["ax"]``; evaluate with them by copying them
into the model. ``maximize=True`` negates g first. The formulas are PyTorch's; ``foreach``,
``capturable`` and ``differentiable`` are accepted for compatibility and change nothing.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tinydl.optim.optimizer import Optimizer, maximize_and_decay
from tinydl.tensor import Tensor


class ASGD(Optimizer):
    """ASGD(params, lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None,
    maximize=False, differentiable=False, capturable=False).

    State per parameter: "step", "eta" and "mu" (numbers) and "ax" (the averaged parameter).
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, lambd: float = 1e-4,
                 alpha: float = 0.75, t0: float = 1e6, weight_decay: float = 0.0,
                 foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False):
        defaults = dict(lr=lr, lambd=lambd, alpha=alpha, t0=t0, weight_decay=weight_decay,
                        maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        self._check_range("ASGD", "lr", group["lr"], 0.0)
        self._check_range("ASGD", "weight_decay", group["weight_decay"], 0.0)

    def _update(self, param: Tensor, grad: Any, group: dict[str, Any]) -> None:
        state = self._state_for(param)
        if "step" not in state:
            state.update(step=0, eta=float(group["lr"]), mu=1.0,
                         ax=param.xp.zeros_like(param.data))
        state["step"] += 1
        grad = maximize_and_decay(param, grad, group)
        eta, lambd = state["eta"], group["lambd"]
        param.data *= 1 - lambd * eta
        param.data -= eta * grad
        if state["mu"] != 1:
            state["ax"] += state["mu"] * (param.data - state["ax"])
        else:
            state["ax"][...] = param.data
        step, lr = state["step"], group["lr"]
        state["eta"] = lr / (1 + lambd * lr * step) ** group["alpha"]
        state["mu"] = 1 / max(1, step - group["t0"])
