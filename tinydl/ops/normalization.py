"""``Normalize``: (x - mean) / sqrt(var + eps) over some axes, LayerNorm's core, as one node.

Forward and backward work on arrays (one graph node instead of seven); when backward is
recorded (create_graph=True) it recomputes with tinydl ops, so second derivatives work.
``tinydl.functional.layer_norm`` scales and shifts its output.
"""
from __future__ import annotations

from typing import Any

from tinydl.autograd import Context, Function, is_grad_enabled
from tinydl.backend import get_array_module
from tinydl.tensor import Tensor


def _normalize_backward(x_hat, rstd, grad, axes):
    """d(loss)/dx of x_hat = (x - mean) * rstd, given d(loss)/d(x_hat) = grad.

    dx = rstd * (grad - mean(grad) - x_hat * mean(grad * x_hat)), means over ``axes``.
    Only * - and mean, so it runs on arrays and on Tensors alike.
    """
    mean_grad = grad.mean(axis=axes, keepdims=True)
    mean_grad_x_hat = (grad * x_hat).mean(axis=axes, keepdims=True)
    return rstd * (grad - mean_grad - x_hat * mean_grad_x_hat)


class Normalize(Function):
    """(x - mean) / sqrt(var + eps) over ``axes`` (biased variance): LayerNorm's core.

    Forward and backward work on arrays (one graph node instead of seven); when backward is
    recorded (create_graph=True) it recomputes with tinydl ops, so second derivatives work.
    """

    @staticmethod
    def forward(ctx: Context, x: Any, axes: tuple = (-1,), eps: float = 1e-5) -> Any:
        xp = get_array_module(x)
        centered = x - x.mean(axis=axes, keepdims=True)
        variance = (centered * centered).mean(axis=axes, keepdims=True)
        rstd = (1.0 / xp.sqrt(variance + eps)).astype(x.dtype, copy=False)
        x_hat = centered * rstd
        ctx.save_for_backward(x_hat, rstd)  # x_hat is also the output: no extra memory
        return x_hat

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        axes, eps = ctx.params["axes"], ctx.params["eps"]
        if is_grad_enabled():  # backward is being recorded: the same formula in tinydl ops
            x = ctx.inputs[0]
            centered = x - x.mean(axis=axes, keepdims=True)
            rstd = 1.0 / ((centered * centered).mean(axis=axes, keepdims=True) + eps).sqrt()
            return _normalize_backward(centered * rstd, rstd, grad, axes)
        x_hat, rstd = ctx.saved_values
        dx = _normalize_backward(x_hat, rstd, grad.data, axes)
        return Tensor(dx.astype(grad.dtype, copy=False), dtype=grad.dtype)
