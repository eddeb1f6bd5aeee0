"""Reductions: sum, mean, max, min, var, logsumexp, and sum_to (the engine's un-broadcast).

Every reduction takes ``axis`` (None, an int or a tuple) and ``keepdims`` (NumPy's names) or
``dim``/``keepdim`` (PyTorch's). Backward broadcasts the gradient back over the reduced axes.
"""
from __future__ import annotations

import builtins
from typing import Any

from tinydl.autograd import Context, Function
from tinydl.backend import get_array_module
from tinydl.errors import ShapeError
from tinydl.ops.common import as_tensor, normalize_axes, pick_axis
from tinydl.ops.shape import broadcast_to, reshape
from tinydl.tensor import Tensor


def _kept_shape(shape: tuple, axes: tuple | None) -> tuple:
    """The shape a reduction over ``axes`` has with keepdims=True."""
    if axes is None:
        return (1,) * len(shape)
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _count(shape: tuple, axes: tuple | None) -> int:
    count = 1
    for i, n in enumerate(shape):
        if axes is None or i in axes:
            count *= n
    return count


def _expand_grad(grad: Tensor, input_shape: tuple, axes: tuple | None) -> Tensor:
    """Broadcast a reduction's gradient back to the input's shape."""
    # grad has the reduced shape (keepdims or not); first give it the kept singleton dims
    kept = reshape(grad, _kept_shape(input_shape, axes))
    return broadcast_to(kept, input_shape)


