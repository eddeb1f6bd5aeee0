"""Rearranging elements: flip, roll, rotate, repeat, triangles and diagonals, splitting, grids.

Only ``Flip`` is a new primitive (its backward is flip again); the rest are compositions of
indexing, reshape, broadcast, concatenate and where, so their gradients come for free.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy

from tinydl import backend
from tinydl.autograd import Context, Function
from tinydl.backend import get_array_module
from tinydl.errors import ShapeError
from tinydl.ops.common import as_tensor, normalize_axes
from tinydl.ops.elementwise import where
from tinydl.ops.shape import concatenate, pad, reshape, split, stack
from tinydl.tensor import Tensor


def _dims(dims: Any) -> tuple:
    return (dims,) if isinstance(dims, (int, numpy.integer)) else tuple(dims)


class Flip(Function):
    """the order of elements reversed along ``axes``"""

    @staticmethod
    def forward(ctx: Context, a: Any, axes: tuple = ()) -> Any:
        return get_array_module(a).flip(a, axis=axes).copy()

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        return Flip.apply(grad, axes=ctx.params["axes"])


def flip(input: Any, dims: Any) -> Tensor:  # PyTorch's argument names
    """Reverse the order along each of ``dims``: flip([1, 2, 3], 0) -> [3, 2, 1]."""
    input = as_tensor(input)
    axes = normalize_axes(_dims(dims), input.ndim, "flip") if input.ndim else ()
    return Flip.apply(input, axes=axes) if axes else input * 1


def fliplr(input: Any) -> Tensor:
    """Reverse dim 1 (left-right), for tensors with at least 2 dims."""
    input = as_tensor(input)
    if input.ndim < 2:
        raise ShapeError(f"fliplr: needs at least 2 dims, got shape {input.shape}")
    return flip(input, 1)


def flipud(input: Any) -> Tensor:
    """Reverse dim 0 (up-down)."""
    input = as_tensor(input)
    if input.ndim < 1:
        raise ShapeError("flipud: needs at least 1 dim, got a 0-d tensor")
    return flip(input, 0)


def roll(input: Any, shifts: Any, dims: Any = None) -> Tensor:
    """Shift elements along ``dims`` by ``shifts``, wrapping around (flattened when dims=None)."""
    input = as_tensor(input)
    if dims is None:
        return roll(input.reshape(-1), shifts, 0).reshape(input.shape)
    shifts, dims = _dims(shifts), _dims(dims)
    if len(shifts) != len(dims):
        raise ShapeError(f"roll: {len(shifts)} shifts for {len(dims)} dims; give one shift per dim")
    out = input
    for shift, dim in zip(shifts, dims):
        dim = normalize_axes(dim, input.ndim, "roll")[0]
        n = input.shape[dim]
        shift = shift % n if n else 0
        if shift:
            head, tail = split(out, [n - shift, shift], dim)
            out = concatenate([tail, head], axis=dim)
    return out


def rot90(input: Any, k: int = 1, dims: Sequence[int] = (0, 1)) -> Tensor:
    """Rotate by 90° k times in the plane of ``dims`` (from the first toward the second)."""
    input = as_tensor(input)
    if len(dims) != 2 or input.ndim < 2:
        raise ShapeError(f"rot90: needs two dims of a tensor with at least 2 dims, got dims "
                         f"{tuple(dims)} for shape {input.shape}")
    a, b = (d % input.ndim for d in dims)
    if a == b:
        raise ShapeError(f"rot90: the two dims must differ, got {tuple(dims)}")
    k %= 4
    if k == 0:
        return input * 1
    if k == 2:
        return flip(input, (a, b))
    swapped = input.swapaxes(a, b)
    return flip(swapped, a) if k == 1 else flip(input, a).swapaxes(a, b)


def repeat(input: Any, *sizes: Any) -> Tensor:
    """Tile the whole tensor ``sizes`` times per dim (PyTorch's Tensor.repeat, NumPy's tile).

    (2, 3).repeat(2, 1, 2) -> (2, 4, 6): sizes may add leading dims.
    """
    input = as_tensor(input)
    sizes = sizes[0] if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
    sizes = tuple(int(s) for s in sizes)
    if len(sizes) < input.ndim:
        raise ShapeError(f"repeat: {len(sizes)} repeat counts for a tensor with {input.ndim} dims; "
                         "give at least one per dim")
    shape = (1,) * (len(sizes) - input.ndim) + input.shape
    # (n0, n1) -> (1, n0, 1, n1) -> broadcast (r0, n0, r1, n1) -> (r0*n0, r1*n1)
    spread = input.reshape(tuple(x for n in shape for x in (1, n)))
    tiled = spread.broadcast_to(tuple(x for r, n in zip(sizes, shape) for x in (r, n)))
    return tiled.reshape(tuple(r * n for r, n in zip(sizes, shape)))


def tile(input: Any, dims: Sequence[int]) -> Tensor:
    """Like repeat, but fewer counts than dims pad with 1s in front."""
    input = as_tensor(input)
    dims = _dims(dims)
    dims = (1,) * (input.ndim - len(dims)) + tuple(dims)
    return repeat(input, dims)


def repeat_interleave(input: Any, repeats: Any, dim: int | None = None, *,
                      output_size: int | None = None) -> Tensor:
    """Repeat each element ``repeats`` times (an int or one count per element) along ``dim``.

    [1, 2].repeat_interleave(2) -> [1, 1, 2, 2]; flattened when dim is None.
    """
    input = as_tensor(input)
    if dim is None:
        input, dim = input.reshape(-1), 0
    dim = normalize_axes(dim, input.ndim, "repeat_interleave")[0]
    xp = input.xp
    n = input.shape[dim]
    if isinstance(repeats, (int, numpy.integer)):
        counts = xp.full((n,), int(repeats), dtype=numpy.int64)
    else:  # a tensor, array or list of counts (on the host: they decide the result's shape)
        counts = xp.asarray(backend.as_numpy(repeats).reshape(-1).astype(numpy.int64))
    if counts.shape[0] == 1 and n != 1:  # one count for every element
        counts = xp.full((n,), int(counts[0]), dtype=numpy.int64)
    if counts.shape[0] != n:
        raise ShapeError(f"repeat_interleave: {counts.shape[0]} repeat counts for dim {dim} of "
                         f"size {n}")
    positions = xp.repeat(xp.arange(n), counts)
    return input[(slice(None),) * dim + (positions,)]


def _triangle(input: Any, diagonal: int, lower: bool, op: str) -> Tensor:
    input = as_tensor(input)
    if input.ndim < 2:
        raise ShapeError(f"{op}: needs a matrix (at least 2 dims), got shape {input.shape}")
    rows, cols = input.shape[-2:]
    xp = input.xp
    keep = xp.tri(rows, cols, diagonal, dtype=bool)
    if not lower:
        keep = ~xp.tri(rows, cols, diagonal - 1, dtype=bool)
    return where(keep, input, 0)


def tril(input: Any, diagonal: int = 0) -> Tensor:
    """The lower triangle (on and below ``diagonal``) of the last two dims; zeros above."""
    return _triangle(input, diagonal, True, "tril")


def triu(input: Any, diagonal: int = 0) -> Tensor:
    """The upper triangle (on and above ``diagonal``) of the last two dims; zeros below."""
    return _triangle(input, diagonal, False, "triu")


def diagonal(input: Any, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal of the planes (dim1, dim2), as a new last dim; those two dims go away."""
    input = as_tensor(input)
    a, b = normalize_axes(dim1, input.ndim, "diagonal")[0], normalize_axes(dim2, input.ndim,
                                                                             "diagonal")[0]
    if a == b:
        raise ShapeError(f"diagonal: dim1 and dim2 must differ, got {dim1} and {dim2}")
    rest = [d for d in range(input.ndim) if d not in (a, b)]
    moved = input.permute(rest + [a, b])
    rows, cols = input.shape[a], input.shape[b]
    length = max(0, min(rows + min(offset, 0), cols - max(offset, 0)))
    xp = input.xp
    steps = xp.arange(length)
    return moved[(Ellipsis, steps + max(-offset, 0), steps + max(offset, 0))]


