"""Reductions: sum, mean, max, min, var, logsumexp, and sum_to (the engine's un-broadcast).

Every reduction takes ``axis`` (None, an int or a tuple) and ``keepdims`` (NumPy's names) or
``dim``/``keepdim`` (PyTorch's). Backward broadcasts the gradient back over the reduced axes.
"""
from __future__ import annotations

import builtins
import math
from collections import namedtuple
from typing import Any

from tinydl.autograd import Context, Function, is_grad_enabled
from tinydl.backend import get_array_module
from tinydl.errors import DTypeError, ShapeError
from tinydl.ops.common import as_tensor, normalize_axes, pick_axis
from tinydl.ops.elementwise import where
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


# Up to this many elements a plain backward writes a reduction's expanded gradient into a new
# array instead of making a broadcast view (see _expand_grad).
_SMALL_EXPANSION = 65_536


def _expand_grad(grad: Tensor, input_shape: tuple, axes: tuple | None) -> Tensor:
    """Broadcast a reduction's gradient back to the input's shape."""
    ### BEGIN FASTER task 1.4
    if not is_grad_enabled():  # a plain backward records no graph: the same values, on arrays
        # (over all axes the gradient has no dimension, or only ones: it broadcasts as it is)
        kept_array = grad.data if axes is None else grad.data.reshape(_kept_shape(input_shape, axes))
        if math.prod(input_shape) > _SMALL_EXPANSION:  # a read-only view: no memory written
            return Tensor._from_op(grad.xp.broadcast_to(kept_array, input_shape), None, 0)
        expanded = grad.xp.empty(input_shape, dtype=kept_array.dtype)  # cheaper than a view
        expanded[...] = kept_array  # (broadcast_to costs 2 µs) and writable, so a leaf keeps it
        return Tensor._from_op(expanded, None, 0)
    ### END FASTER
    ### BEGIN SOLUTION task 1.4
    # HINT: reshape grad to the keepdims shape (_kept_shape), then broadcast_to the input shape
    # grad has the reduced shape (keepdims or not); first give it the kept singleton dims
    kept = reshape(grad, _kept_shape(input_shape, axes))
    return broadcast_to(kept, input_shape)
    ### END SOLUTION


