"""Picking elements by position: gather/scatter along a dim, sorting, top-k, masks, searches.

Two primitives carry every gradient here: ``Gather`` (read ``a`` at one index per output
element along ``dim``) and ``Scatter`` (write or add ``src`` into a copy of ``a`` at such
indices); each one's backward is the other. Sorting, top-k, median, mode, cummax... find their
positions on the arrays (no gradient flows through a position) and then gather the values, so
the gradient goes to the elements that were picked, as in PyTorch.
"""
from __future__ import annotations

import collections
from typing import Any

import numpy

from tinydl import backend
from tinydl.autograd import Context, Function
from tinydl.backend import get_array_module
from tinydl.errors import DTypeError, ShapeError
from tinydl.ops.common import as_tensor, normalize_axes
from tinydl.ops.constant import constant
from tinydl.ops.shape import pad
from tinydl.random import generator
from tinydl.tensor import Tensor

#: PyTorch's named results (``torch.return_types.sort`` and friends): fields values, indices
ValuesIndices = collections.namedtuple("ValuesIndices", ["values", "indices"])


def dim_index(dim: Any, ndim: int, op: str) -> int:
    """``dim`` as a non-negative int (a 0-d tensor accepts 0 and -1, as in PyTorch)."""
    return normalize_axes(int(dim), ndim, op)[0]


def index_array(index: Any, like: Tensor, op: str) -> Any:
    """An integer index (Tensor, array or list) as an array on ``like``'s device."""
    array = index.data if isinstance(index, Tensor) else index
    if not hasattr(array, "dtype"):
        array = numpy.asarray(array)
        if array.dtype.kind == "f" and array.size == 0:
            array = array.astype(numpy.int64)
    if array.dtype.kind not in "iu":
        raise DTypeError(f"{op}: the index must be an integer tensor, got {array.dtype}; "
                         "convert it with .long()")
    if get_array_module(array) is not like.xp:
        array = backend.to_device(array, like.device)
    return array


def _full_index(xp: Any, index: Any, dim: int) -> tuple:
    """The NumPy fancy index that ``index`` along ``dim`` means: positions in every other dim."""
    grids = list(xp.indices(index.shape, sparse=True))
    grids[dim] = index
    return tuple(grids)


def _check_gather_shapes(op: str, a_shape: tuple, index: Any, dim: int) -> None:
    if index.ndim != len(a_shape):
        raise ShapeError(f"{op}: the index has {index.ndim} dims but the input of shape {a_shape} "
                         f"has {len(a_shape)}; they must have the same number of dims")
    for d, (n, m) in enumerate(zip(index.shape, a_shape)):
        if d != dim and n > m:
            raise ShapeError(f"{op}: index shape {tuple(index.shape)} is larger than input shape "
                             f"{a_shape} in dim {d} (only dim {dim} may be larger)")
    if index.size and (int(index.min()) < -a_shape[dim] or int(index.max()) >= a_shape[dim]):
        raise ShapeError(f"{op}: index values must lie in [0, {a_shape[dim]}) for dim {dim} of "
                         f"shape {a_shape}; got values from {int(index.min())} to {int(index.max())}")


def _wrap_negative(index: Any, input: Tensor, dim: int) -> Any:
    """Negative positions count from the end, as in Python indexing."""
    return input.xp.remainder(index, max(input.shape[dim], 1))


class Gather(Function):
    """out[i][j][k] = a[i][index[i][j][k]][k] for dim=1 (index has out's shape)."""

    @staticmethod
    def forward(ctx: Context, a: Any, index: Any = None, dim: int = 0) -> Any:
        return a[_full_index(get_array_module(a), index, dim)]

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        a = ctx.inputs[0]
        zeros = constant(a.xp.zeros(a.shape, dtype=grad.dtype))
        return Scatter.apply(zeros, grad, index=ctx.params["index"], dim=ctx.params["dim"],
                             accumulate=True)