_diagonal = diagonal  # (diag's argument is called diagonal too, as in PyTorch)


def diag_embed(input: Any, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices with the last dim of ``input`` on their diagonal (zeros elsewhere)."""
    input = as_tensor(input)
    n = input.shape[-1] + abs(offset)
    xp = input.xp
    mask = xp.eye(n, k=offset, dtype=bool)                        # (n, n)
    # place value i of the vector at row i (offset >= 0) or column i (offset < 0) of the mask
    widths = ((0, 0),) * (input.ndim - 1) + ((0, abs(offset)),)
    values = pad(input, widths) if offset else input
    spread = values.unsqueeze(-1) if offset >= 0 else values.unsqueeze(-2)
    out = where(mask, spread, 0)                                  # (..., n, n)
    ndim = out.ndim
    d1, d2 = dim1 % ndim, dim2 % ndim
    if (d1, d2) == (ndim - 2, ndim - 1):
        return out
    order = [d for d in range(ndim - 2)]
    final = [None] * ndim
    final[d1], final[d2] = ndim - 2, ndim - 1
    it = iter(order)
    final = [next(it) if f is None else f for f in final]
    return out.permute(final)


def diag(input: Any, diagonal: int = 0) -> Tensor:
    """1-D input: a square matrix with it on a diagonal. 2-D input: that diagonal as 1-D."""
    input = as_tensor(input)
    if input.ndim == 1:
        return diag_embed(input, diagonal)
    if input.ndim == 2:
        return _diagonal(input, diagonal)
    raise ShapeError(f"diag: needs a 1-D or 2-D tensor, got shape {input.shape}")


def trace(input: Any) -> Tensor:
    """Sum of the main diagonal of a 2-D tensor."""
    input = as_tensor(input)
    if input.ndim != 2:
        raise ShapeError(f"trace: needs a 2-D tensor, got shape {input.shape}")
    return diagonal(input).sum()


def narrow(input: Any, dim: int, start: int, length: int) -> Tensor:
    """``length`` elements from ``start`` along ``dim``: input.narrow(1, 2, 3) = input[:, 2:5]."""
    input = as_tensor(input)
    dim = normalize_axes(dim, input.ndim, "narrow")[0]
    n = input.shape[dim]
    start = int(start) + n if int(start) < 0 else int(start)
    if not (0 <= start <= n and 0 <= length and start + length <= n):
        raise ShapeError(f"narrow: start {start} + length {length} exceeds dim {dim} of size {n}")
    return input[(slice(None),) * dim + (slice(start, start + length),)]


def select(input: Any, dim: int, index: int) -> Tensor:
    """The slice at ``index`` along ``dim``, that dim removed: input.select(0, 1) = input[1]."""
    input = as_tensor(input)
    dim = normalize_axes(dim, input.ndim, "select")[0]
    return input[(slice(None),) * dim + (int(index),)]


def unbind(input: Any, dim: int = 0) -> tuple:
    """All slices along ``dim`` as a tuple: unbind((3, 4), 0) -> three tensors of shape (4,)."""
    input = as_tensor(input)
    dim = normalize_axes(dim, input.ndim, "unbind")[0]
    if input.shape[dim] == 0:
        return ()
    pieces = split(input, 1, dim)
    return tuple(reshape(p, input.shape[:dim] + input.shape[dim + 1:]) for p in pieces)


def tensor_split(input: Any, indices_or_sections: Any, dim: int = 0) -> tuple:
    """Split into n nearly equal parts (an int; the first ones one larger) or at given indices."""
    input = as_tensor(input)
    dim = normalize_axes(dim, input.ndim, "tensor_split")[0]
    n = input.shape[dim]
    if isinstance(indices_or_sections, Tensor):
        indices_or_sections = indices_or_sections.tolist()
    if isinstance(indices_or_sections, (int, numpy.integer)):
        parts = int(indices_or_sections)
        if parts <= 0:
            raise ShapeError(f"tensor_split: the number of sections must be positive, got {parts}")
        size, extra = divmod(n, parts)
        bounds, start = [], 0
        for i in range(parts):
            start += size + (1 if i < extra else 0)
            bounds.append(start)
        bounds = bounds[:-1]
    else:
        bounds = [int(i) for i in indices_or_sections]
    edges = [0] + [min(max(b if b >= 0 else b + n, 0), n) for b in bounds] + [n]
    return tuple(input[(slice(None),) * dim + (slice(lo, max(lo, hi)),)]
                 for lo, hi in zip(edges[:-1], edges[1:]))


def unflatten(input: Any, dim: int, sizes: Sequence[int]) -> Tensor:
    """Split dim ``dim`` into ``sizes`` (one may be -1): (2, 12).unflatten(1, (3, 4)) -> (2, 3, 4)."""
    input = as_tensor(input)
    dim = normalize_axes(dim, input.ndim, "unflatten")[0]
    sizes = tuple(sizes)
    known = 1
    for s in sizes:
        known *= s if s != -1 else 1
    if -1 in sizes:
        sizes = tuple(input.shape[dim] // known if s == -1 else s for s in sizes)
    elif known != input.shape[dim]:
        raise ShapeError(f"unflatten: sizes {sizes} multiply to {known}, but dim {dim} of shape "
                         f"{input.shape} has {input.shape[dim]}")
    return input.reshape(input.shape[:dim] + sizes + input.shape[dim + 1:])


def broadcast_tensors(*tensors: Any) -> tuple:
    """The tensors broadcast to their common shape."""
    tensors = [as_tensor(t) for t in tensors]
    try:
        shape = numpy.broadcast_shapes(*(t.shape for t in tensors))
    except ValueError:
        raise ShapeError(f"broadcast_tensors: shapes {[t.shape for t in tensors]} do not "
                         "broadcast together") from None
    return tuple(t.broadcast_to(shape) for t in tensors)


def broadcast_shapes(*shapes: Any) -> tuple:
    """The shape that ``shapes`` broadcast to."""
    return tuple(numpy.broadcast_shapes(*(tuple(s) if not isinstance(s, int) else (s,)
                                          for s in shapes)))


def meshgrid(*tensors: Any, indexing: str = "ij") -> tuple:
    """Coordinate grids from 1-D tensors: with 'ij' grid k varies along dim k ('xy': the first
    two swapped, as in NumPy and plotting)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    tensors = [as_tensor(t).reshape(-1) for t in tensors]
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    lengths = [t.shape[0] for t in tensors]
    order = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) >= 2:
        order[0], order[1] = 1, 0
    shape = tuple(lengths[i] for i in order)
    grids = []
    for k, t in enumerate(tensors):
        view = [1] * len(tensors)
        view[order.index(k)] = lengths[k]
        grids.append(t.reshape(view).broadcast_to(shape))
    return tuple(grids)


