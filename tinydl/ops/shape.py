"""Shape primitives: reshape, transpose, broadcast, concatenate/split, indexing, pad, moves.

These move numbers around without changing them, so each backward moves the gradient back:
reshape back, transpose with the inverse permutation, scatter-add for indexing, slice for pad.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tinydl import backend
from tinydl.autograd import Context, Function
from tinydl.backend import get_array_module
from tinydl.errors import ShapeError
from tinydl.kernels import registry
from tinydl.ops.common import as_tensor, normalize_axes
from tinydl.tensor import Tensor


def _shape_arg(shape: Sequence[Any]) -> tuple:
    """Accept ``f(2, 3)`` as well as ``f((2, 3))``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


class Reshape(Function):
    """the same elements in a new shape"""

    returns_view = True

    @staticmethod
    def forward(ctx: Context, a: Any, shape: tuple = ()) -> Any:
        return a.reshape(shape)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        return grad.reshape(ctx.graph_inputs[0].shape)


class Transpose(Function):
    """axes permuted"""

    returns_view = True

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

    returns_view = True

    @staticmethod
    def forward(ctx: Context, a: Any, shape: tuple = ()) -> Any:
        return get_array_module(a).broadcast_to(a, shape)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> Tensor:
        from tinydl.ops.reduce import sum_to  # reduce imports this module

        return sum_to(grad, ctx.graph_inputs[0].shape)


class Concatenate(Function):
    """inputs joined along ``axis``"""

    @staticmethod
    def forward(ctx: Context, *arrays: Any, axis: int = 0) -> Any:
        return get_array_module(arrays[0]).concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> tuple:
        axis = ctx.params["axis"]
        grads, start = [], 0
        for tensor in ctx.graph_inputs:
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
        a = ctx.graph_inputs[0]
        return ScatterAdd.apply(grad, index=ctx.params["index"], shape=a.shape)


class BasicGetItem(GetItem):
    """a[index] with only ints, slices, None and Ellipsis: a view of a's memory"""

    returns_view = True

    @classmethod
    def op_name(cls) -> str:
        return "getitem"


class SetItem(Function):
    """a copy of a with ``value`` written at ``index`` (a[index] = value, recorded)"""

    promotion = "common"

    @staticmethod
    def forward(ctx: Context, a: Any, value: Any, index: Any = None) -> Any:
        out = a.copy()
        out[index] = value.astype(a.dtype, copy=False)
        return out

    @staticmethod
    def backward(ctx: Context, grad: Tensor) -> tuple:
        index = ctx.params["index"]
        grad_a = grad_value = None
        if ctx.needs_input_grad[0]:  # the overwritten elements no longer reach the output
            keep = grad.xp.ones(grad.shape, dtype=grad.dtype)
            keep[index] = 0
            grad_a = grad * keep
        if ctx.needs_input_grad[1]:  # summed back to value's shape by the engine
            grad_value = GetItem.apply(grad, index=index)
        return grad_a, grad_value


class ScatterAdd(Function):
    """zeros(shape) with ``a`` added at ``index`` (the adjoint of indexing)"""

    @staticmethod
    def forward(ctx: Context, a: Any, index: Any = None, shape: tuple = ()) -> Any:
        xp = get_array_module(a)
        out = xp.zeros(shape, dtype=a.dtype)
        if getattr(index, "dtype", None) is not None and index.dtype.kind in "iu":  # rows
            registry.get("scatter_add_rows", backend.backend_of(a).device_type)(out, index, a)
        elif _has_integer_arrays(index):
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
        return to_device(grad, ctx.graph_inputs[0].device)


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
        import numpy  # a user's list index becomes an array on the host

        return numpy.asarray(index)
    return index