class Scatter(Function):
    """A copy of ``a`` with ``src`` written (or added, ``accumulate=True``) at ``index`` along dim."""

    @staticmethod
    def forward(ctx: Context, a: Any, src: Any, index: Any = None, dim: int = 0,
                accumulate: bool = False) -> Any:
        xp = get_array_module(a)
        out = a.copy()
        where = _full_index(xp, index, dim)
        values = src[tuple(slice(0, n) for n in index.shape)].astype(a.dtype, copy=False)
        if accumulate:
            xp.add.at(out, where, values)  # repeated positions add up
        else:
            out[where] = values
        return out

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> tuple:
        index, dim = ctx.params["index"], ctx.params["dim"]
        grad_a = grad_src = None
        if ctx.needs_input_grad[0]:
            grad_a = grad
            if not ctx.params["accumulate"]:  # overwritten positions get no gradient
                kept = grad.xp.ones(grad.shape, dtype=grad.dtype)
                kept[_full_index(grad.xp, index, dim)] = 0
                grad_a = grad * constant(kept)
        if ctx.needs_input_grad[1]:
            src = ctx.inputs[1]
            picked = Gather.apply(grad, index=index, dim=dim)
            if picked.shape != src.shape:  # src may be larger than the index: pad with zeros
                picked = pad(picked, tuple((0, m - n) for n, m in zip(picked.shape, src.shape)))
            grad_src = picked
        return grad_a, grad_src


# ---------------------------------------------------------------------------------------------
# Gather / scatter family
# ---------------------------------------------------------------------------------------------


def gather(input: Tensor, dim: int, index: Any) -> Tensor:  # PyTorch's names
    """Values of ``input`` at ``index`` along ``dim``; the result has index's shape.

    For dim=1: out[i, j] = input[i, index[i, j]]. index: int64 with input's number of dims.
    """
    input = as_tensor(input)
    dim = dim_index(dim, input.ndim, "gather")
    index = index_array(index, input, "gather")
    _check_gather_shapes("gather", input.shape, index, dim)
    return Gather.apply(input, index=_wrap_negative(index, input, dim), dim=dim)


def _scatter(op: str, input: Tensor, dim: int, index: Any, src: Any, accumulate: bool) -> Tensor:
    input = as_tensor(input)
    dim = dim_index(dim, input.ndim, op)
    index = index_array(index, input, op)
    _check_gather_shapes(op, input.shape, index, dim)
    if not isinstance(src, Tensor):  # a number: the same value at every index
        src = constant(input.xp.full(index.shape, src, dtype=input.dtype))
    elif src.ndim != index.ndim or any(n > m for n, m in zip(index.shape, src.shape)):
        raise ShapeError(f"{op}: src of shape {src.shape} must have the index's dims and be at "
                         f"least as large as the index {tuple(index.shape)} in each")
    return Scatter.apply(input, src, index=_wrap_negative(index, input, dim), dim=dim,
                         accumulate=accumulate)


def scatter(input: Tensor, dim: int, index: Any, src: Any = None, *, value: Any = None,
            reduce: str | None = None) -> Tensor:
    """A copy of ``input`` with ``src`` (a tensor or a number) written at ``index`` along ``dim``.

    For dim=1: out[i, index[i, j]] = src[i, j]. ``reduce="add"`` adds instead of writing.
    Where one position is written twice, the last write wins (PyTorch leaves it unspecified).
    """
    src = value if src is None else src
    if reduce not in (None, "add", "multiply"):
        raise ValueError(f"scatter: reduce must be None, 'add' or 'multiply', got {reduce!r}")
    if reduce == "multiply":
        if not isinstance(src, Tensor):
            src = constant(as_tensor(input).xp.full(tuple(as_tensor(index).shape), src))
        return scatter_reduce(input, dim, index, src, "prod")
    return _scatter("scatter", input, dim, index, src, accumulate=reduce == "add")


def scatter_add(input: Tensor, dim: int, index: Any, src: Tensor) -> Tensor:
    """A copy of ``input`` with ``src`` added at ``index`` along ``dim`` (repeats add up)."""
    return _scatter("scatter_add", input, dim, index, src, accumulate=True)