def cartesian_prod(*tensors: Any) -> Tensor:
    """Every combination of the 1-D tensors' elements, one per row: (n1 * n2 * ..., k)."""
    if len(tensors) == 1:
        return as_tensor(tensors[0]) * 1
    grids = meshgrid(*tensors, indexing="ij")
    return stack([g.reshape(-1) for g in grids], axis=1)


def atleast_1d(input: Any) -> Tensor:
    """``input`` with at least one dim."""
    input = as_tensor(input)
    return input.reshape(1) if input.ndim == 0 else input


def atleast_2d(input: Any) -> Tensor:
    """``input`` with at least two dims (new ones in front)."""
    input = atleast_1d(input)
    return input.unsqueeze(0) if input.ndim == 1 else input


def hstack(tensors: Sequence[Any]) -> Tensor:
    """Join along dim 1 (dim 0 for 1-D tensors)."""
    tensors = [atleast_1d(t) for t in tensors]
    return concatenate(tensors, axis=0 if tensors[0].ndim == 1 else 1)


def vstack(tensors: Sequence[Any]) -> Tensor:
    """Join along dim 0, 1-D tensors becoming rows."""
    return concatenate([atleast_2d(t) for t in tensors], axis=0)


row_stack = vstack


def column_stack(tensors: Sequence[Any]) -> Tensor:
    """Join 1-D tensors as columns (2-D ones along dim 1)."""
    columns = [as_tensor(t) for t in tensors]
    columns = [c.reshape(-1, 1) if c.ndim <= 1 else c for c in columns]
    return concatenate(columns, axis=1)


def take(input: Any, index: Any) -> Tensor:
    """Elements of the flattened input at ``index`` (the result has index's shape)."""
    from tinydl.ops.selection import index_array  # selection imports math

    input = as_tensor(input)
    flat_index = index_array(index, input, "take")
    return input.reshape(-1)[flat_index]
