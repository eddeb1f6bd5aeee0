"""More reductions: prod, any/all, amax/amin/aminmax, std_mean/var_mean, count_nonzero, nan-sums.

``Prod`` is the one new primitive: its gradient is the product of all the *other* elements,
computed from running products from both ends, so zeros are handled exactly (no division).
The rest compose the core reductions. Integer and bool sums and products give int64, as in
PyTorch.
"""
from __future__ import annotations

import collections
from typing import Any

import numpy

from tinydl.autograd import Context, Function
from tinydl.backend import get_array_module
from tinydl.errors import ShapeError
from tinydl.ops import reduce as core
from tinydl.ops.common import as_tensor, normalize_axes
from tinydl.ops.constant import constant
from tinydl.ops.elementwise import cast, where
from tinydl.ops.selection import dim_index
from tinydl.ops.shape import concatenate
from tinydl.tensor import Tensor, _normalize_dtype

#: PyTorch's named result of aminmax
MinMax = collections.namedtuple("MinMax", ["min", "max"])


class Prod(Function):
    """product along ``dim``; d/da_i = the product of the other elements (zeros handled)."""

    @staticmethod
    def forward(ctx: Context, a: Any, dim: int = 0, keepdims: bool = False) -> Any:
        return get_array_module(a).prod(a, axis=dim, keepdims=keepdims)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        from tinydl.ops.arrange import flip, narrow  # arrange is a sibling
        from tinydl.ops.scan import cumprod

        a, dim = ctx.inputs[0], ctx.params["dim"]
        n = a.shape[dim]
        if not ctx.params["keepdims"]:
            grad = grad.unsqueeze(dim)
        if n == 1:
            return grad.broadcast_to(a.shape)
        ones = constant(a.xp.ones(a.shape[:dim] + (1,) + a.shape[dim + 1:], dtype=a.dtype))
        # before_i = a_0 ... a_(i-1) and after_i = a_(i+1) ... a_(n-1)
        before = cumprod(concatenate([ones, narrow(a, dim, 0, n - 1)], axis=dim), dim)
        after = flip(cumprod(flip(concatenate([narrow(a, dim, 1, n - 1), ones], axis=dim), dim),
                             dim), dim)
        return grad * before * after


def _accumulate_as(input: Tensor, dtype: Any) -> Tensor:
    """Cast for a sum or product: the given dtype, else int64 for integers and bools."""
    if dtype is not None:
        dtype = _normalize_dtype(dtype)
    elif input.dtype.kind in "iub":
        dtype = numpy.dtype(numpy.int64)
    return cast(input, dtype) if dtype is not None and dtype != input.dtype else input


def prod(input: Any, dim: int | None = None, keepdim: bool = False, *,
         dtype: Any = None) -> Tensor:
    """Product of all elements, or along ``dim`` (integers give int64)."""
    input = _accumulate_as(as_tensor(input), dtype)
    if dim is None:
        flat = input.reshape(-1)
        if flat.shape[0] == 0:
            return constant(input.xp.ones((), dtype=input.dtype))
        out = Prod.apply(flat, dim=0, keepdims=False)
        return out.reshape((1,) * input.ndim) if keepdim else out
    if input.ndim == 0:
        return input * 1
    return Prod.apply(input, dim=dim_index(dim, input.ndim, "prod"), keepdims=keepdim)


def sum(input: Any, *args: Any, dtype: Any = None, **kwargs: Any) -> Tensor:
    """Sum over ``dim`` (all by default); integers and bools give int64, or ``dtype`` if given.

    The other arguments are those of the core sum: ``dim``/``keepdim`` (or axis/keepdims).
    """
    if not args and not kwargs and dtype is None and isinstance(input, Tensor) and input.dtype.kind in "fc":
        return core.Sum.apply(input, axes=None, keepdims=False)  # x.sum(): nothing to convert
    return core.sum(_accumulate_as(as_tensor(input), dtype), *args, **kwargs)