class Sum(Function):
    """sum over axes"""

    @staticmethod
    def forward(ctx: Context, a: Any, axes: Any = None, keepdims: bool = False) -> Any:
        return a.sum(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        return _expand_grad(grad, ctx.graph_inputs[0].shape, ctx.params["axes"])


class Mean(Function):
    """mean over axes"""

    @staticmethod
    def forward(ctx: Context, a: Any, axes: Any = None, keepdims: bool = False) -> Any:
        xp = get_array_module(a)
        return xp.mean(a, axis=axes, keepdims=keepdims).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        shape = ctx.graph_inputs[0].shape
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
        return _expand_grad(grad, ctx.graph_inputs[0].shape, ctx.params["axes"]) * share


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
        count = _count(a.shape, axes)
        centered = a - xp.mean(a, axis=axes, keepdims=True)
        squares = xp.sum(centered * centered, axis=axes, keepdims=keepdims)
        if count <= correction:  # dividing by n - correction <= 0: 0/0 = nan, else inf
            return xp.where(squares == 0, xp.nan, xp.inf).astype(a.dtype)
        return (squares / (count - correction)).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        a = ctx.inputs[0]
        return _var_backward(grad, a, ctx.params["axes"], ctx.params["correction"])


def _var_backward(grad: Tensor, a: Tensor, axes: Any, correction: int) -> Tensor:
    """d var / d a = 2 (a - mean) / (n - correction), with PyTorch's values when n <= correction:
    nan where a equals the mean, inf elsewhere (over all elements); 2/0 = inf along dims."""
    centered = a - mean(a, axes, keepdims=True)
    expanded = _expand_grad(grad, a.shape, axes)
    dof = _count(a.shape, axes) - correction
    if dof > 0:
        return expanded * centered * (2.0 / dof)
    if axes is None or a.ndim == 0:
        xp = a.xp
        edge = xp.where(centered.data == 0, xp.nan, xp.inf).astype(a.dtype)
        return expanded * edge
    scale = 2.0 / dof if dof else math.inf
    return expanded * centered * scale


class Std(Function):
    """standard deviation, sqrt(var); its gradient is 0 where the std is 0 (as in PyTorch)."""

    @staticmethod
    def forward(ctx: Context, a: Any, axes: Any = None, keepdims: bool = False,
                correction: int = 1) -> Any:
        return get_array_module(a).sqrt(Var.forward(ctx, a, axes, keepdims, correction))

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        out = ctx.output
        zero = out.data == 0
        grad_var = where(zero, 0.0, grad / (2.0 * where(zero, 1.0, out)))
        return _var_backward(grad_var, ctx.inputs[0], ctx.params["axes"], ctx.params["correction"])


class LogSumExp(Function):
    """log(sum(exp(a))) over axes, computed stably (shifted by the max)."""

    promotion = "float"

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
        ### BEGIN SOLUTION task 2.1
        # HINT: sum over the extra leading axes and over axes where shape has 1 but a does not
        extra = a.ndim - len(shape)  # leading axes that broadcasting added
        axes = tuple(range(extra)) + tuple(
            extra + i for i, n in enumerate(shape) if n == 1 and a.shape[extra + i] != 1)
        out = xp.sum(a, axis=axes, keepdims=True) if axes else a
        return out.reshape(shape)
        ### END SOLUTION

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        return grad.broadcast_to(ctx.inputs[0].shape)


# ---------------------------------------------------------------------------------------------
# The functions users call
# ---------------------------------------------------------------------------------------------


def sum(a: Tensor, axis: Any = None, keepdims: bool = False, **torch_names: Any) -> Tensor:
    """Sum over ``axis`` (all by default). (..., n, ...) -> (..., ...) or (..., 1, ...) kept."""
    a = as_tensor(a)
    axis, keepdims = pick_axis("sum", axis, keepdims, torch_names)
    return Sum.apply(a, axes=normalize_axes(axis, a.ndim, "sum"), keepdims=keepdims)


def mean(a: Tensor, axis: Any = None, keepdims: bool = False, **torch_names: Any) -> Tensor:
    """Mean over ``axis`` (all by default); floating tensors only, as in PyTorch."""
    a = _floating_input(as_tensor(a), "mean")
    axis, keepdims = pick_axis("mean", axis, keepdims, torch_names)
    return Mean.apply(a, axes=normalize_axes(axis, a.ndim, "mean"), keepdims=keepdims)


def _floating_input(a: Tensor, op: str) -> Tensor:
    if a.dtype.kind not in "fc":
        raise DTypeError(f"{op}: the input is {a.dtype}, and an average of integers has no "
                         f"integer dtype; convert first: x.float().{op}(...)")
    return a


#: what max/min with a dim return, like torch.return_types: (values, indices)
ValuesIndices = {name: namedtuple(name, ["values", "indices"]) for name in ("max", "min")}


def max(a: Tensor, axis: Any = None, keepdims: bool = False, **torch_names: Any) -> Any:
    """The largest value (a 0-d tensor); with an int ``dim``, the named tuple
    ``(values, indices)`` along it, as in PyTorch; ``max(a, b)`` with a tensor b is
    ``maximum``; with a tuple of dims, the values only (``amax``)."""
    return _extremum("max", Max, a, axis, keepdims, torch_names)


def min(a: Tensor, axis: Any = None, keepdims: bool = False, **torch_names: Any) -> Any:
    """The smallest value; (values, indices) with an int ``dim`` (see ``max``)."""
    return _extremum("min", Min, a, axis, keepdims, torch_names)


def _extremum(name: str, fn: type, a: Any, axis: Any, keepdims: bool, torch_names: dict) -> Any:
    from tinydl.ops.elementwise import maximum, minimum  # a pairwise max

    if isinstance(axis, Tensor) or isinstance(torch_names.get("other"), Tensor):
        return (maximum if name == "max" else minimum)(a, torch_names.get("other", axis))
    a = as_tensor(a)
    axis, keepdims = pick_axis(name, axis, keepdims, torch_names)
    if axis is None or isinstance(axis, (tuple, list)):
        return fn.apply(a, axes=normalize_axes(axis, a.ndim, name), keepdims=keepdims)
    from tinydl.ops.selection import Gather  # (selection builds on this module's helpers)

    pick = argmax if name == "max" else argmin
    indices = pick(a, axis, keepdims=True)
    # the values at those indices: the gradient goes to exactly those positions, as in PyTorch
    values = a if a.ndim == 0 else Gather.apply(a, index=indices.data, dim=axis % a.ndim)
    if not keepdims:
        values, indices = squeeze_dim(values, axis), squeeze_dim(indices, axis)
    return ValuesIndices[name](values, indices)


def squeeze_dim(a: Tensor, axis: int) -> Tensor:
    """Drop dim ``axis`` (of size 1); a 0-d tensor stays as it is."""
    if a.ndim == 0:
        return a
    axis %= a.ndim
    return reshape(a, a.shape[:axis] + a.shape[axis + 1:])


def var(a: Tensor, axis: Any = None, keepdims: bool = False, correction: int = 1,
        **torch_names: Any) -> Tensor:
    """Variance over ``axis``; correction=1 divides by n-1 (PyTorch's default), 0 by n."""
    return _spread(Var, "var", a, axis, keepdims, correction, torch_names)


def std(a: Tensor, axis: Any = None, keepdims: bool = False, correction: int = 1,
        **torch_names: Any) -> Tensor:
    """Standard deviation: sqrt(var), with gradient 0 where it is 0 (as in PyTorch)."""
    return _spread(Std, "std", a, axis, keepdims, correction, torch_names)


def _spread(fn: type, name: str, a: Any, axis: Any, keepdims: bool, correction: Any,
            torch_names: dict) -> Tensor:
    a = _floating_input(as_tensor(a), name)
    if "unbiased" in torch_names:
        correction = int(bool(torch_names.pop("unbiased")))
    axis, keepdims = pick_axis(name, axis, keepdims, torch_names)
    return fn.apply(a, axes=normalize_axes(axis, a.ndim, name), keepdims=keepdims,
                    correction=int(correction))


def logsumexp(a: Tensor, axis: Any = None, keepdims: bool = False, **torch_names: Any) -> Tensor:
    """log(sum(exp(a), axis)), stable for large inputs (±1e4)."""
    a = as_tensor(a)
    if a.dtype.kind not in "fc":
        a = a.float()
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
    return _arg_extremum("argmax", a, axis, keepdims, torch_names)


def _arg_extremum(name: str, a: Any, axis: Any, keepdims: bool, torch_names: dict) -> Tensor:
    a = as_tensor(a)
    axis, keepdims = pick_axis(name, axis, keepdims, torch_names)
    axes = normalize_axes(axis, a.ndim, name)
    if a.ndim == 0 or axes is None and not keepdims:
        found = getattr(a.xp, name)(a.data.reshape(-1))
        return Tensor(a.xp.asarray(found, dtype="int64").reshape((1,) * a.ndim if keepdims else ()))
    found = getattr(a.xp, name)(a.data, axis=axes[0] if axes else None, keepdims=keepdims)
    return Tensor(found.astype("int64", copy=False))


def argmin(a: Tensor, axis: int | None = None, keepdims: bool = False, **torch_names: Any) -> Tensor:
    """Index of the smallest value; not differentiable."""
    return _arg_extremum("argmin", a, axis, keepdims, torch_names)