def scatter_add_rows_reference(out: Any, rows: Any, values: Any) -> Any:
    """out[rows[i]] += values[i] for every position i of ``rows``, in place; returns out.

    out (R, *row_shape); rows an integer array (*index_shape) of row numbers (negative ones
    count from the end), repeats allowed: their values add up; values
    (*index_shape, *row_shape). An embedding's backward: rows are the token ids.
    """
    get_array_module(out).add.at(out, rows, values)
    return out


registry.register("scatter_add_rows", "numpy", scatter_add_rows_reference)


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
    a = as_tensor(a)
    if a.ndim == 0:
        return reshape(a, 1)
    start, end = start_dim % a.ndim, end_dim % a.ndim
    merged = 1
    for n in a.shape[start:end + 1]:
        merged *= n
    return reshape(a, a.shape[:start] + (merged,) + a.shape[end + 1:])


def permute(a: Tensor, *dims: Any) -> Tensor:
    """Reorder all dims: permute(x, 0, 3, 1, 2) or permute(x, (0, 3, 1, 2))."""
    a = as_tensor(a)
    axes = _shape_arg(dims)
    if sorted(i % max(a.ndim, 1) for i in axes) != list(range(a.ndim)) or not all(
            -a.ndim <= i < max(a.ndim, 1) for i in axes):
        raise ShapeError(f"permute: {axes} is not a permutation of the {a.ndim} dims of a "
                         f"tensor of shape {a.shape}")
    axes = tuple(i % max(a.ndim, 1) for i in axes)
    if axes == tuple(range(a.ndim)):
        return a
    return Transpose.apply(a, axes=axes)


def transpose(a: Tensor, *dims: Any) -> Tensor:
    """transpose(x, d0, d1) swaps two dims, as in PyTorch (for any number of dims).

    NumPy's forms are kept: transpose(x) reverses all dims, transpose(x, (2, 0, 1)) permutes.
    """
    a = as_tensor(a)
    if len(dims) == 2:
        return swapaxes(a, dims[0], dims[1])
    if not dims:
        return permute(a, tuple(reversed(range(a.ndim))))
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        return permute(a, dims[0])
    raise ShapeError(f"transpose: give two dims to swap (transpose(0, 1)), got {dims}; use "
                     "permute(...) to reorder all dims")


def swapaxes(a: Tensor, axis1: int, axis2: int) -> Tensor:
    """Swap two dims: (..., m, n) -> (..., n, m) for swapaxes(-1, -2)."""
    a = as_tensor(a)
    dims = [normalize_axes(d, a.ndim, "transpose") for d in (axis1, axis2)]
    if a.ndim == 0:  # dims 0 and -1 name the one "dim" of a 0-d tensor, as in PyTorch
        return a
    axes = list(range(a.ndim))
    first, second = dims[0][0], dims[1][0]
    axes[first], axes[second] = axes[second], axes[first]
    return permute(a, tuple(axes))


swapdims = swapaxes


def movedim(a: Tensor, source: Any, destination: Any) -> Tensor:
    """Move dim(s) ``source`` to position(s) ``destination``, keeping the others' order."""
    a = as_tensor(a)
    sources = (source,) if isinstance(source, int) else tuple(source)
    targets = (destination,) if isinstance(destination, int) else tuple(destination)
    if len(sources) != len(targets):
        raise ShapeError(f"movedim: {len(sources)} source dims but {len(targets)} destinations")
    sources = tuple(normalize_axes(d, a.ndim, "movedim")[0] for d in sources)
    targets = tuple(normalize_axes(d, a.ndim, "movedim")[0] for d in targets)
    rest = iter(i for i in range(a.ndim) if i not in sources)
    placed = dict(zip(targets, sources))
    return permute(a, tuple(placed[i] if i in placed else next(rest) for i in range(a.ndim)))


def t(a: Tensor) -> Tensor:
    """The transpose of a matrix; 0-d and 1-d tensors are returned as they are (PyTorch)."""
    a = as_tensor(a)
    if a.ndim > 2:
        raise ShapeError(f"t: expects a tensor with at most 2 dims, got shape {a.shape}; use "
                         "transpose(d0, d1) or mT for batches of matrices")
    return swapaxes(a, 0, 1) if a.ndim == 2 else a