def nansum(input: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Sum treating NaN as zero (their gradient is zero)."""
    input = as_tensor(input)
    if input.dtype.kind == "f":
        input = where(input.xp.isnan(input.data), 0, input)
    return sum(input, dim, keepdim, dtype=dtype)


def nanmean(input: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """Mean of the elements that are not NaN."""
    input = as_tensor(input)
    present = constant((~input.xp.isnan(input.data)).astype(input.dtype))
    return nansum(input, dim, keepdim, dtype=dtype) / core.sum(present, dim, keepdim)


def _truth_reduce(input: Any, dim: Any, keepdim: bool, how: str) -> Tensor:
    input = as_tensor(input)
    axes = normalize_axes(dim, input.ndim, how) if input.ndim else None
    data = input.data if input.dtype == numpy.bool_ else input.data != 0
    out = getattr(data, how)(axis=axes, keepdims=keepdim)
    result = constant(input.xp.asarray(out))
    return result if input.dtype != numpy.uint8 else cast(result, numpy.dtype(numpy.uint8))


def _numpy_names(dim: Any, keepdim: Any, axis: Any, keepdims: Any) -> tuple:
    """NumPy's ``axis=``/``keepdims=`` accepted beside PyTorch's ``dim=``/``keepdim=``."""
    return (dim if axis is None else axis), bool(keepdim if keepdims is None else keepdims)


def any(input: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: Any = None) -> Tensor:
    """True where some element (along ``dim``, or anywhere) is non-zero."""
    return _truth_reduce(input, *_numpy_names(dim, keepdim, axis, keepdims), "any")


def all(input: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
        keepdims: Any = None) -> Tensor:
    """True where every element (along ``dim``, or all of them) is non-zero."""
    return _truth_reduce(input, *_numpy_names(dim, keepdim, axis, keepdims), "all")


def _extreme(op: str, fn: Any, input: Any, dim: Any, keepdim: bool) -> Tensor:
    input = as_tensor(input)
    if input.numel() == 0 and (dim is None or dim == () or input.ndim == 0):
        raise ShapeError(f"{op}: cannot reduce an empty tensor of shape {input.shape}; give a "
                         "dim of non-zero size")
    axes = None if dim is None or dim == () else dim
    if input.ndim == 0:
        return input * 1 if input.requires_grad else input
    axes = normalize_axes(axes, input.ndim, op)
    return fn.apply(input, axes=axes, keepdims=keepdim)


def amax(input: Any, dim: Any = (), keepdim: bool = False, *, axis: Any = None,
         keepdims: Any = None) -> Tensor:
    """Largest values over ``dim`` (all dims by default); ties share the gradient equally."""
    return _extreme("amax", core.Max, input, *_numpy_names(dim, keepdim, axis, keepdims))


def amin(input: Any, dim: Any = (), keepdim: bool = False, *, axis: Any = None,
         keepdims: Any = None) -> Tensor:
    """Smallest values over ``dim`` (all dims by default); ties share the gradient equally."""
    return _extreme("amin", core.Min, input, *_numpy_names(dim, keepdim, axis, keepdims))


def aminmax(input: Any, *, dim: int | None = None, keepdim: bool = False) -> MinMax:
    """(min, max) over ``dim`` (all elements by default) in one call."""
    return MinMax(amin(input, dim if dim is not None else (), keepdim),
                  amax(input, dim if dim is not None else (), keepdim))


def _spread_and_mean(input: Any, dim: Any, correction: Any, keepdim: bool,
                     unbiased: Any, take_root: bool) -> tuple:
    input = as_tensor(input)
    if unbiased is not None:
        correction = int(bool(unbiased))
    correction = 1 if correction is None else correction
    spread = core.var(input, dim, keepdim, correction)
    return (spread.sqrt() if take_root else spread), core.mean(input, dim, keepdim)


def std_mean(input: Any, dim: Any = None, *, correction: Any = None, keepdim: bool = False,
             unbiased: Any = None) -> tuple:
    """(std, mean) over ``dim``; correction=1 (default) divides by n - 1."""
    return _spread_and_mean(input, dim, correction, keepdim, unbiased, take_root=True)


def var_mean(input: Any, dim: Any = None, *, correction: Any = None, keepdim: bool = False,
             unbiased: Any = None) -> tuple:
    """(var, mean) over ``dim``; correction=1 (default) divides by n - 1."""
    return _spread_and_mean(input, dim, correction, keepdim, unbiased, take_root=False)


def count_nonzero(input: Any, dim: Any = None) -> Tensor:
    """Number of non-zero elements (over ``dim``), int64."""
    input = as_tensor(input)
    axes = normalize_axes(dim, input.ndim, "count_nonzero") if input.ndim else None
    counts = (input.data != 0).sum(axis=axes)
    return constant(input.xp.asarray(counts, dtype=numpy.int64))
