"""Small helpers the op modules share: lifting scalars to tensors, normalising axes."""
from __future__ import annotations

from typing import Any

import numpy

from tinydl import backend
from tinydl.errors import ShapeError
from tinydl.promotion import promote
from tinydl.tensor import Tensor


def as_tensor(value: Any, like: Tensor | None = None) -> Tensor:
    """``value`` as a Tensor; Python numbers and float arrays take ``like``'s float dtype.

    So ``x * 2.0`` stays float32 when x is float32 (no silent promotion to float64).
    """
    if isinstance(value, Tensor):
        return value
    if like is None:
        return Tensor(value)
    xp = like.xp
    like_is_float = like.dtype.kind == "f"
    if isinstance(value, (bool, int, float)) and not isinstance(value, numpy.generic):
        if isinstance(value, bool):
            dtype = numpy.bool_
        elif like_is_float or like.dtype.kind in "iu" and isinstance(value, int):
            dtype = like.dtype
        else:
            dtype = numpy.float32
        return Tensor._from_op(xp.asarray(value, dtype=dtype), None, 0)
    array = value if backend.get_array_module(value) is not numpy else numpy.asarray(value)
    if array.dtype.kind == "f" and like_is_float:
        array = array.astype(like.dtype, copy=False)
    return Tensor(backend.to_device(array, like.device), dtype=array.dtype)


def binary_operands(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands of a binary op as Tensors of PyTorch's result dtype (either may be a
    number or an array): see ``tinydl.promotion``."""
    return promote((a, b), "common")


def normalize_axes(axis: Any, ndim: int, op: str) -> tuple[int, ...] | None:
    """``axis`` (None, an int or a sequence) as a sorted tuple of non-negative ints."""
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, numpy.integer)) else tuple(axis)
    result = []
    for a in axes:
        if not -max(ndim, 1) <= a < max(ndim, 1):
            raise ShapeError(f"{op}: dim {a} is out of range for a tensor with {ndim} dims "
                             f"(valid: {-max(ndim, 1)}..{max(ndim, 1) - 1})")
        if ndim:  # a 0-d tensor accepts dim 0 or -1 (as in PyTorch) and has no axis to reduce
            result.append(int(a) % ndim)
    if len(set(result)) != len(result):
        raise ShapeError(f"{op}: axis {axis} repeats a dimension")
    return tuple(sorted(result))


def pick_axis(op: str, axis: Any, keepdims: bool, torch_names: dict) -> tuple[Any, bool]:
    """Accept PyTorch's ``dim=``/``keepdim=`` as well as NumPy's ``axis=``/``keepdims=``."""
    if not torch_names:
        return axis, bool(keepdims)
    for name in torch_names:
        if name not in ("dim", "keepdim"):
            raise TypeError(f"{op}() got an unexpected keyword argument {name!r}")
    if torch_names.get("dim") is not None:
        axis = torch_names["dim"]
    if torch_names.get("keepdim") is not None:
        keepdims = torch_names["keepdim"]
    return axis, bool(keepdims)
