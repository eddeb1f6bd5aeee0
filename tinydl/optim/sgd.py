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

from collections.abc import Iterable
from typing import Any

from tinydl.backend import device_of, get_array_module
from tinydl.kernels import registry
from tinydl.optim.checks import check_sgd_hyper, check_state, contiguous, fusable
from tinydl.optim.optimizer import Optimizer
from tinydl.tensor import Tensor


def sgd_momentum_update_reference(param: Any, grad: Any, buf: Any, lr: float, momentum: float,
                                  dampening: float, nesterov: bool, weight_decay: float,
                                  first_step: bool) -> Any:
    """One SGD step on arrays (optional momentum, dampening, Nesterov, weight decay), in place.

    param, grad, buf: arrays of one shape and dtype; buf is the momentum buffer (None when
    momentum = 0). On the first step (first_step=True) buf is overwritten with the gradient,
    as PyTorch creates the buffer then; afterwards it is updated in place. Returns param.
    The readable reference, registered as the "numpy" kernel of "sgd_momentum_update_";
    tinydl/kernels/optim.py has the Numba loop.
    """
    xp = get_array_module(param)  # NumPy here; CuPy (or a test stand-in) elsewhere
    g = grad
    if weight_decay != 0:
        g = grad + weight_decay * param
    direction = g
    ### BEGIN SOLUTION task 3.3
    # HINT: buf = momentum*buf + (1-dampening)*g (buf = g on the first step); nesterov: g + momentum*buf
    if momentum != 0:
        if first_step:
            xp.copyto(buf, g)
        else:
            buf *= momentum
            buf += (1 - dampening) * g
        direction = g + momentum * buf if nesterov else buf
    param -= lr * direction
    ### END SOLUTION
    return param


registry.register("sgd_momentum_update_", "numpy", sgd_momentum_update_reference)


def sgd_momentum_update_(param: Any, grad: Any, buf: Any, lr: float, momentum: float,
                         dampening: float, nesterov: bool, weight_decay: float,
                         first_step: bool) -> Any:
    """One SGD step in place with the kernel the registry picks for param's device (Numba on
    the CPU when installed, else ``sgd_momentum_update_reference``), after checking inputs."""
    grad = contiguous(grad)  # the kernels walk flat memory; a transposed view is copied
    op = "sgd_momentum_update_"
    check_sgd_hyper(op, buf, lr, momentum, dampening, nesterov, weight_decay)
    check_state(op, param, [("grad", grad)] + ([("buf", buf)] if momentum != 0 else []))
    update = registry.get(op, device_of(param).type)
    return update(param, grad, buf, lr, momentum, dampening, nesterov,
                  weight_decay, first_step)


def sgd_multi_update_reference(params: list, grads: list, bufs: list, first_steps: list, lr: float,
                               momentum: float, dampening: float, nesterov: bool,
                               weight_decay: float) -> list:
    """``sgd_momentum_update_reference`` on each tensor in turn: the reference of the update of
    a whole parameter group in one call.

    params, grads, bufs: lists of arrays (the i-th of each belong together; bufs holds None
    entries when momentum = 0); first_steps: whether each tensor's buffer starts this step. The
    Numba version (tinydl/kernels/optim.py) updates them all in one call, its work spread over
    the cores.
    """
    for param, grad, buf, first_step in zip(params, grads, bufs, first_steps):
        sgd_momentum_update_reference(param, grad, buf, lr, momentum, dampening, nesterov,
                                      weight_decay, first_step)
    return params


registry.register("sgd_multi_update_", "numpy", sgd_multi_update_reference)


class SGD(Optimizer):
    """SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
    maximize=False, foreach=None, differentiable=False, fused=None).

    params: model.parameters() or a list of parameter groups (dicts). See the module docstring
    for the update rule. State per parameter: "momentum_buffer" (only with momentum).
    foreach, differentiable and fused are accepted for compatibility and change nothing.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 maximize: bool = False, *, foreach: bool | None = None,
                 differentiable: bool = False, fused: bool | None = None):
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

    def _update_group(self, group: dict[str, Any], pairs: list) -> None:
        """All of the group's parameters in one call (sgd_multi_update_) when they are NumPy
        arrays of one float dtype; else one at a time."""
        if not fusable(pairs):
            super()._update_group(group, pairs)
            return
        op = "sgd_multi_update_"
        lr, momentum, dampening, nesterov, weight_decay = self._hyper(group)
        params, grads, bufs, first_steps = [], [], [], []
        maximize = group["maximize"]
        for param, grad in pairs:
            grad = contiguous(-grad if maximize else grad)
            buf, first_step = self._buffer(param, momentum)
            check_state(op, param.data, [("grad", grad)] + ([("buf", buf)] if momentum != 0 else []))
            params.append(param.data)
            grads.append(grad)
            bufs.append(buf)
            first_steps.append(first_step)
        check_sgd_hyper(op, bufs[0], lr, momentum, dampening, nesterov, weight_decay)
        registry.get(op, "cpu")(params, grads, bufs, first_steps, lr, momentum, dampening, nesterov,
                                weight_decay)

    def _update(self, param: Tensor, grad: Any, group: dict[str, Any]) -> None:
        if group["maximize"]:
            grad = -grad
        lr, momentum, dampening, nesterov, weight_decay = self._hyper(group)
        buf, first_step = self._buffer(param, momentum)
        sgd_momentum_update_(param.data, grad, buf, lr, momentum, dampening, nesterov,
                             weight_decay, first_step)

    @staticmethod
    def _hyper(group: dict[str, Any]) -> tuple:
        """(lr, momentum, dampening, nesterov, weight_decay) of a group, as floats and a bool."""
        return (float(group["lr"]), float(group["momentum"]), float(group["dampening"]),
                bool(group["nesterov"]), float(group["weight_decay"]))

    def _buffer(self, param: Tensor, momentum: float) -> tuple:
        """(momentum buffer, first_step): (None, False) without momentum (plain SGD keeps no
        state, as in PyTorch); a zero buffer and True on the parameter's first step."""
        if momentum == 0:
            return None, False
        state = self._state_for(param)
        buf = state.get("momentum_buffer")
        if buf is not None:
            return buf, False
        state["momentum_buffer"] = param.xp.zeros_like(param.data)
        return state["momentum_buffer"], True