class Sum(Function):
    """sum over axes"""

    @staticmethod
    def forward(ctx: Context, a: Any, axes: Any = None, keepdims: bool = False) -> Any:
        return a.sum(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        return _expand_grad(grad, ctx.inputs[0].shape, ctx.params["axes"])


class Mean(Function):
    """mean over axes"""

    @staticmethod
    def forward(ctx: Context, a: Any, axes: Any = None, keepdims: bool = False) -> Any:
        xp = get_array_module(a)
        return xp.mean(a, axis=axes, keepdims=keepdims).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        shape = ctx.inputs[0].shape
        axes = ctx.params["axes"]
        return _expand_grad(grad, shape, axes) * (1.0 / builtins.max(_count(shape, axes), 1))


class _Extremum(Function):
    """max or min over axes; tied extremes share the gradient equally."""

    @staticmethod
    def reduce(xp: Any, a: Any, axes: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def forward(cls, ctx: Context, a: Any, axes: Any = None, keepdims: bool = False) -> Any:
        xp = get_array_module(a)
        if a.size == 0:
            raise ShapeError(f"{cls.op_name()}: cannot reduce an empty tensor of shape {a.shape}")
        kept = cls.reduce(xp, a, axes)
        hits = (a == kept).astype(a.dtype)
        ctx.save_for_backward(hits / xp.sum(hits, axis=axes, keepdims=True))
        return kept if keepdims else xp.squeeze(kept, axis=axes) if axes is not None else kept.reshape(())

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        (share,) = ctx.saved_values
        return _expand_grad(grad, ctx.inputs[0].shape, ctx.params["axes"]) * share


class Max(_Extremum):
    """max over axes"""

    @staticmethod
    def reduce(xp: Any, a: Any, axes: Any) -> Any:
        return xp.max(a, axis=axes, keepdims=True)


class Min(_Extremum):
    """min over axes"""

    @staticmethod
    def reduce(xp: Any, a: Any, axes: Any) -> Any:
        return xp.min(a, axis=axes, keepdims=True)


class Var(Function):
    """variance over axes with ``correction`` (1: unbiased, PyTorch's default; 0: biased)."""

    @staticmethod
    def forward(ctx: Context, a: Any, axes: Any = None, keepdims: bool = False,
                correction: int = 1) -> Any:
        xp = get_array_module(a)
        return xp.var(a, axis=axes, ddof=correction, keepdims=keepdims).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        a = ctx.inputs[0]
        axes, correction = ctx.params["axes"], ctx.params["correction"]
        centered = a - mean(a, axes, keepdims=True)
        scale = 2.0 / builtins.max(_count(a.shape, axes) - correction, 1)
        return _expand_grad(grad, a.shape, axes) * centered * scale


class LogSumExp(Function):
    """log(sum(exp(a))) over axes, computed stably (shifted by the max)."""

    @staticmethod
    def forward(ctx: Context, a: Any, axes: Any = None, keepdims: bool = False) -> Any:
        xp = get_array_module(a)
        shift = xp.max(a, axis=axes, keepdims=True)
        shift = xp.where(xp.isfinite(shift), shift, 0)  # rows of -inf stay -inf, not NaN
        out = xp.log(xp.sum(xp.exp(a - shift), axis=axes, keepdims=True)) + shift
        return out if keepdims else out.reshape(_reduced_shape(a.shape, axes))

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        a = ctx.inputs[0]
        axes = ctx.params["axes"]
        out_kept = ctx.output.reshape(_kept_shape(a.shape, axes))
        return _expand_grad(grad, a.shape, axes) * (a - out_kept).exp()


def _reduced_shape(shape: tuple, axes: tuple | None) -> tuple:
    if axes is None:
        return ()
    return tuple(n for i, n in enumerate(shape) if i not in axes)


class SumTo(Function):
    """Sum a broadcast gradient back down to ``shape`` (inverse of broadcast_to)."""

    @staticmethod
    def forward(ctx: Context, a: Any, shape: tuple = ()) -> Any:
        xp = get_array_module(a)
        lead = a.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, n in enumerate(shape) if n == 1 and a.shape[lead + i] != 1)
        out = xp.sum(a, axis=axes, keepdims=True) if axes else a
        return out.reshape(shape)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        return grad.broadcast_to(ctx.inputs[0].shape)


# ---------------------------------------------------------------------------------------------
# The functions users call
# ---------------------------------------------------------------------------------------------


def sum(a: Tensor, axis: Any = None, keepdims: bool = False, **torch_names: Any) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (all by default). (..., n, ...) -> (..., ...) or (..., 1, ...) kept."""
    a = as_tensor(a)
    axis, keepdims = pick_axis("sum", axis, keepdims, torch_names)
    return Sum.apply(a, axes=normalize_axes(axis, a.ndim, "sum"), keepdims=keepdims)


def mean(a: Tensor, axis: Any = None, keepdims: bool = False, **torch_names: Any) -> Tensor:
    """Mean over ``axis`` (all by default)."""
    a = as_tensor(a)
    axis, keepdims = pick_axis("mean", axis, keepdims, torch_names)
    return Mean.apply(a, axes=normalize_axes(axis, a.ndim, "mean"), keepdims=keepdims)


def max(a: Tensor, axis: Any = None, keepdims: bool = False, **torch_names: Any) -> Tensor:  # noqa: A001
    """Largest value over ``axis`` (values only; use argmax for positions)."""
    a = as_tensor(a)
    axis, keepdims = pick_axis("max", axis, keepdims, torch_names)
    return Max.apply(a, axes=normalize_axes(axis, a.ndim, "max"), keepdims=keepdims)


def min(a: Tensor, axis: Any = None, keepdims: bool = False, **torch_names: Any) -> Tensor:  # noqa: A001
    """Smallest value over ``axis``."""
    a = as_tensor(a)
    axis, keepdims = pick_axis("min", axis, keepdims, torch_names)
    return Min.apply(a, axes=normalize_axes(axis, a.ndim, "min"), keepdims=keepdims)


def var(a: Tensor, axis: Any = None, keepdims: bool = False, correction: int = 1,
        **torch_names: Any) -> Tensor:
    """Variance over ``axis``; correction=1 divides by n-1 (PyTorch's default), 0 by n."""
    a = as_tensor(a)
    if "unbiased" in torch_names:
        correction = int(bool(torch_names.pop("unbiased")))
    axis, keepdims = pick_axis("var", axis, keepdims, torch_names)
    return Var.apply(a, axes=normalize_axes(axis, a.ndim, "var"), keepdims=keepdims,
                     correction=int(correction))


def std(a: Tensor, axis: Any = None, keepdims: bool = False, correction: int = 1,
        **torch_names: Any) -> Tensor:
    """Standard deviation: sqrt(var)."""
    return var(a, axis, keepdims, correction, **torch_names).sqrt()


def logsumexp(a: Tensor, axis: Any = None, keepdims: bool = False, **torch_names: Any) -> Tensor:
    """log(sum(exp(a), axis)), stable for large inputs (±1e4)."""
    a = as_tensor(a)
    axis, keepdims = pick_axis("logsumexp", axis, keepdims, torch_names)
    return LogSumExp.apply(a, axes=normalize_axes(axis, a.ndim, "logsumexp"), keepdims=keepdims)


def sum_to(a: Tensor, shape: tuple) -> Tensor:
    """Sum ``a`` down to ``shape``, the inverse of broadcasting ``shape`` up to ``a.shape``."""
    shape = tuple(shape)
    if a.shape == shape:
        return a
    lead = a.ndim - len(shape)
    if lead < 0 or any(n != 1 and n != m for n, m in zip(shape, a.shape[lead:])):
        raise ShapeError(f"sum_to: cannot sum shape {a.shape} down to {shape}")
    return SumTo.apply(a, shape=shape)


def argmax(a: Tensor, axis: int | None = None, keepdims: bool = False, **torch_names: Any) -> Tensor:
    """Index of the largest value (flattened when axis is None); not differentiable."""
    axis, keepdims = pick_axis("argmax", axis, keepdims, torch_names)
    return Tensor(a.xp.argmax(a.data, axis=axis, keepdims=keepdims))


def argmin(a: Tensor, axis: int | None = None, keepdims: bool = False, **torch_names: Any) -> Tensor:
    """Index of the smallest value; not differentiable."""
    axis, keepdims = pick_axis("argmin", axis, keepdims, torch_names)
    return Tensor(a.xp.argmin(a.data, axis=axis, keepdims=keepdims))
