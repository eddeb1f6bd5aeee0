"""``Normalize``: (x - mean) / sqrt(var + eps) over some axes, LayerNorm's core, as one node.

    forward:   x_hat = (x - mean) * rstd,  rstd = 1 / sqrt(var + eps)   (biased variance)
    backward:  dx = rstd * (g - mean(g) - x_hat * mean(g * x_hat))      (means over the axes)

Forward and backward work on arrays (one graph node instead of seven): the formulas below
(``normalize_forward_reference``, ``normalize_backward_reference``), registered as the
``"numpy"`` kernels, or the Numba versions in tinydl/kernels/normalization.py (two passes per
row, rows spread over the cores) when the axes are the trailing ones. When backward is
recorded (create_graph=True) it recomputes with tinydl ops, so second derivatives work.
``AffineNormalize`` is the same node with LayerNorm's scale and shift folded in:

    forward:   y = x_hat * weight + bias
    backward:  dx = normalize's dx of (g * weight),  dweight = sum(g * x_hat),  dbias = sum(g)
               (the sums run over every axis but the normalised ones)

``tinydl.functional.layer_norm`` uses it when it has a weight and a bias of x's dtype, and
``Normalize`` followed by ``*`` and ``+`` otherwise.
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


def affine_normalize_forward_reference(x: Any, weight: Any, bias: Any, axes: tuple = (-1,),
                                       eps: float = 1e-5) -> tuple:
    """(y, x_hat, rstd): y = x_hat * weight + bias, with x_hat and rstd as in
    ``normalize_forward_reference``. weight and bias have the shape of x's normalised axes."""
    x_hat, rstd = normalize_forward_reference(x, axes, eps)
    return x_hat * weight + bias, x_hat, rstd


def affine_normalize_backward_reference(x_hat: Any, rstd: Any, weight: Any, grad: Any,
                                        axes: tuple = (-1,)) -> tuple:
    """(dx like x_hat, dweight, dbias like weight) of y = x_hat * weight + bias, given dy = grad."""
    other_axes = tuple(sorted(set(range(x_hat.ndim)) - {axis % x_hat.ndim for axis in axes}))
    dx = normalize_backward_reference(x_hat, rstd, grad * weight, axes)
    dweight = (grad * x_hat).sum(axis=other_axes).astype(x_hat.dtype, copy=False)
    return dx, dweight, grad.sum(axis=other_axes).astype(x_hat.dtype, copy=False)


registry.register("normalize_forward", "numpy", normalize_forward_reference)
registry.register("normalize_backward", "numpy", normalize_backward_reference)
registry.register("affine_normalize_forward", "numpy", affine_normalize_forward_reference)
registry.register("affine_normalize_backward", "numpy", affine_normalize_backward_reference)


def _kernel(op_name: str, x: Any, axes: tuple):
    """The registry's kernel for the device; the reference unless ``axes`` are x's last ones
    (and x is float32 or float64), the case the Numba kernels handle."""
    normalized = sorted(axis % x.ndim for axis in axes)
    if (normalized != list(range(x.ndim - len(normalized), x.ndim)) or x.size == 0
            or x.dtype.kind != "f" or x.dtype.itemsize not in (4, 8)):
        return {"normalize_forward": normalize_forward_reference,
                "normalize_backward": normalize_backward_reference,
                "affine_normalize_forward": affine_normalize_forward_reference,
                "affine_normalize_backward": affine_normalize_backward_reference}[op_name]
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
            return Normalize.backward_in_ops(ctx.inputs[0], grad, axes, eps)
        x_hat, rstd = ctx.saved_values
        dx = _kernel("normalize_backward", x_hat, axes)(x_hat, rstd, grad.data, axes)
        return Tensor(dx.astype(grad.dtype, copy=False), dtype=grad.dtype)

    @staticmethod
    def backward_in_ops(x: Tensor, grad: Tensor, axes: tuple, eps: float) -> Tensor:
        """dx of normalising x, given d(loss)/d(x_hat) = grad, in tinydl ops (differentiable)."""
        centered = x - x.mean(axis=axes, keepdims=True)
        rstd = 1.0 / ((centered * centered).mean(axis=axes, keepdims=True) + eps).sqrt()
        return _normalize_backward(centered * rstd, rstd, grad, axes)


class AffineNormalize(Function):
    """x_hat * weight + bias, x_hat = (x - mean) / sqrt(var + eps) over ``axes``: LayerNorm.

    x (..., *normalized), weight and bias (*normalized), all of one float dtype -> like x.
    One node whose forward and backward are kernels (see the module docstring); when backward
    is recorded (create_graph=True) it recomputes with tinydl ops.
    """

    @staticmethod
    def forward(ctx: Context, x: Any, weight: Any, bias: Any, axes: tuple = (-1,),
                eps: float = 1e-5) -> Any:
        y, x_hat, rstd = _kernel("affine_normalize_forward", x, axes)(x, weight, bias, axes, eps)
        ctx.save_for_backward(x_hat, rstd)
        return y

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> tuple:
        axes, eps = ctx.params["axes"], ctx.params["eps"]
        x, weight, _ = ctx.inputs
        other_axes = tuple(sorted(set(range(x.ndim)) - {axis % x.ndim for axis in axes}))
        if is_grad_enabled():  # backward is being recorded: the same formulas in tinydl ops
            x_hat = Normalize.apply(x, axes=axes, eps=eps)
            dx = Normalize.backward_in_ops(x, grad * weight, axes, eps)
            return dx, (grad * x_hat).sum(axis=other_axes), grad.sum(axis=other_axes)
        x_hat, rstd = ctx.saved_values
        grads = _kernel("affine_normalize_backward", x_hat, axes)(x_hat, rstd, weight.data,
                                                                  grad.data, axes)
        return tuple(Tensor(g, dtype=g.dtype) for g in grads)
