"""Rprop: resilient backpropagation, which uses only the SIGN of each gradient entry.

Each entry of a parameter has its own step size (starting at lr). At every step:

    s = sign(g * g_prev)              did the gradient keep its sign?
    step_size *= etaplus  where s > 0 (same sign: speed up)
    step_size *= etaminus where s < 0 (sign flipped: we jumped over a minimum, slow down)
    step_size = clip(step_size, step_size_min, step_size_max)
    g = 0 where s < 0                 (and that entry does not move this step)
    p = p - sign(g) * step_size;  g_prev = g

Rprop is meant for full-batch training (noisy minibatch gradients flip signs at random).
``maximize=True`` negates g first. The formulas are PyTorch's; ``foreach``, ``capturable``
and ``differentiable`` are accepted for compatibility and change nothing.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tinydl.optim.optimizer import Optimizer
from tinydl.tensor import Tensor


class Rprop(Optimizer):
    """Rprop(params, lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, capturable=False,
    foreach=None, maximize=False, differentiable=False).

    State per parameter: "step", "prev" (the previous gradient) and "step_size".
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2,
                 etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False):
        defaults = dict(lr=lr, etas=tuple(etas), step_sizes=tuple(step_sizes),
                        maximize=maximize)
        super().__init__(params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        self._check_range("Rprop", "lr", group["lr"], 0.0)
        etaminus, etaplus = group["etas"]
        if not 0.0 < etaminus < 1.0 < etaplus:
            raise ValueError(f"Rprop: etas must satisfy 0 < etaminus < 1 < etaplus, got "
                             f"{group['etas']!r}")

    def _update(self, param: Tensor, grad: Any, group: dict[str, Any]) -> None:
        xp = param.xp
        state = self._state_for(param)
        if "step" not in state:
            state.update(step=0, prev=xp.zeros_like(param.data),
                         step_size=xp.full_like(param.data, group["lr"]))
        state["step"] += 1
        if group["maximize"]:
            grad = -grad
        etaminus, etaplus = group["etas"]
        low, high = group["step_sizes"]
        agreement = grad * state["prev"]
        factor = xp.where(agreement > 0, etaplus, xp.where(agreement < 0, etaminus, 1.0))
        step_size = state["step_size"]
        step_size *= factor.astype(step_size.dtype, copy=False)
        xp.clip(step_size, low, high, out=step_size)
        grad = xp.where(agreement < 0, 0, grad).astype(param.dtype, copy=False)
        param.data -= xp.sign(grad) * step_size
        state["prev"][...] = grad