def scatter_reduce(input: Tensor, dim: int, index: Any, src: Tensor, reduce: str, *,
                   include_self: bool = True) -> Tensor:
    """Combine ``src`` into ``input`` at ``index`` along ``dim`` with sum, prod, mean, amax or amin.

    ``include_self=False`` ignores input's own values at the positions that receive some src.
    Gradients: sum and mean as for scatter_add; amax/amin share among the tied winners; prod
    gives each factor product/factor (zero factors get a zero gradient, see the porting notes).
    """
    from tinydl.ops.elementwise import where  # elementwise is a sibling

    input, src = as_tensor(input), as_tensor(src)
    dim = dim_index(dim, input.ndim, "scatter_reduce")
    index = index_array(index, input, "scatter_reduce")
    _check_gather_shapes("scatter_reduce", input.shape, index, dim)
    if reduce not in ("sum", "prod", "mean", "amax", "amin"):
        raise ValueError(f"scatter_reduce: reduce must be sum, prod, mean, amax or amin, "
                         f"got {reduce!r}")
    index = _wrap_negative(index, input, dim)
    src = src[tuple(slice(0, n) for n in index.shape)]
    xp = input.xp
    where_hit = _full_index(xp, index, dim)
    hit = xp.zeros(input.shape, dtype=bool)
    hit[where_hit] = True
    base = input if include_self else where(hit, 0, input)
    if reduce in ("sum", "mean"):
        total = Scatter.apply(base, src, index=index, dim=dim, accumulate=True)
        if reduce == "sum":
            return total
        counts = xp.zeros(input.shape, dtype=input.dtype)
        xp.add.at(counts, where_hit, 1)
        counts = counts + (1 if include_self else 0)
        counts[counts == 0] = 1
        if input.dtype.kind in "iu":
            return constant(total.data // counts)
        return total / constant(counts)
    start = base.data.copy()
    if not include_self:  # positions that receive src start from the reduction's identity
        start[hit] = {"prod": 1, "amax": _lowest(start.dtype),
                      "amin": _highest(start.dtype)}[reduce]
    ufunc = {"prod": xp.multiply, "amax": xp.maximum, "amin": xp.minimum}[reduce]
    ufunc.at(start, where_hit, src.data)
    result = constant(start)
    if not (input.requires_grad or src.requires_grad):
        return result
    index_t = constant(index)
    if reduce == "prod":  # value: the product; gradient: product / factor (first order)
        def share(x: Tensor, product: Tensor) -> Tensor:
            values = x.data
            safe = xp.where(values == 0, 1, values)
            return (x - x.detach()) * constant(xp.where(values == 0, 0, product.data / safe))
        return result + share(base, result) + scatter_add(
            input.new_zeros(input.shape), dim, index_t, share(src, gather(result, dim, index_t)))
    # amax/amin: the mean of the winners (ties share the gradient), written differentiably
    self_wins = (input.data == start) & (~hit | include_self)
    src_wins = gather(result, dim, index_t).data == src.data
    ties = self_wins.astype(input.dtype)
    xp.add.at(ties, where_hit, src_wins.astype(input.dtype))
    total = scatter_add(input * constant(self_wins.astype(input.dtype)), dim, index_t,
                        src * constant(src_wins.astype(src.dtype)))
    return total / constant(xp.where(ties == 0, 1, ties))


def _lowest(dtype: Any) -> Any:
    return numpy.iinfo(dtype).min if dtype.kind in "iu" else -numpy.inf


def _highest(dtype: Any) -> Any:
    return numpy.iinfo(dtype).max if dtype.kind in "iu" else numpy.inf


def index_select(input: Tensor, dim: int, index: Any) -> Tensor:
    """The slices of ``input`` at the 1-D ``index`` along ``dim``: (.., n, ..) -> (.., len(index), ..)."""
    input = as_tensor(input)
    dim = dim_index(dim, input.ndim, "index_select")
    index = index_array(index, input, "index_select")
    if index.ndim > 1:
        raise ShapeError(f"index_select: the index must be 1-D, got shape {tuple(index.shape)}")
    return input[(slice(None),) * dim + (index.reshape(-1),)]


def index_add(input: Tensor, dim: int, index: Any, source: Tensor, *, alpha: Any = 1) -> Tensor:
    """A copy of ``input`` with ``alpha * source[.., i, ..]`` added at slice ``index[i]`` along dim."""
    input, source = as_tensor(input), as_tensor(source)
    dim = dim_index(dim, input.ndim, "index_add")
    index = index_array(index, input, "index_add").reshape(-1)
    if source.ndim != input.ndim or source.shape[dim] != index.shape[0]:
        raise ShapeError(f"index_add: source of shape {source.shape} must have input's dims "
                         f"({input.shape}) and {index.shape[0]} entries (the index) in dim {dim}")
    view = [1] * source.ndim
    view[dim] = -1
    full = input.xp.broadcast_to(index.reshape(view), source.shape)
    return scatter_add(input, dim, constant(full), source * alpha if alpha != 1 else source)


def take_along_dim(input: Tensor, indices: Any, dim: int | None = None) -> Tensor:
    """``input`` read at ``indices`` along ``dim`` (broadcasting the other dims); flat when dim=None."""
    input = as_tensor(input)
    indices = index_array(indices, input, "take_along_dim")
    if dim is None:
        return gather(input.reshape(-1), 0, constant(indices.reshape(-1)))
    dim = dim_index(dim, input.ndim, "take_along_dim")
    shape_in, shape_ix = list(input.shape), list(indices.shape)
    shape_in[dim] = shape_ix[dim] = 1
    common = numpy.broadcast_shapes(tuple(shape_in), tuple(shape_ix))
    target_in = tuple(common[:dim]) + (input.shape[dim],) + tuple(common[dim + 1:])
    target_ix = tuple(common[:dim]) + (indices.shape[dim],) + tuple(common[dim + 1:])
    xp = input.xp
    return gather(input.broadcast_to(target_in), dim, constant(xp.broadcast_to(indices, target_ix)))


def masked_fill(input: Tensor, mask: Any, value: Any) -> Tensor:
    """``input`` with ``value`` wherever the bool ``mask`` (broadcast to input) is True."""
    from tinydl.ops.elementwise import where

    input = as_tensor(input)
    mask = mask.data if isinstance(mask, Tensor) else mask
    if getattr(mask, "dtype", None) is None or mask.dtype != numpy.bool_:
        raise DTypeError(f"masked_fill: the mask must be a bool tensor, got "
                         f"{getattr(mask, 'dtype', type(mask).__name__)}; compare first, e.g. x > 0")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ShapeError(f"masked_fill: value must be a number or a 0-d tensor, got shape "
                             f"{value.shape}")
        value = value.to(input.dtype) if value.dtype != input.dtype else value
    elif input.dtype.kind in "iu" and isinstance(value, float):
        value = int(value)
    if get_array_module(mask) is not input.xp:
        mask = backend.to_device(mask, input.device)
    out = where(mask, value, input)
    if out.shape != input.shape:
        raise ShapeError(f"masked_fill: mask of shape {tuple(mask.shape)} does not broadcast to "
                         f"the input's shape {input.shape}")
    return out


def masked_select(input: Tensor, mask: Any) -> Tensor:
    """The elements of ``input`` where ``mask`` is True, as a 1-D tensor (broadcasting both)."""
    input = as_tensor(input)
    mask = mask if isinstance(mask, Tensor) else constant(mask)
    if mask.dtype != numpy.bool_:
        raise DTypeError(f"masked_select: the mask must be bool, got {mask.dtype}")
    shape = numpy.broadcast_shapes(input.shape, mask.shape)
    return input.broadcast_to(shape)[mask.broadcast_to(shape).data]


def nonzero(input: Tensor, *, as_tuple: bool = False) -> Any:
    """Positions of the non-zero elements: (count, ndim) int64, or one 1-D tensor per dim."""
    input = as_tensor(input)
    positions = input.xp.nonzero(input.data) if input.ndim else input.xp.nonzero(
        input.data.reshape(1))
    if as_tuple:
        return tuple(constant(p.astype(numpy.int64)) for p in positions)
    if not input.ndim:
        return constant(input.xp.zeros((positions[0].shape[0], 0), dtype=numpy.int64))
    return constant(input.xp.stack(positions, axis=1).astype(numpy.int64))


def where(condition: Any, input: Any = None, other: Any = None) -> Any:
    """``where(cond, a, b)``: a where cond is True, else b; ``where(cond)``: nonzero(cond, as_tuple=True)."""
    from tinydl.ops.elementwise import where as choose  # sibling module

    if input is None and other is None:
        return nonzero(condition, as_tuple=True)
    if input is None or other is None:
        raise TypeError("where: give both input and other, or neither")
    return choose(condition, input, other)


def argwhere(input: Tensor) -> Tensor:
    """Same as ``nonzero(input)``: one row of indices per non-zero element."""
    return nonzero(input)


# ---------------------------------------------------------------------------------------------
# Sorting and ranking: positions on arrays, values by gather
# ---------------------------------------------------------------------------------------------


def _order(xp: Any, data: Any, dim: int, descending: bool) -> Any:
    """A stable argsort along ``dim`` (descending keeps equal elements in their order)."""
    if not descending:
        return xp.argsort(data, axis=dim, kind="stable")
    n = data.shape[dim]
    flipped = xp.flip(data, axis=dim)
    order = xp.argsort(flipped, axis=dim, kind="stable")
    return (n - 1 - xp.flip(order, axis=dim)).astype(numpy.int64)


def _picked(input: Tensor, dim: int, positions: Any) -> ValuesIndices:
    positions = positions.astype(numpy.int64, copy=False)
    return ValuesIndices(Gather.apply(input, index=positions, dim=dim), constant(positions))


def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False, *,
         axis: int | None = None) -> ValuesIndices:
    """Sorted values along ``dim`` (or NumPy's ``axis``) and where they came from: (values, indices).

    Equal elements keep their order (always stable). NaN sorts as the largest value.
    """
    input = as_tensor(input)
    dim = dim if axis is None else axis
    if input.ndim == 0:
        return ValuesIndices(input * 1 if input.requires_grad else input,
                             constant(input.xp.zeros((), dtype=numpy.int64)))
    dim = dim_index(dim, input.ndim, "sort")
    return _picked(input, dim, _order(input.xp, input.data, dim, descending))


