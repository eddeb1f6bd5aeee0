"""``Normalize``: (x - mean) / sqrt(var + eps) over some axes, LayerNorm's core, as one node.

    forward:   x_hat = (x - mean) * rstd,  rstd = 1 / sqrt(var + eps)   (biased variance)
    backward:  dx = rstd * (g - mean(g) - x_hat * mean(g * x_hat))      (means over the axes)

Forward and backward work on arrays (one graph node instead of seven): the formulas below
(``normalize_forward_reference``, ``normalize_backward_reference``), registered as the
``"numpy"`` kernels, or the Numba versions in tinydl/kernels/normalization.py (two passes per
row, rows spread over the cores) when the axes are the trailing ones. When backward is
recorded (create_graph=True) it recomputes with tinydl ops, so second derivatives work.
``tinydl.functional.layer_norm`` scales and shifts its output.
"""
from __future__ import annotations

from typing import Any

from tinydl.autograd import Context, Function, is_grad_enabled
from tinydl.backend import backend_of, get_array_module
from tinydl.kernels import registry
from tinydl.tensor import Tensor


def normalize_forward_reference(x: Any, axes: tuple = (-1,), eps: float = 1e-5) -> tuple:
    """(x_hat, rstd): x normalised over ``axes`` and the reciprocal std (axes kept, size 1)."""
    xp = get_array_module(x)
    centered = x - x.mean(axis=axes, keepdims=True)
    variance = (centered * centered).mean(axis=axes, keepdims=True)
    rstd = (1.0 / xp.sqrt(variance + eps)).astype(x.dtype, copy=False)
    return centered * rstd, rstd


def _normalize_backward(x_hat, rstd, grad, axes):
    """d(loss)/dx of x_hat = (x - mean) * rstd, given d(loss)/d(x_hat) = grad.

    dx = rstd * (grad - mean(grad) - x_hat * mean(grad * x_hat)), means over ``axes``.
    Only * - and mean, so it runs on arrays and on Tensors alike.
    """
    mean_grad = grad.mean(axis=axes, keepdims=True)
    mean_grad_x_hat = (grad * x_hat).mean(axis=axes, keepdims=True)
    return rstd * (grad - mean_grad - x_hat * mean_grad_x_hat)


def normalize_backward_reference(x_hat: Any, rstd: Any, grad: Any, axes: tuple = (-1,)) -> Any:
    """``_normalize_backward`` on arrays, in the dtype of x_hat."""
    return _normalize_backward(x_hat, rstd, grad, axes).astype(x_hat.dtype, copy=False)


registry.register("normalize_forward", "numpy", normalize_forward_reference)
registry.register("normalize_backward", "numpy", normalize_backward_reference)


def _kernel(op_name: str, x: Any, axes: tuple):
    """The registry's kernel for the device; the reference unless ``axes`` are x's last ones
    (and x is float32 or float64), the case the Numba kernels handle."""
    normalized = sorted(axis % x.ndim for axis in axes)
    if (normalized != list(range(x.ndim - len(normalized), x.ndim)) or x.size == 0
            or x.dtype.kind != "f" or x.dtype.itemsize not in (4, 8)):
        return {"normalize_forward": normalize_forward_reference,
                "normalize_backward": normalize_backward_reference}[op_name]
    return registry.get(op_name, backend_of(x).device_type)


class Normalize(Function):
    """(x - mean) / sqrt(var + eps) over ``axes`` (biased variance): LayerNorm's core.

    Forward and backward are kernels on arrays (one graph node instead of seven); when
    backward is recorded (create_graph=True) it recomputes with tinydl ops, so second
    derivatives work.
    """

    @staticmethod
    def forward(ctx: Context, x: Any, axes: tuple = (-1,), eps: float = 1e-5) -> Any:
        x_hat, rstd = _kernel("normalize_forward", x, axes)(x, axes, eps)
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
        dx = _kernel("normalize_backward", x_hat, axes)(x_hat, rstd, grad.data, axes)
        return Tensor(dx.astype(grad.dtype, copy=False), dtype=grad.dtype)
