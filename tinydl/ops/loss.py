"""The two loss primitives, for which no composition of other ops is both stable and exact.

* ``Softplus``: log(1 + e^z) written as max(z, 0) + log1p(e^-|z|), finite for z = ±1e4, with the
  gradient sigmoid(z) (a composition with abs/max would get the gradient wrong at z = 0).
* ``BinaryCrossEntropy``: PyTorch's elementwise BCE on probabilities, with its logs clamped at
  -100 so that a probability of exactly 0 or 1 gives a finite loss.

The losses that use them (``F.binary_cross_entropy``, ``F.binary_cross_entropy_with_logits``)
are compositions in ``tinydl.functional.loss``.
"""
from __future__ import annotations

from typing import Any

from tinydl.autograd import Context, Function
from tinydl.backend import get_array_module
from tinydl.ops.elementwise import clip, log, where
from tinydl.ops.nn import sigmoid
from tinydl.tensor import Tensor

_LOG_FLOOR = -100.0  # PyTorch clamps BCE's logs here, so log(0) costs 100, not infinity


class Softplus(Function):
    """log(1 + e^z), computed as max(z, 0) + log1p(e^-|z|) so it never overflows"""

    @staticmethod
    def forward(ctx: Context, z: Any) -> Any:
        xp = get_array_module(z)
        return xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        return grad * sigmoid(ctx.inputs[0])


def _clamped_log_array(xp: Any, values: Any, use_log1p_of_minus: bool = False) -> Any:
    """max(log(v), -100) (or max(log1p(-v), -100)) on arrays, without log(0) warnings."""
    if use_log1p_of_minus:
        inside = values < 1
        safe = xp.where(inside, values, 0)
        logs = xp.log1p(-safe)
    else:
        inside = values > 0
        safe = xp.where(inside, values, 1)
        logs = xp.log(safe)
    return xp.where(inside, xp.maximum(logs, _LOG_FLOOR), _LOG_FLOOR).astype(values.dtype,
                                                                             copy=False)


def _clamped_log(values: Tensor) -> Tensor:
    """max(log(v), -100) on a Tensor (differentiable where v > 0)."""
    positive = values.data > 0
    safe = where(positive, values, 1.0)
    return where(positive, clip(log(safe), min=_LOG_FLOOR), _LOG_FLOOR)


class BinaryCrossEntropy(Function):
    """-(t·log(p) + (1-t)·log(1-p)) elementwise, logs clamped at -100 (as PyTorch)"""

    @staticmethod
    def forward(ctx: Context, p: Any, t: Any) -> Any:
        xp = get_array_module(p)
        log_p = _clamped_log_array(xp, p)
        log_1mp = _clamped_log_array(xp, p, use_log1p_of_minus=True)
        return (t - 1) * log_1mp - t * log_p

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> tuple:
        p, t = ctx.inputs
        grad_p = grad_t = None
        if ctx.needs_input_grad[0]:
            # d/dp = (p - t) / (p (1 - p)); PyTorch bounds the denominator below by 1e-12
            denominator = (p * (1.0 - p)).maximum(1e-12)
            grad_p = grad * (p - t) / denominator
        if ctx.needs_input_grad[1]:
            grad_t = grad * (_clamped_log(1.0 - p) - _clamped_log(p))
        return grad_p, grad_t