def argsort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False, *,
            axis: int | None = None) -> Tensor:
    """The indices that sort ``input`` along ``dim`` (int64)."""
    return sort(input, dim, descending, stable, axis=axis).indices


def msort(input: Tensor) -> Tensor:
    """``input`` sorted along dim 0."""
    return sort(input, 0).values


def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> ValuesIndices:
    """The ``k`` largest (or smallest) values along ``dim`` and their indices, largest first."""
    input = as_tensor(input)
    dim = dim_index(dim, max(input.ndim, 1), "topk")
    length = input.shape[dim] if input.ndim else 1
    if not 0 <= k <= length:
        raise ShapeError(f"topk: k={k} is out of range for dim {dim} of size {length} "
                         f"(input shape {input.shape})")
    if input.ndim == 0:
        return sort(input)
    order = _order(input.xp, input.data, dim, descending=largest)
    keep = (slice(None),) * dim + (slice(0, k),)
    return _picked(input, dim, order[keep])


def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False) -> ValuesIndices:
    """The k-th smallest value along ``dim`` (k counts from 1) and its index."""
    input = as_tensor(input)
    dim = dim_index(dim, max(input.ndim, 1), "kthvalue")
    length = input.shape[dim] if input.ndim else 1
    if not 1 <= k <= length:
        raise ShapeError(f"kthvalue: k={k} is out of range for dim {dim} of size {length}; "
                         "k counts from 1")
    if input.ndim == 0:
        return sort(input)
    order = _order(input.xp, input.data, dim, descending=False)
    values, indices = _picked(input, dim, order[(slice(None),) * dim + (slice(k - 1, k),)])
    if not keepdim:
        values, indices = values.squeeze(dim), indices.squeeze(dim)
    return ValuesIndices(values, indices)


