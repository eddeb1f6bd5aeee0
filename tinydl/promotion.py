"""PyTorch's type promotion, in one place: which dtype ``a op b`` has.

The rules (``torch.result_type``):

* Categories are ordered bool < integer < float. Within a category the wider dtype wins
  (int32 + int64 -> int64, float32 + float64 -> float64); across categories the higher
  category's dtype wins (int64 + float32 -> float32, not NumPy's float64).
* Operands come in three tiers: tensors with dimensions, 0-d tensors, and Python numbers.
  A lower tier only counts when its category is higher than every higher tier's:
  ``float32 tensor * 2.5`` stays float32, ``int tensor + 0.5`` gives float32 (the default
  float dtype), ``float32 tensor * tensor(2.0, dtype=float64)`` stays float32.
* A Python bool is bool, an int is int64, a float is float32. NumPy scalars count as Python
  numbers of their kind, NumPy arrays as tensors (float64 arrays as float32: the float32 rule).
* "float" promotion (true division, exp, sqrt, ...) turns an integer or bool result into
  float32: ``arange(4) / 4`` is float32.

``Function.apply`` calls ``promote`` for every Function that sets ``promotion``, so each
elementwise op gets these rules without code of its own.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy

from tinydl import backend
from tinydl.tensor import DEFAULT_FLOAT, Tensor

_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}
_BOOL = numpy.dtype(bool)
_INT64 = numpy.dtype(numpy.int64)
_FLOAT = numpy.dtype(DEFAULT_FLOAT)


def promote_types(a: Any, b: Any) -> numpy.dtype:
    """The dtype both ``a`` and ``b`` (dtypes) convert to: PyTorch's ``promote_types``."""
    a, b = numpy.dtype(a), numpy.dtype(b)
    if a == b:
        return a
    category_a, category_b = _CATEGORY[a.kind], _CATEGORY[b.kind]
    if category_a != category_b:
        return a if category_a > category_b else b
    return numpy.promote_types(a, b)


def _combine(higher: Any, lower: Any) -> Any:
    """A higher tier's dtype, unless the lower tier brings a higher category."""
    if higher is None:
        return lower
    if lower is None or _CATEGORY[higher.kind] >= _CATEGORY[lower.kind]:
        return higher
    return promote_types(higher, lower)


def _scalar_dtype(value: Any) -> numpy.dtype | None:
    """The dtype a Python (or NumPy) number counts as; None when ``value`` is not a number."""
    if isinstance(value, (bool, numpy.bool_)):
        return _BOOL
    if isinstance(value, (int, numpy.integer)):
        return _INT64
    if isinstance(value, (float, numpy.floating)):
        return _FLOAT
    return None


def result_type(*operands: Any) -> numpy.dtype:
    """The dtype of an elementwise op on ``operands`` (Tensors, arrays or Python numbers)."""
    dimensioned = zero_dim = numbers = None
    for value in operands:
        if isinstance(value, Tensor):
            dtype, ndim = value.data.dtype, value.data.ndim
        elif hasattr(value, "dtype") and hasattr(value, "ndim") and not isinstance(
                value, numpy.generic):
            dtype, ndim = _array_dtype(value.dtype), value.ndim
        else:
            dtype = _scalar_dtype(value)
            if dtype is None:
                raise TypeError(f"cannot combine a {type(value).__name__} with tensors; "
                                "give a number, an array or a Tensor")
            numbers = dtype if numbers is None else promote_types(numbers, dtype)
            continue
        if ndim:
            dimensioned = dtype if dimensioned is None else promote_types(dimensioned, dtype)
        else:
            zero_dim = dtype if zero_dim is None else promote_types(zero_dim, dtype)
    return _combine(dimensioned, _combine(zero_dim, numbers))


def _array_dtype(dtype: Any) -> numpy.dtype:
    """Arrays follow ``tinydl.tensor``'s rule: float arrays become float32."""
    return _FLOAT if dtype.kind == "f" else dtype


def promote(inputs: Sequence[Any], mode: str) -> tuple:
    """``inputs`` as Tensors of one dtype (the result type; float32 for integers in "float"
    mode), numbers and arrays lifted onto the first tensor's device."""
    first = inputs[0]
    if len(inputs) == 1 and isinstance(first, Tensor):  # fast paths: the common cases
        if mode == "common" or first.data.dtype.kind in "fc":
            return inputs
    elif len(inputs) == 2 and isinstance(first, Tensor) and isinstance(inputs[1], Tensor) and \
            first.data.dtype == inputs[1].data.dtype and (
                mode == "common" or first.data.dtype.kind in "fc"):
        return inputs
    dtype = result_type(*inputs)
    if mode == "float" and dtype.kind not in "fc":
        dtype = _FLOAT
    like = next((t for t in inputs if isinstance(t, Tensor)), None)
    xp = numpy if like is None else like.xp
    promoted = []
    for value in inputs:
        if isinstance(value, Tensor):
            if value.data.dtype != dtype:
                value = value.astype(dtype)
        else:
            array = value if backend.get_array_module(value) is not numpy else numpy.asarray(value)
            if like is not None and backend.get_array_module(array) is not xp:
                array = backend.to_device(array, like.device)
            value = Tensor._from_op(array.astype(dtype, copy=False), None, 0)
        promoted.append(value)
    return tuple(promoted)
