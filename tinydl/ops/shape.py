"""Shape primitives: reshape, transpose, broadcast, concatenate/split, indexing, pad, moves.

These move numbers around without changing them, so each backward moves the gradient back:
reshape back, transpose with the inverse permutation, scatter-add for indexing, slice for pad.
"""
from __future__ import annotations

from typing import Any, Sequence

from tinydl import backend
from tinydl.autograd import Context, Function
from tinydl.backend import get_array_module
from tinydl.errors import ShapeError
from tinydl.ops.common import as_tensor, normalize_axes
from tinydl.tensor import Tensor


def _shape_arg(shape: Sequence[Any]) -> tuple:
    """Accept ``f(2, 3)`` as well as ``f((2, 3))``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


class Reshape(Function):
    """the same elements in a new shape"""

    @staticmethod
    def forward(ctx: Context, a: Any, shape: tuple = ()) -> Any:
        return a.reshape(shape)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        return grad.reshape(ctx.inputs[0].shape)


class Transpose(Function):
    """axes permuted"""

    @staticmethod
    def forward(ctx: Context, a: Any, axes: tuple = ()) -> Any:
        return a.transpose(axes)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        axes = ctx.params["axes"]
        inverse = tuple(sorted(range(len(axes)), key=axes.__getitem__))
        return grad.permute(inverse)


class BroadcastTo(Function):
    """a repeated along new or size-1 axes to ``shape``"""

    @staticmethod
    def forward(ctx: Context, a: Any, shape: tuple = ()) -> Any:
        return get_array_module(a).broadcast_to(a, shape)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        from tinydl.ops.reduce import sum_to  # noqa: PLC0415 (reduce imports this module)

        return sum_to(grad, ctx.inputs[0].shape)


class Concatenate(Function):
    """inputs joined along ``axis``"""

    @staticmethod
    def forward(ctx: Context, *arrays: Any, axis: int = 0) -> Any:
        return get_array_module(arrays[0]).concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> tuple:
        axis = ctx.params["axis"]
        grads, start = [], 0
        for tensor in ctx.inputs:
            stop = start + tensor.shape[axis]
            grads.append(grad[(slice(None),) * axis + (slice(start, stop),)])
            start = stop
        return tuple(grads)


class Split(Function):
    """a cut into pieces along ``axis`` at ``indices`` (several outputs)"""

    @staticmethod
    def forward(ctx: Context, a: Any, indices: tuple = (), axis: int = 0) -> tuple:
        return tuple(get_array_module(a).split(a, list(indices), axis=axis))

    @staticmethod
    def backward(ctx: Context, *grads: Tensor) -> Tensor:
        return concatenate(grads, axis=ctx.params["axis"])


class GetItem(Function):
    """a[index]; backward scatter-adds, so repeated indices accumulate"""

    @staticmethod
    def forward(ctx: Context, a: Any, index: Any = None) -> Any:
        return a[index]

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        a = ctx.inputs[0]
        return ScatterAdd.apply(grad, index=ctx.params["index"], shape=a.shape)


class ScatterAdd(Function):
    """zeros(shape) with ``a`` added at ``index`` (the adjoint of indexing)"""

    @staticmethod
    def forward(ctx: Context, a: Any, index: Any = None, shape: tuple = ()) -> Any:
        xp = get_array_module(a)
        out = xp.zeros(shape, dtype=a.dtype)
        if _has_integer_arrays(index):
            xp.add.at(out, index, a)  # repeated indices must add up, so no plain assignment
        else:
            out[index] = a
        return out

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        return GetItem.apply(grad, index=ctx.params["index"])


class Pad(Function):
    """a surrounded by ``value``; ``widths`` is ((before, after), ...) per axis"""

    @staticmethod
    def forward(ctx: Context, a: Any, widths: tuple = (), value: float = 0.0) -> Any:
        return get_array_module(a).pad(a, widths, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        widths = ctx.params["widths"]
        return grad[tuple(slice(before, n - after) for (before, after), n
                          in zip(widths, grad.shape))]


class Copy(Function):
    """a copy of a's data (gradient passes through)"""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        return a.copy()

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        return grad


