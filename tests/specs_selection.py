"""Declarations of selection, sorting, scans and the new reductions; test_ops_generated.py runs them.

References are NumPy (take_along_axis, argsort, cumsum, ...), never tinydl. Values that are
sorted or compared are drawn distinct (no ties), so the picked element is unambiguous.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import tinydl as td
from tinydl.testing import strategies as S
from tinydl.testing.opspec import OpSpec

try:
    import torch
except ImportError:  # the torch comparisons skip; the lambdas below are never called
    torch = None

small = S.shapes(min_dims=1, max_dims=3, max_side=3)


def _t(index):
    """A NumPy index array as a torch tensor (for the torch side of a spec)."""
    return torch.from_numpy(np.asarray(index))


def _fit(src, index):
    """src cut to index's shape (torch's scatter backward fails for a larger src)."""
    return src[tuple(slice(0, n) for n in index.shape)]


@st.composite
def _array_dim(draw, values=S.distinct_arrays, min_side=1):
    shape = draw(S.shapes(min_dims=1, max_dims=3, min_side=min_side, max_side=3))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    return [draw(values(shape)), dim]


@st.composite
def _gather_inputs(draw):
    """input, dim, index: index may be smaller than input off dim, larger along it, repeats ok."""
    shape = draw(small)
    dim = draw(st.integers(0, len(shape) - 1))
    index_shape = tuple(draw(st.integers(1, n)) if d != dim else draw(st.integers(1, 4))
                        for d, n in enumerate(shape))
    size = int(np.prod(index_shape))
    index = np.asarray(draw(st.lists(st.integers(0, shape[dim] - 1), min_size=size,
                                     max_size=size)), dtype=np.int64).reshape(index_shape)
    return [draw(S.arrays(shape)), dim, index]


@st.composite
def _scatter_inputs(draw, unique_positions=False):
    """input, dim, index, src (src at least index's size); unique positions for plain scatter."""
    shape = draw(small)
    dim = draw(st.integers(0, len(shape) - 1))
    index_shape = tuple(draw(st.integers(1, n)) for n in shape)
    if unique_positions:  # every row along dim gets a permutation's prefix: no position twice
        other = [n for d, n in enumerate(index_shape) if d != dim]
        rows = [draw(st.permutations(range(shape[dim])))[:index_shape[dim]]
                for _ in range(int(np.prod(other)))]
        index = np.moveaxis(np.asarray(rows, dtype=np.int64).reshape(other + [index_shape[dim]]),
                            -1, dim)
    else:
        size = int(np.prod(index_shape))
        index = np.asarray(draw(st.lists(st.integers(0, shape[dim] - 1), min_size=size,
                                         max_size=size)), dtype=np.int64).reshape(index_shape)
    src_shape = tuple(n + draw(st.integers(0, 1)) for n in index_shape)
    return [draw(S.arrays(shape)), dim, index, draw(S.arrays(src_shape))]


def _np_scatter(x, dim, index, src, add):
    out = x.copy()
    for position in np.ndindex(*index.shape):
        target = list(position)
        target[dim] = index[position]
        if add:
            out[tuple(target)] += src[position]
        else:
            out[tuple(target)] = src[position]
    return out


@st.composite
def _index_select_inputs(draw):
    shape = draw(small)
    dim = draw(st.integers(0, len(shape) - 1))
    index = np.asarray(draw(st.lists(st.integers(0, shape[dim] - 1), min_size=1, max_size=4)),
                       dtype=np.int64)
    return [draw(S.arrays(shape)), dim, index]


@st.composite
def _index_add_inputs(draw):
    x, dim, index = draw(_index_select_inputs())
    source_shape = list(x.shape)
    source_shape[dim] = len(index)
    return [x, dim, index, draw(S.arrays(tuple(source_shape)))]


def _np_index_add(x, dim, index, source):
    out = np.moveaxis(x.copy(), dim, 0)
    np.add.at(out, index, np.moveaxis(source, dim, 0))
    return np.moveaxis(out, 0, dim)


@st.composite
def _mask_inputs(draw):
    shape = draw(small)
    mask_shape = shape[draw(st.integers(0, len(shape))):]
    mask = np.asarray(draw(st.lists(st.booleans(), min_size=int(np.prod(mask_shape)),
                                    max_size=int(np.prod(mask_shape))))).reshape(mask_shape)
    return [draw(S.arrays(shape)), mask]


@st.composite
def _topk_inputs(draw):
    x, dim = draw(_array_dim())
    k = draw(st.integers(0, x.shape[dim]))
    return [x, k, dim, draw(st.booleans())]


def _np_topk(x, k, dim, largest):
    order = np.argsort(-x if largest else x, axis=dim, kind="stable")
    order = np.take(order, np.arange(k), axis=dim)
    return np.take_along_axis(x, order, dim), order


@st.composite
def _kth_inputs(draw):
    x, dim = draw(_array_dim())
    return [x, draw(st.integers(1, x.shape[dim])), dim, draw(st.booleans())]


@st.composite
def _with_zeros(draw):
    """An array and a dim, with some exact zeros (products must handle them without dividing)."""
    x, dim = draw(_array_dim(S.away_from_zero))
    zeros = np.asarray(draw(st.lists(st.booleans(), min_size=x.size, max_size=x.size)))
    return [np.where(zeros.reshape(x.shape), 0.0, x), dim]


@st.composite
def _scatter_reduce_inputs(draw, reduce):
    x, dim, index, src = draw(_scatter_inputs())
    if reduce in ("amax", "amin"):  # distinct values: a single winner per position
        x = draw(S.distinct_arrays(x.shape))
        src = draw(S.distinct_arrays(src.shape, 0.31)) + 0.1
    if reduce == "prod":
        x, src = draw(S.away_from_zero(x.shape, 0.5, 1.5)), draw(S.away_from_zero(src.shape, 0.5, 1.5))
    return [x, dim, index, src, draw(st.booleans())]


def _np_scatter_reduce(x, dim, index, src, include_self, reduce):
    ufunc = {"sum": np.add, "prod": np.multiply, "amax": np.maximum, "amin": np.minimum,
             "mean": np.add}[reduce]
    out = x.copy()
    count = np.ones(x.shape) if include_self else np.zeros(x.shape)
    seen = np.zeros(x.shape, dtype=bool)
    for position in np.ndindex(*index.shape):
        target = list(position)
        target[dim] = index[position]
        target = tuple(target)
        if not include_self and not seen[target]:
            out[target] = src[position]
        else:
            out[target] = ufunc(out[target], src[position])
        seen[target] = True
        count[target] += 1
    if reduce == "mean":
        out = out / np.where(count == 0, 1, count)
    return out


def _np_cummax(x, dim):
    """Running max and the index of the latest element equal to it (torch's tie rule)."""
    values = np.maximum.accumulate(x, axis=dim)
    moved = np.moveaxis(x, dim, -1)
    idx = np.zeros(moved.shape, dtype=np.int64)
    for j in range(1, moved.shape[-1]):
        best_so_far = np.take_along_axis(moved, idx[..., j - 1:j], -1)[..., 0]
        idx[..., j] = np.where(moved[..., j] >= best_so_far, j, idx[..., j - 1])
    return values, np.moveaxis(idx, -1, dim)


def _np_logcumsumexp(x, dim):
    return np.log(np.cumsum(np.exp(x), axis=dim))


def _scatter_reduce_spec(reduce, gradgrad=True):
    return OpSpec(
        f"scatter_reduce_{reduce}",
        lambda x, dim, index, src, inc: td.scatter_reduce(x, dim, index, src, reduce,
                                                          include_self=inc),
        lambda x, dim, index, src, inc: _np_scatter_reduce(x, dim, index, src, inc, reduce),
        _scatter_reduce_inputs(reduce),
        lambda x, dim, index, src, inc: x.scatter_reduce(dim, _t(index), _fit(src, index), reduce,
                                                         include_self=inc),
        differentiable=(0, 3), gradgrad=gradgrad)


SPECS = [
    OpSpec("gather", lambda x, dim, index: td.gather(x, dim, index),
           lambda x, dim, index: np.take_along_axis(
               x[tuple(slice(0, n) if d != dim else slice(None)
                       for d, n in enumerate(index.shape))], index, dim),
           _gather_inputs(), lambda x, dim, index: torch.gather(x, dim, _t(index)),
           differentiable=(0,)),
    OpSpec("scatter", lambda x, dim, index, src: x.scatter(dim, index, src),
           lambda x, dim, index, src: _np_scatter(x, dim, index, src, add=False),
           _scatter_inputs(unique_positions=True),
           lambda x, dim, index, src: x.scatter(dim, _t(index), _fit(src, index)),
           differentiable=(0, 3)),
    OpSpec("scatter_add", lambda x, dim, index, src: td.scatter_add(x, dim, index, src),
           lambda x, dim, index, src: _np_scatter(x, dim, index, src, add=True),
           _scatter_inputs(),
           lambda x, dim, index, src: x.scatter_add(dim, _t(index), _fit(src, index)),
           differentiable=(0, 3)),
    _scatter_reduce_spec("sum"),
    _scatter_reduce_spec("mean"),
    _scatter_reduce_spec("amax"),
    _scatter_reduce_spec("prod", gradgrad=False),
    OpSpec("index_select", lambda x, dim, index: x.index_select(dim, index),
           lambda x, dim, index: np.take(x, index, axis=dim), _index_select_inputs(),
           lambda x, dim, index: x.index_select(dim, _t(index)), differentiable=(0,)),
    OpSpec("index_add", lambda x, dim, index, source: x.index_add(dim, index, source, alpha=2.0),
           lambda x, dim, index, source: _np_index_add(x, dim, index, 2.0 * source),
           _index_add_inputs(),
           lambda x, dim, index, source: x.index_add(dim, _t(index), source, alpha=2.0),
           differentiable=(0, 3)),
    OpSpec("take_along_dim", lambda x, dim, index: td.take_along_dim(x, index, dim),
           lambda x, dim, index: np.take_along_axis(x, index, dim),
           _gather_inputs().filter(lambda a: all(n == m or d == a[1] for d, (n, m) in
                                                 enumerate(zip(a[0].shape, a[2].shape)))),
           lambda x, dim, index: torch.take_along_dim(x, _t(index), dim), differentiable=(0,)),
    OpSpec("masked_fill", lambda x, mask: x.masked_fill(mask, -1.5),
           lambda x, mask: np.where(mask, -1.5, x), _mask_inputs(),
           lambda x, mask: x.masked_fill(_t(mask), -1.5), differentiable=(0,)),
    OpSpec("masked_select", lambda x, mask: td.masked_select(x, mask),
           lambda x, mask: np.broadcast_to(x, np.broadcast_shapes(x.shape, mask.shape))[
               np.broadcast_to(mask, np.broadcast_shapes(x.shape, mask.shape))],
           _mask_inputs(), lambda x, mask: torch.masked_select(x, _t(mask)), differentiable=(0,)),
    OpSpec("sort", lambda x, dim: td.sort(x, dim),
           lambda x, dim: (np.sort(x, axis=dim), np.argsort(x, axis=dim)), _array_dim(),
           lambda x, dim: torch.sort(x, dim), differentiable=(0,)),
    OpSpec("sort_descending", lambda x, dim: x.sort(dim=dim, descending=True).values,
           lambda x, dim: -np.sort(-x, axis=dim), _array_dim(),
           lambda x, dim: x.sort(dim=dim, descending=True).values, differentiable=(0,)),
    OpSpec("topk", lambda x, k, dim, largest: td.topk(x, k, dim, largest), _np_topk,
           _topk_inputs(), lambda x, k, dim, largest: torch.topk(x, k, dim, largest),
           differentiable=(0,)),
    OpSpec("kthvalue", lambda x, k, dim, keep: td.kthvalue(x, k, dim, keep),
           lambda x, k, dim, keep: (np.take(np.sort(x, axis=dim), [k - 1] if keep else k - 1,
                                            axis=dim),
                                    np.take(np.argsort(x, axis=dim), [k - 1] if keep else k - 1,
                                            axis=dim)),
           _kth_inputs(), lambda x, k, dim, keep: torch.kthvalue(x, k, dim, keep),
           differentiable=(0,)),
    OpSpec("median", lambda x, dim: (x.median(dim).values, td.median(x)),
           lambda x, dim: (np.take(np.sort(x, axis=dim), (x.shape[dim] - 1) // 2, axis=dim),
                           np.sort(x.reshape(-1))[(x.size - 1) // 2]),
           _array_dim(), lambda x, dim: (x.median(dim).values, torch.median(x)),
           differentiable=(0,)),
    OpSpec("cumsum", lambda x, dim: td.cumsum(x, dim), lambda x, dim: np.cumsum(x, axis=dim),
           _array_dim(S.arrays), lambda x, dim: torch.cumsum(x, dim), differentiable=(0,)),
    OpSpec("cumprod", lambda x, dim: x.cumprod(dim), lambda x, dim: np.cumprod(x, axis=dim),
           _array_dim(S.away_from_zero), lambda x, dim: torch.cumprod(x, dim), differentiable=(0,)),
    OpSpec("cumprod_with_zeros", lambda x, dim: x.cumprod(dim),
           lambda x, dim: np.cumprod(x, axis=dim), _with_zeros(),
           lambda x, dim: torch.cumprod(x, dim), differentiable=(0,)),
    OpSpec("cummax", lambda x, dim: td.cummax(x, dim), _np_cummax, _array_dim(),
           lambda x, dim: torch.cummax(x, dim), differentiable=(0,)),
    OpSpec("cummin", lambda x, dim: x.cummin(dim).values,
           lambda x, dim: np.minimum.accumulate(x, axis=dim), _array_dim(),
           lambda x, dim: x.cummin(dim).values, differentiable=(0,)),
    OpSpec("logcumsumexp", lambda x, dim: td.logcumsumexp(x, dim), _np_logcumsumexp,
           _array_dim(S.arrays), lambda x, dim: torch.logcumsumexp(x, dim), differentiable=(0,)),
    OpSpec("prod", lambda x, dim: (td.prod(x, dim), x.prod()),
           lambda x, dim: (np.prod(x, axis=dim), np.prod(x)), _with_zeros(),
           lambda x, dim: (torch.prod(x, dim), x.prod()), differentiable=(0,)),
    OpSpec("amax_amin", lambda x, dim: (td.amax(x, tuple({0, dim % x.ndim})),
                                      x.amin(dim, keepdim=True)),
           lambda x, dim: (np.max(x, axis=tuple({0, dim % x.ndim})),
                           np.min(x, axis=dim, keepdims=True)),
           _array_dim(), lambda x, dim: (torch.amax(x, tuple({0, dim % x.ndim})),
                                         x.amin(dim, keepdim=True)), differentiable=(0,)),
    OpSpec("std_var_mean", lambda x, dim: td.std_mean(x, dim) + td.var_mean(x, dim, correction=0),
           lambda x, dim: (np.std(x, axis=dim, ddof=1), np.mean(x, axis=dim),
                           np.var(x, axis=dim), np.mean(x, axis=dim)),
           _array_dim(S.distinct_arrays, min_side=2),
           lambda x, dim: torch.std_mean(x, dim) + torch.var_mean(x, dim, correction=0),
           differentiable=(0,)),
]
