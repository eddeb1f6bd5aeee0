"""Scans (running totals along a dim): cumsum, cumprod, cummax, cummin, logcumsumexp.

cumsum and cumprod are primitives; cummax/cummin find the running winners' positions on the
arrays and gather the values (so the gradient goes to the element that is the running max);
logcumsumexp is composed from the others.
"""
from __future__ import annotations

import collections
from typing import Any

import numpy

from tinydl.autograd import Context, Function
from tinydl.backend import get_array_module
from tinydl.ops.arrange import flip
from tinydl.ops.common import as_tensor
from tinydl.ops.constant import constant
from tinydl.ops.elementwise import cast, exp, log, where
from tinydl.ops.selection import Gather, dim_index
from tinydl.tensor import Tensor, _normalize_dtype

#: PyTorch's named results of cummax and cummin
RunningExtreme = collections.namedtuple("RunningExtreme", ["values", "indices"])


def _reverse_cumsum(grad: Tensor, dim: int) -> Tensor:
    """out[i] = sum of grad[j] for j >= i along dim: a running sum from the other end."""
    return flip(cumsum(flip(grad, dim), dim), dim)


class CumSum(Function):
    """running sum along ``dim``; the gradient is the running sum from the other end"""

    @staticmethod
    def forward(ctx: Context, a: Any, dim: int = 0) -> Any:
        return get_array_module(a).cumsum(a, axis=dim, dtype=a.dtype)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        return _reverse_cumsum(grad, ctx.params["dim"])


class CumProd(Function):
    """running product along ``dim``.

    Gradient without zeros: reverse_cumsum(grad * out) / a. With zeros that division fails, so
    it is spelled out: d out_j / d a_i = the product of a_k for k <= j, k != i.
    """

    @staticmethod
    def forward(ctx: Context, a: Any, dim: int = 0) -> Any:
        return get_array_module(a).cumprod(a, axis=dim, dtype=a.dtype)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        a, dim = ctx.inputs[0], ctx.params["dim"]
        if not bool((a.data == 0).any()):
            return _reverse_cumsum(grad * cumprod(a, dim), dim) / a
        a_last, grad_last = a.swapaxes(dim, -1), grad.swapaxes(dim, -1)    # (..., n)
        n = a_last.shape[-1]
        xp = a.xp
        eye = xp.eye(n, dtype=bool)
        # others[..., i, k] = a_k, with a_i replaced by 1; its running product along k is
        # prod_{k <= j, k != i} a_k, which multiplies grad_j for every j >= i
        others = where(eye, 1.0, a_last.unsqueeze(-2).broadcast_to(a_last.shape[:-1] + (n, n)))
        partial = cumprod(others, -1)
        later = xp.triu(xp.ones((n, n), dtype=bool))                       # j >= i
        result = where(later, grad_last.unsqueeze(-2) * partial, 0.0).sum(-1)
        return result.swapaxes(dim, -1)


def _accumulating_dtype(input: Tensor, dtype: Any) -> Any:
    """PyTorch's rule: integer and bool scans run in int64 unless a dtype is given."""
    if dtype is not None:
        return _normalize_dtype(dtype)
    return numpy.dtype(numpy.int64) if input.dtype.kind in "iub" else input.dtype


def _prepared(input: Any, dim: int, dtype: Any, op: str) -> tuple[Tensor, int]:
    input = as_tensor(input)
    dtype = _accumulating_dtype(input, dtype)
    if input.dtype != dtype:
        input = cast(input, dtype)
    if input.ndim == 0:
        return input, -1
    return input, dim_index(dim, input.ndim, op)


def cumsum(input: Any, dim: int, *, dtype: Any = None) -> Tensor:
    """Running sum along ``dim``: [1, 2, 3] -> [1, 3, 6]. Integers accumulate in int64."""
    input, dim = _prepared(input, dim, dtype, "cumsum")
    return input * 1 if dim == -1 and input.ndim == 0 else CumSum.apply(input, dim=dim)


def cumprod(input: Any, dim: int, *, dtype: Any = None) -> Tensor:
    """Running product along ``dim``: [1, 2, 3] -> [1, 2, 6]. Integers accumulate in int64."""
    input, dim = _prepared(input, dim, dtype, "cumprod")
    return input * 1 if dim == -1 and input.ndim == 0 else CumProd.apply(input, dim=dim)


def _running_extreme(input: Any, dim: int, better: Any, op: str) -> RunningExtreme:
    input = as_tensor(input)
    if input.ndim == 0:
        return RunningExtreme(input * 1 if input.requires_grad else input,
                              constant(input.xp.zeros((), dtype=numpy.int64)))
    dim = dim_index(dim, input.ndim, op)
    xp = input.xp
    data = xp.moveaxis(input.data, dim, -1)
    positions = xp.zeros(data.shape, dtype=numpy.int64)
    best, best_at = data[..., 0], xp.zeros(data.shape[:-1], dtype=numpy.int64)
    for j in range(1, data.shape[-1]):  # ties move to the later element, as in PyTorch
        take = better(data[..., j], best) | xp.isnan(data[..., j]) if data.dtype.kind == "f" \
            else better(data[..., j], best)
        best = xp.where(take, data[..., j], best)
        best_at = xp.where(take, j, best_at)
        positions[..., j] = best_at
    positions = xp.moveaxis(positions, -1, dim)
    return RunningExtreme(Gather.apply(input, index=positions, dim=dim), constant(positions))


def cummax(input: Any, dim: int) -> RunningExtreme:
    """Running maximum along ``dim`` and where it was found: (values, indices)."""
    return _running_extreme(input, dim, lambda new, best: new >= best, "cummax")


def cummin(input: Any, dim: int) -> RunningExtreme:
    """Running minimum along ``dim`` and where it was found: (values, indices)."""
    return _running_extreme(input, dim, lambda new, best: new <= best, "cummin")


def logcumsumexp(input: Any, dim: int) -> Tensor:
    """log(cumsum(exp(x))) along ``dim``, shifted by the max along dim to avoid overflow."""
    from tinydl.ops.math import floating  # math imports selection

    input = floating(input)
    if input.ndim == 0:
        return input * 1
    dim = dim_index(dim, input.ndim, "logcumsumexp")
    xp = input.xp
    shift = xp.max(input.data, axis=dim, keepdims=True)
    shift = constant(xp.where(xp.isfinite(shift), shift, 0))
    return log(cumsum(exp(input - shift), dim)) + shift