class ToDevice(Function):
    """a moved to another device; the gradient moves back"""

    @staticmethod
    def forward(ctx: Context, a: Any, device: Any = None) -> Any:
        return backend.to_device(a, device)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        return to_device(grad, ctx.inputs[0].device)


# ---------------------------------------------------------------------------------------------
# Index helpers
# ---------------------------------------------------------------------------------------------


def index_to_arrays(index: Any) -> Any:
    """Replace Tensors inside an index by their arrays (lists become integer arrays)."""
    if isinstance(index, tuple):
        return tuple(index_to_arrays(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        import numpy  # noqa: PLC0415 (a user's list index becomes an array on the host)

        return numpy.asarray(index)
    return index


def _has_integer_arrays(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(hasattr(p, "dtype") and p.dtype.kind in "iu" and p.ndim > 0 for p in parts)


def _move_index(index: Any, xp: Any, device: Any) -> Any:
    """Index arrays must live where the data lives (a NumPy mask for a CuPy tensor, say)."""
    if isinstance(index, tuple):
        return tuple(_move_index(i, xp, device) for i in index)
    if hasattr(index, "dtype") and get_array_module(index) is not xp:
        return backend.to_device(index, device)
    return index


# ---------------------------------------------------------------------------------------------
# The functions users call
# ---------------------------------------------------------------------------------------------


def reshape(a: Tensor, *shape: Any) -> Tensor:
    """The same elements in ``shape`` (one entry may be -1: inferred)."""
    a = as_tensor(a)
    shape = _shape_arg(shape)
    if shape == a.data.shape:
        return a
    size = a.data.size
    known = 1
    for n in shape:
        known *= n if n != -1 else 1
    if shape.count(-1) > 1 or (-1 not in shape and known != size) or (
            -1 in shape and (known == 0 or size % known)):
        raise ShapeError(f"reshape: cannot reshape a tensor of shape {a.shape} ({size} elements) "
                         f"into {shape}; the sizes must multiply to {size}")
    return Reshape.apply(a, shape=shape)


def flatten(a: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims start_dim..end_dim into one: (N, C, H, W) -> (N, C*H*W) with start_dim=1."""
    if a.ndim == 0:
        return reshape(a, 1)
    start, end = start_dim % a.ndim, end_dim % a.ndim
    merged = 1
    for n in a.shape[start:end + 1]:
        merged *= n
    return reshape(a, a.shape[:start] + (merged,) + a.shape[end + 1:])


def transpose(a: Tensor, *axes: Any) -> Tensor:
    """Permute axes (reverse them when none are given)."""
    a = as_tensor(a)
    axes = _shape_arg(axes) or tuple(reversed(range(a.ndim)))
    if sorted(i % max(a.ndim, 1) for i in axes) != list(range(a.ndim)):
        raise ShapeError(f"transpose: {axes} is not a permutation of the {a.ndim} axes of a "
                         f"tensor of shape {a.shape}")
    axes = tuple(i % a.ndim for i in axes)
    return Transpose.apply(a, axes=axes)


permute = transpose


def swapaxes(a: Tensor, axis1: int, axis2: int) -> Tensor:
    """Swap two axes: (..., m, n) -> (..., n, m) for swapaxes(-1, -2)."""
    axes = list(range(a.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(a, tuple(axes))


def squeeze(a: Tensor, axis: Any = None) -> Tensor:
    """Drop size-1 axes (all of them, or the given ones)."""
    axes = normalize_axes(axis, a.ndim, "squeeze")
    if axes is None:
        axes = tuple(i for i, n in enumerate(a.shape) if n == 1)
    for i in axes:
        if a.shape[i] != 1:
            raise ShapeError(f"squeeze: axis {i} of shape {a.shape} has size {a.shape[i]}, not 1")
    return reshape(a, tuple(n for i, n in enumerate(a.shape) if i not in axes))


def unsqueeze(a: Tensor, axis: int) -> Tensor:
    """Insert a size-1 axis at ``axis``: (3, 4).unsqueeze(0) -> (1, 3, 4)."""
    ndim = a.ndim + 1
    if not -ndim <= axis < ndim:
        raise ShapeError(f"unsqueeze: axis {axis} is out of range for a result with {ndim} dims")
    axis %= ndim
    return reshape(a, a.shape[:axis] + (1,) + a.shape[axis:])


def broadcast_to(a: Tensor, *shape: Any) -> Tensor:
    """Repeat ``a`` along new leading or size-1 axes up to ``shape``."""
    a = as_tensor(a)
    shape = _shape_arg(shape)
    if shape == a.data.shape:
        return a
    lead = len(shape) - a.ndim
    if lead < 0 or any(n != 1 and n != m for n, m in zip(a.shape, shape[lead:])):
        raise ShapeError(f"broadcast_to: cannot broadcast shape {a.shape} to {shape}; each "
                         "dimension must match or be 1")
    return BroadcastTo.apply(a, shape=shape)


def concatenate(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis; other dims must match."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ShapeError("concatenate: needs at least one tensor")
    first = tensors[0]
    axis = normalize_axes(axis, first.ndim, "concatenate")[0]
    for t in tensors[1:]:
        if t.ndim != first.ndim or any(n != m for i, (n, m) in enumerate(zip(t.shape, first.shape))
                                       if i != axis):
            shapes = ", ".join(str(x.shape) for x in tensors)
            raise ShapeError(f"concatenate: shapes {shapes} differ outside axis {axis}")
    return Concatenate.apply(*tensors, axis=axis)


cat = concatenate


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis: n × (3, 4) -> (n, 3, 4) for axis=0."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ShapeError("stack: needs at least one tensor")
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ShapeError(f"stack: all tensors must have one shape, got {sorted(shapes)}")
    return concatenate([unsqueeze(t, axis) for t in tensors], axis=axis)


def split(a: Tensor, split_size_or_sections: Any, axis: int = 0) -> tuple:
    """Cut along ``axis`` into pieces of a size (int) or of the given sizes (list), as PyTorch."""
    axis = normalize_axes(axis, a.ndim, "split")[0]
    length = a.shape[axis]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size <= 0:
            raise ShapeError(f"split: piece size must be positive, got {size}")
        sizes = [size] * (length // size) + ([length % size] if length % size else [])
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != length:
            raise ShapeError(f"split: sizes {sizes} add up to {sum(sizes)}, but axis {axis} of "
                             f"shape {a.shape} has length {length}")
    indices, total = [], 0
    for size in sizes[:-1]:
        total += size
        indices.append(total)
    return Split.apply(a, indices=tuple(indices), axis=axis)


def chunk(a: Tensor, chunks: int, axis: int = 0) -> tuple:
    """Cut into ``chunks`` nearly equal pieces along ``axis``."""
    length = a.shape[axis]
    return split(a, -(-length // chunks), axis)


def getitem(a: Tensor, index: Any) -> Tensor:
    """a[index] with ints, slices, None, Ellipsis, integer arrays or boolean masks."""
    index = _move_index(index_to_arrays(index), a.xp, a.device)
    return GetItem.apply(a, index=index)


def pad(a: Tensor, pad_width: Any, value: float = 0.0) -> Tensor:
    """Pad with a constant; ``pad_width`` is NumPy's: an int, (before, after), or one per axis."""
    if isinstance(pad_width, int):
        widths = ((pad_width, pad_width),) * a.ndim
    elif len(pad_width) == 2 and all(isinstance(w, int) for w in pad_width):
        widths = (tuple(pad_width),) * a.ndim
    else:
        widths = tuple(tuple(w) for w in pad_width)
    if len(widths) != a.ndim or any(w < 0 for pair in widths for w in pair):
        raise ShapeError(f"pad: widths {pad_width} do not fit a tensor of shape {a.shape}; give "
                         "one non-negative (before, after) pair per axis")
    return Pad.apply(a, widths=widths, value=value)


def clone(a: Tensor) -> Tensor:
    """A copy of ``a`` that stays in the graph."""
    return Copy.apply(a)


def to_device(a: Tensor, device: Any) -> Tensor:
    """``a`` on ``device`` (itself when already there)."""
    device = backend.Device(device)
    if a.device == device:
        return a
    device.backend  # noqa: B018 (raises a clear error when the device is unavailable)
    return ToDevice.apply(a, device=device)