def median(input: Tensor, dim: int | None = None, keepdim: bool = False) -> Any:
    """The lower median: of all elements (a 0-d tensor), or along ``dim`` as (values, indices)."""
    input = as_tensor(input)
    if dim is None:
        flat = input.reshape(-1)
        if flat.shape[0] == 0:
            return constant(input.xp.asarray(numpy.nan, dtype=input.dtype))
        return kthvalue(flat, (flat.shape[0] + 1) // 2).values
    dim = dim_index(dim, max(input.ndim, 1), "median")
    length = input.shape[dim] if input.ndim else 1
    return kthvalue(input, (length + 1) // 2, dim, keepdim)


def mode(input: Tensor, dim: int = -1, keepdim: bool = False) -> ValuesIndices:
    """The most frequent value along ``dim`` (the smallest among equally frequent ones) and
    the index of its last occurrence."""
    input = as_tensor(input)
    if input.ndim == 0:
        return sort(input)
    dim = dim_index(dim, input.ndim, "mode")
    xp = input.xp
    data = xp.moveaxis(input.data, dim, -1)
    ordered = xp.sort(data, axis=-1)
    # how many times each element occurs in its row, by comparing every pair
    counts = (data[..., :, None] == data[..., None, :]).sum(axis=-1)
    best = counts.max(axis=-1, keepdims=True)
    is_mode_value = counts == best
    # the smallest value among the most frequent: sort candidates, take the first
    candidate = xp.where(is_mode_value, data, ordered[..., -1:])
    value = candidate.min(axis=-1, keepdims=True)
    hits = data == value
    last = data.shape[-1] - 1 - xp.argmax(xp.flip(hits, axis=-1), axis=-1)
    positions = xp.moveaxis(last[..., None], -1, dim)
    values, indices = _picked(input, dim, positions)
    if not keepdim:
        values, indices = values.squeeze(dim), indices.squeeze(dim)
    return ValuesIndices(values, indices)


def unique(input: Tensor, sorted: bool = True, return_inverse: bool = False,
           return_counts: bool = False, dim: int | None = None) -> Any:
    """The distinct values (sorted); optionally where each element went and how often each occurs."""
    input = as_tensor(input)
    xp = input.xp
    if dim is None:
        values, inverse, counts = xp.unique(input.data.reshape(-1), return_inverse=True,
                                            return_counts=True)
        inverse = inverse.reshape(input.shape)
    else:
        dim = dim_index(dim, input.ndim, "unique")
        values, inverse, counts = xp.unique(input.data, return_inverse=True, return_counts=True,
                                            axis=dim)
        inverse = inverse.reshape(-1)
    result = [constant(values)]
    if return_inverse:
        result.append(constant(inverse.astype(numpy.int64)))
    if return_counts:
        result.append(constant(counts.astype(numpy.int64)))
    return result[0] if len(result) == 1 else tuple(result)


def unique_consecutive(input: Tensor, return_inverse: bool = False,
                       return_counts: bool = False) -> Any:
    """Collapse runs of equal values in the flattened input (no sorting)."""
    input = as_tensor(input)
    xp = input.xp
    flat = input.data.reshape(-1)
    starts = xp.ones(flat.shape, dtype=bool)
    starts[1:] = flat[1:] != flat[:-1]
    result = [constant(flat[starts])]
    if return_inverse:
        result.append(constant((xp.cumsum(starts) - 1).astype(numpy.int64).reshape(input.shape)))
    if return_counts:
        edges = xp.concatenate([xp.nonzero(starts)[0], xp.asarray([flat.shape[0]])])
        result.append(constant(xp.diff(edges).astype(numpy.int64)))
    return result[0] if len(result) == 1 else tuple(result)


def searchsorted(sorted_sequence: Tensor, values: Any, *, out_int32: bool = False,
                 right: bool = False, side: str | None = None) -> Tensor:
    """Where ``values`` would go in each row of ``sorted_sequence`` to keep it sorted."""
    sorted_sequence = as_tensor(sorted_sequence)
    xp = sorted_sequence.xp
    scalar = not isinstance(values, Tensor) and not hasattr(values, "shape")
    values = as_tensor(values, sorted_sequence)
    side = side or ("right" if right else "left")
    dtype = numpy.int32 if out_int32 else numpy.int64
    if sorted_sequence.ndim <= 1:
        out = xp.searchsorted(sorted_sequence.data, values.data, side=side)
        return constant(out.astype(dtype) if not scalar else xp.asarray(out, dtype=dtype))
    if sorted_sequence.shape[:-1] != values.shape[:-1]:
        raise ShapeError(f"searchsorted: sorted_sequence {sorted_sequence.shape} and values "
                         f"{values.shape} must agree in all but the last dim")
    rows_seq = sorted_sequence.data.reshape(-1, sorted_sequence.shape[-1])
    rows_val = values.data.reshape(-1, values.shape[-1])
    out = xp.stack([xp.searchsorted(s, v, side=side) for s, v in zip(rows_seq, rows_val)])
    return constant(out.reshape(values.shape).astype(dtype))


def bucketize(input: Any, boundaries: Tensor, *, out_int32: bool = False,
              right: bool = False) -> Tensor:
    """The bucket of each element given sorted 1-D ``boundaries`` (right=True: b[i-1] <= x < b[i])."""
    boundaries = as_tensor(boundaries)
    if boundaries.ndim != 1:
        raise ShapeError(f"bucketize: boundaries must be 1-D, got shape {boundaries.shape}")
    return searchsorted(boundaries, input, out_int32=out_int32,
                        side="left" if not right else "right")


# ---------------------------------------------------------------------------------------------
# Random selection, from tinydl's one generator
# ---------------------------------------------------------------------------------------------


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *,
                generator_: Any = None) -> Tensor:
    """Draw ``num_samples`` category indices per row with probabilities proportional to ``input``."""
    input = as_tensor(input)
    probs = backend.to_numpy(input.data).astype(numpy.float64)
    if input.ndim not in (1, 2) or (probs < 0).any() or not numpy.isfinite(probs).all():
        raise ValueError(f"multinomial: input must be a 1-D or 2-D tensor of non-negative finite "
                         f"weights, got shape {input.shape}")
    rows = probs.reshape(-1, probs.shape[-1])
    if (rows.sum(axis=1) <= 0).any():
        raise ValueError("multinomial: every row needs a positive total weight")
    if not replacement and num_samples > (rows > 0).sum(axis=1).min():
        raise ValueError(f"multinomial: cannot draw {num_samples} samples without replacement "
                         "from a row with fewer non-zero weights; pass replacement=True")
    rng = generator()
    drawn = numpy.stack([rng.choice(len(r), size=num_samples, replace=replacement, p=r / r.sum())
                         for r in rows])
    drawn = drawn.reshape(probs.shape[:-1] + (num_samples,)).astype(numpy.int64)
    return Tensor(drawn, device=input.device)


def bernoulli(input: Tensor, p: float | None = None) -> Tensor:
    """1 with probability ``input`` (or ``p``) per element, else 0; input's shape and dtype."""
    input = as_tensor(input)
    probs = backend.to_numpy(input.data) if p is None else numpy.full(input.shape, p)
    if (probs < 0).any() or (probs > 1).any():
        raise ValueError("bernoulli: probabilities must lie in [0, 1]")
    draws = generator().random(input.shape) < probs
    dtype = input.dtype if input.dtype.kind == "f" else numpy.float32
    return Tensor(draws.astype(dtype), dtype=dtype, device=input.device)


def bincount(input: Tensor, weights: Any = None, minlength: int = 0) -> Tensor:
    """How often each value 0, 1, 2, ... occurs in the 1-D non-negative int ``input``
    (summing ``weights`` instead of counting ones when given)."""
    input = as_tensor(input)
    if input.ndim != 1 or input.dtype.kind not in "iu" or (input.data < 0).any():
        raise ValueError(f"bincount: needs a 1-D tensor of non-negative integers, got shape "
                         f"{input.shape} and dtype {input.dtype}")
    xp = input.xp
    if weights is None:
        return constant(xp.bincount(input.data, minlength=minlength).astype(numpy.int64))
    weights = as_tensor(weights)
    length = max(int(input.data.max()) + 1 if input.shape[0] else 0, minlength)
    dtype = weights.dtype if weights.dtype.kind == "f" else numpy.dtype(numpy.float64)
    zeros = constant(xp.zeros((length,), dtype=dtype))
    return scatter_add(zeros, 0, input, weights.to(dtype) if weights.dtype != dtype else weights)


def histc(input: Tensor, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:
    """Counts of ``input`` in ``bins`` equal-width bins over [min, max] (the data's range when
    both are 0); values outside are ignored. Same float dtype as input."""
    input = as_tensor(input)
    xp = input.xp
    low, high = float(min), float(max)
    if low == high == 0 and input.numel():
        low, high = float(input.data.min()), float(input.data.max())
    if low == high:
        low, high = low - 1, high + 1
    counts, _ = xp.histogram(input.data.reshape(-1), bins=bins, range=(low, high))
    return constant(counts.astype(input.dtype if input.dtype.kind == "f" else numpy.float32))


def index_fill(input: Tensor, dim: int, index: Any, value: Any) -> Tensor:
    """A copy of ``input`` with the slices at ``index`` along ``dim`` set to ``value``."""
    from tinydl.ops.elementwise import where  # sibling module

    input = as_tensor(input)
    dim = dim_index(dim, input.ndim, "index_fill")
    index = index_array(index, input, "index_fill").reshape(-1)
    xp = input.xp
    chosen = xp.zeros(input.shape[dim], dtype=bool)
    chosen[index] = True
    view = [1] * input.ndim
    view[dim] = -1
    return where(chosen.reshape(view), value, input)