def squeeze(a: Tensor, axis: Any = None, *, dim: Any = None) -> Tensor:
    """Drop size-1 dims (all of them, or the given ones; a given dim whose size is not 1 is
    left alone, as in PyTorch)."""
    a = as_tensor(a)
    axes = normalize_axes(axis if dim is None else dim, a.ndim, "squeeze")
    if axes is None:
        axes = tuple(i for i, n in enumerate(a.shape) if n == 1)
    return reshape(a, tuple(n for i, n in enumerate(a.shape) if i not in axes or n != 1))


def unsqueeze(a: Tensor, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Insert a size-1 dim at ``dim``: (3, 4).unsqueeze(0) -> (1, 3, 4)."""
    a = as_tensor(a)
    dim = _dim_or_axis("unsqueeze", dim, axis)
    ndim = a.ndim + 1
    if not -ndim <= dim < ndim:
        raise ShapeError(f"unsqueeze: dim {dim} is out of range for a result with {ndim} dims "
                         f"(valid: {-ndim}..{ndim - 1})")
    dim %= ndim
    return reshape(a, a.shape[:dim] + (1,) + a.shape[dim:])


def _dim_or_axis(op: str, dim: Any, axis: Any, default: Any = None) -> Any:
    """PyTorch's ``dim=`` with NumPy's ``axis=`` as an alias."""
    if dim is not None and axis is not None and dim != axis:
        raise TypeError(f"{op}: give dim= or axis= (the same thing), not both")
    chosen = dim if dim is not None else axis
    if chosen is None:
        if default is None:
            raise TypeError(f"{op}: missing the dim argument")
        return default
    return chosen


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


def concatenate(tensors: Sequence[Tensor], dim: int | None = None, *,
                axis: int | None = None) -> Tensor:
    """Join tensors along an existing dim (``dim=`` or ``axis=``, default 0); others must match."""
    axis = _dim_or_axis("cat", dim, axis, 0)
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ShapeError("concatenate: needs at least one tensor")
    first = tensors[0]
    if first.ndim == 0:
        raise ShapeError("cat: zero-dimensional tensors cannot be concatenated; use stack")
    axis = normalize_axes(axis, first.ndim, "concatenate")[0]
    for t in tensors[1:]:
        if t.ndim != first.ndim or any(n != m for i, (n, m) in enumerate(zip(t.shape, first.shape))
                                       if i != axis):
            shapes = ", ".join(str(x.shape) for x in tensors)
            raise ShapeError(f"concatenate: shapes {shapes} differ outside axis {axis}")
    if len({t.dtype for t in tensors}) > 1:  # PyTorch promotes the inputs to one dtype
        from tinydl.promotion import result_type  # promotion imports tensor

        dtype = result_type(*tensors)
        tensors = [t.astype(dtype) for t in tensors]
    return Concatenate.apply(*tensors, axis=axis)


cat = concatenate


def stack(tensors: Sequence[Tensor], dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """Join same-shaped tensors along a new dim: n × (3, 4) -> (n, 3, 4) for dim=0."""
    axis = _dim_or_axis("stack", dim, axis, 0)
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ShapeError("stack: needs at least one tensor")
    shapes = {t.shape for t in tensors}
    if len(shapes) != 1:
        raise ShapeError(f"stack: all tensors must have one shape, got {sorted(shapes)}")
    return concatenate([unsqueeze(t, axis) for t in tensors], axis=axis)


def split(a: Tensor, split_size_or_sections: Any, dim: int | None = None, *,
          axis: int | None = None) -> tuple:
    """Cut along ``dim`` into pieces of a size (int) or of the given sizes (list), as PyTorch."""
    a = as_tensor(a)
    axis = normalize_axes(_dim_or_axis("split", dim, axis, 0), a.ndim, "split")[0]
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


def chunk(a: Tensor, chunks: int, dim: int | None = None, *, axis: int | None = None) -> tuple:
    """Cut into ``chunks`` nearly equal pieces along ``dim``."""
    a = as_tensor(a)
    axis = _dim_or_axis("chunk", dim, axis, 0)
    length = a.shape[axis]
    return split(a, -(-length // chunks), axis)


def getitem(a: Tensor, index: Any) -> Tensor:
    """a[index] with ints, slices, None, Ellipsis, integer arrays or boolean masks.

    Placement of the dims an index array makes follows PyTorch: in ``x[1, :, idx]`` the int
    selects first, so idx's dims stay where idx is (NumPy would move them to the front).
    """
    a = as_tensor(a)
    index = _move_index(index_to_arrays(index), a.xp, a.device)
    steps = _torch_index_steps(index)
    if steps is not None:
        return getitem(getitem(a, steps[0]), steps[1])
    if _is_basic(index):
        return BasicGetItem.apply(a, index=index)
    return GetItem.apply(a, index=index)


def setitem(a: Tensor, index: Any, value: Any) -> Tensor:
    """A copy of ``a`` with ``value`` written at ``index`` (differentiable in both)."""
    index = _move_index(index_to_arrays(index), a.xp, a.device)
    steps = _torch_index_steps(index)
    if steps is not None:  # write through the basic part's view: a[ints][arrays] = value
        inner = setitem(getitem(a, steps[0]), steps[1], value)
        return setitem(a, steps[0], inner)
    return SetItem.apply(a, value, index=index)


def assign_at(array: Any, index: Any, value: Any) -> None:
    """array[index] = value on raw arrays, with PyTorch's placement of index-array dims."""
    xp = get_array_module(array)
    index = _move_index(index_to_arrays(index), xp, backend.device_of(array))
    if hasattr(value, "ndim") and value.ndim and get_array_module(value) is not xp:
        value = backend.to_device(value, backend.device_of(array))
    steps = _torch_index_steps(index)
    if steps is not None:
        array[steps[0]][steps[1]] = value  # the basic part is a view, so this writes through
    else:
        array[index] = value


def _is_array_index(part: Any) -> bool:
    return hasattr(part, "dtype") and part.ndim > 0


def _is_basic(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return not any(hasattr(p, "dtype") for p in parts) and not any(
        isinstance(p, bool) for p in parts)


def _torch_index_steps(index: Any) -> tuple | None:
    """Split an index mixing ints and index arrays into (basic part, array part), or None.

    NumPy treats an int next to an index array as one more index array, which moves the
    result's array dims to the front when a slice separates them; PyTorch selects with the
    ints first. Indexing with the basic part, then the rest, gives PyTorch's placement.
    """
    if not isinstance(index, tuple):
        return None
    has_int = any(isinstance(p, int) and not isinstance(p, bool) for p in index)
    if not has_int or not any(_is_array_index(p) for p in index):
        return None
    basic, rest = [], []
    for part in index:
        if isinstance(part, int) and not isinstance(part, bool):
            basic.append(part)
        elif _is_array_index(part):
            width = part.ndim if part.dtype == bool else 1  # a mask covers mask.ndim dims
            basic.extend([slice(None)] * width)
            rest.append(part)
        elif part is None:
            basic.append(None)
            rest.append(slice(None))
        elif part is Ellipsis:
            basic.append(Ellipsis)
            rest.append(Ellipsis)
        else:
            basic.append(part)
            rest.append(slice(None))
    return tuple(basic), tuple(rest)


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
    return Copy.apply(as_tensor(a))


def to_device(a: Tensor, device: Any) -> Tensor:
    """``a`` on ``device`` (itself when already there)."""
    device = backend.Device(device)
    if a.device == device:
        return a
    device.backend  # noqa: B018 (raises a clear error when the device is unavailable)
    return ToDevice.apply(a, device=device)
