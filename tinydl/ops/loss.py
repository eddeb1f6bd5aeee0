"""The loss primitives: two for which no composition of other ops is both stable and exact,
and the fused softmax cross-entropy.

* ``Softplus``: log(1 + e^z) written as max(z, 0) + log1p(e^-|z|), finite for z = ±1e4, with the
  gradient sigmoid(z) (a composition with abs/max would get the gradient wrong at z = 0).
* ``BinaryCrossEntropy``: PyTorch's elementwise BCE on probabilities, with its logs clamped at
  -100 so that a probability of exactly 0 or 1 gives a finite loss.

* ``SoftmaxCrossEntropy``: cross-entropy of logits (N, C) and valid integer labels as one node
  (``F.cross_entropy``'s common case), with backward (softmax - onehot) / N on arrays.

The losses that use them (``F.binary_cross_entropy``, ``F.binary_cross_entropy_with_logits``)
are compositions in ``tinydl.functional.loss``.
"""
from __future__ import annotations

from typing import Any

from tinydl.autograd import Context, Function, is_grad_enabled
from tinydl.backend import get_array_module
from tinydl.ops.elementwise import clip, log, where
from tinydl.ops.nn import sigmoid, softmax
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


### BEGIN FASTER task 3.2
class SoftmaxCrossEntropy(Function):
    """-log softmax(logits)[n, labels[n]], summed or averaged over n: one node for the common
    cross-entropy (logits (N, C), integer labels (N,) all in [0, C), no class weights, no
    label smoothing) -> a scalar.

    params: labels (the (N,) integer array), reduction ("mean" or "sum").
    Forward keeps the probabilities softmax(logits) (N, C); backward is
    grad * (probabilities - onehot(labels)) / N (without the / N for "sum"), on arrays, or in
    tinydl ops when backward is recorded (create_graph=True).
    """

    @staticmethod
    def forward(ctx: Context, logits: Any, labels: Any = None, reduction: str = "mean") -> Any:
        xp = get_array_module(logits)
        rows = xp.arange(logits.shape[0])
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = xp.exp(shifted)
        row_sum = exp.sum(axis=1)
        total = (xp.log(row_sum) - shifted[rows, labels]).sum()
        exp /= row_sum[:, None]
        ctx.save_for_backward(exp)
        count = logits.shape[0] if reduction == "mean" else 1
        return xp.asarray(total / count, dtype=logits.dtype)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> tuple:
        logits = ctx.inputs[0]
        labels, reduction = ctx.params["labels"], ctx.params["reduction"]
        count = logits.shape[0] if reduction == "mean" else 1
        xp = logits.xp
        rows = xp.arange(logits.shape[0])
        if is_grad_enabled():  # recorded: the same formula in tinydl ops
            onehot = xp.zeros(logits.shape, dtype=logits.dtype)
            onehot[rows, labels] = 1
            return (softmax(logits, axis=1) - onehot) * (grad / count)
        (probabilities,) = ctx.saved_values
        dlogits = probabilities.copy()
        dlogits[rows, labels] -= 1
        dlogits *= grad.data / count
        return Tensor._from_op(dlogits, None, 0)  # (in place on a copy: logits' dtype)
### END FASTER
